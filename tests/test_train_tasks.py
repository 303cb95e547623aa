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


def test_loss_artifact_keys_name_the_experiment(prefect_api, tmp_path):
    """Two experiments' CPT loss curves are two artifacts (`cpt-<name>-loss`), not one key that the second
    overwrites; the PNG read from the committed stage is inlined."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from llammas_core.config import StoreConfig
    from tasks.train import publish_loss_plot

    store = StoreConfig(uri=f"file://{tmp_path}/store", work_dir=str(tmp_path / "work"))
    png = b"\x89PNG\r\n\x1a\n" + b"loss curve"
    for stage_id in ("cpt/aaa", "cpt/bbb"):
        (tmp_path / "store" / stage_id).mkdir(parents=True)
        (tmp_path / "store" / stage_id / "loss.png").write_bytes(png)

    @flow
    def publish():
        for stage_id, name in (("cpt/aaa", "llammas-et"), ("cpt/bbb", "x-llama-et")):
            publish_loss_plot(store, {"id": stage_id, "stage": "cpt", "files": [{"path": "loss.png", "bytes": len(png)}]},
                              name)

    publish()
    keys = ["cpt-llammas-et-loss", "cpt-x-llama-et-loss"]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    assert sorted(a.key for a in found) == keys
    import base64

    assert all(base64.b64encode(png).decode() in a.data for a in found)
