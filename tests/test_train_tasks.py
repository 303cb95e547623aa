"""The training tasks' progress artifact: one per task run (a retry moves the first attempt's artifact,
it does not add one) and completed at 100 % at the end."""

from __future__ import annotations


def test_progress_artifact_reused_across_retries_and_completed(prefect_api):
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from tasks.train import StageProgress

    ids = []

    @task(retries=1, retry_delay_seconds=0)
    def training():
        progress = StageProgress("test-run-progress", "test: CPT steps")
        progress("[cpt] step 3/4 loss 1.0")
        ids.append(progress.artifact_id)
        if len(ids) == 1:
            raise RuntimeError("a crash the retry resumes from")
        progress.done()
        return str(progress.artifact_id)

    @flow
    def run():
        return training()

    assert run() == str(ids[0])
    assert len(ids) == 2 and ids[0] == ids[1]  # the retry found the first attempt's artifact
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["test-run-progress"])))
    assert len(found) == 1 and float(found[0].data) == 100.0
