"""A training stage as an sbatch job on a real one-node Slurm cluster (torchrun inside, 2 processes,
gloo on CPU), driven by the Prefect `cpt` task: the job log streamed into the task log, a flow
SIGKILLed mid-job and run again re-attaches to the running job (one job, never two), a cancelled run
(SIGTERM to the flow process, what a Prefect worker sends on cancel) scancels its job, and a failed
job fails the stage with the job's state and exit code. Skips with one line without a cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llammas_core.train.config import TrainConfig
from tests.cluster_fixtures import jobs_named, slurm_cluster  # noqa: F401  (a fixture)
from tests.test_tokenize import cfg_for, kit  # noqa: F401  (a fixture: tiny base + corpora)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

FLOW = """
import sys
from pathlib import Path
from prefect import flow
from llammas_core.config import StoreConfig
from llammas_core.train.config import TrainConfig
from tasks.train import cpt_task

@flow(name="slurm-cpt")
def run(store: StoreConfig, train: TrainConfig, tokenized: str) -> str:
    return cpt_task(store, train, tokenized)

if __name__ == "__main__":
    store = StoreConfig.model_validate_json(Path(sys.argv[1]).read_text())
    train = TrainConfig.model_validate_json(Path(sys.argv[2]).read_text())
    print("RESULT", run(store, train, sys.argv[3]))
"""


@pytest.fixture(scope="module")
def api_url(prefect_api):  # noqa: F811
    """The throwaway Prefect server's URL, for the flow subprocesses."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@pytest.fixture(scope="module")
def setup(kit, tmp_path_factory):  # noqa: F811
    from llammas_core.config import StoreConfig
    from llammas_core.train.tokenize import run_tokenize

    root = tmp_path_factory.mktemp("slurm-train")
    store = StoreConfig(uri=(root / "store").as_uri(), work_dir=str(root / "work"))
    tokenized = run_tokenize(store.open(), cfg_for(kit), store.work_path, print).manifest_uri
    return {"root": root, "store": store, "tokenized": tokenized}


def slurm_train(kit, partition: str, **cpt) -> TrainConfig:  # noqa: F811
    cfg = cfg_for(kit, **cpt)
    data = cfg.model_dump()
    data["launch"] = {"launcher": "torchrun", "nproc_per_node": 2,
                      "slurm": {"partition": partition, "cpus_per_task": 2, "time": "00:10:00", "poll_seconds": 0.5}}
    return TrainConfig.model_validate(data)


def start_flow(setup, train: TrainConfig, api_url: str, name: str) -> subprocess.Popen:
    root = setup["root"]
    (root / f"{name}-store.json").write_text(setup["store"].model_dump_json())
    (root / f"{name}-train.json").write_text(train.model_dump_json())
    (root / "flow.py").write_text(FLOW)
    env = {**os.environ, "PREFECT_API_URL": api_url, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(root / "flow.py"), str(root / f"{name}-store.json"),
                             str(root / f"{name}-train.json"), setup["tokenized"]], cwd=REPO, env=env,
                            start_new_session=True, stdout=open(root / f"{name}.log", "w"), stderr=subprocess.STDOUT)


def wait_running(work: Path, skip: tuple[str, ...] = (), timeout: float = 180) -> str:
    """The id of a stage's job (not in `skip`) once Slurm runs it and its log has output."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for record in work.glob("cpt/*/slurm/job.json"):
            job_id = json.loads(record.read_text())["job_id"]
            log = record.parent / f"{job_id}.out"
            state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout
            if job_id not in skip and state.strip() == "RUNNING" and log.exists() and log.stat().st_size:
                return job_id
        time.sleep(0.3)
    raise AssertionError("the training job never ran")


def test_sigkilled_flow_reattaches_to_its_job_and_logs_stream(slurm_cluster, kit, setup, api_url):  # noqa: F811
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, TaskRunFilter, TaskRunFilterName

    from llammas_core.stage import read_manifest

    train = slurm_train(kit, slurm_cluster, max_steps=24)
    first = start_flow(setup, train, api_url, "first")
    job_id = wait_running(setup["store"].work_path)
    os.killpg(first.pid, signal.SIGKILL)  # the flow and its Prefect task die; the job does not
    first.wait()

    again = start_flow(setup, train, api_url, "again")
    assert again.wait(timeout=300) == 0, (setup["root"] / "again.log").read_text()[-3000:]
    uri = (setup["root"] / "again.log").read_text().split("RESULT ")[-1].strip()
    m = read_manifest(uri)
    assert m["metrics"]["world_size"] == 2 and m["metrics"]["steps"] == 24
    # one job for the stage, and the committed stage holds its script
    name = f"llammas-cpt-{m['key']}"
    assert [j["JobId"] for j in jobs_named(name)] == [job_id]
    assert "job.sbatch" in [f["path"] for f in m["files"]]
    script = (Path(setup["store"].work_path) / "cpt" / m["key"] / "out" / "job.sbatch").read_text()
    assert "torch.distributed.run" in script and "--nproc_per_node=2" in script and "#SBATCH --cpus-per-task=2" in script

    with get_client(sync_client=True) as client:  # the job's log, in the rerun's task log
        runs = client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=[f"cpt-{train.name}"])))
        messages = [log.message for r in runs for log in client.read_logs(LogFilter(task_run_id={"any_": [r.id]}))]
    assert any(f"re-attaching to job {job_id}" in msg for msg in messages), messages[:20]
    assert any("[cpt] step 24/24" in msg for msg in messages)
    assert any(f"[slurm] job {job_id} on" in msg for msg in messages)  # the job script's own first line


def test_cancelled_flow_scancels_its_job(slurm_cluster, kit, setup, api_url):  # noqa: F811
    train = slurm_train(kit, slurm_cluster, max_steps=400)  # another stage (key), long enough to cancel
    earlier = tuple(json.loads(p.read_text())["job_id"] for p in setup["store"].work_path.glob("cpt/*/slurm/job.json"))
    proc = start_flow(setup, train, api_url, "cancel")
    job_id = wait_running(setup["store"].work_path, skip=earlier)
    proc.send_signal(signal.SIGTERM)  # what Prefect's worker/runner does to a flow run it cancels
    assert proc.wait(timeout=60) != 0
    deadline = time.time() + 30
    while time.time() < deadline:
        state = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True).stdout
        if "JobState=CANCELLED" in state:
            break
        time.sleep(0.3)
    assert "JobState=CANCELLED" in state, state
    assert f"scancel {job_id}" in (setup["root"] / "cancel.log").read_text()


def test_failed_job_fails_with_its_state_and_exit_code(slurm_cluster, kit, tmp_path):  # noqa: F811
    from llammas_core.train.launch import TrainerCrashed
    from llammas_core.train.slurm import launch_sbatch

    train = slurm_train(kit, slurm_cluster)
    train.launch.slurm.setup = "echo 'cannot find the GPU driver' >&2; exit 3"
    (tmp_path / "cfg.json").write_text(train.model_dump_json())
    (tmp_path / "out").mkdir()
    lines = []
    with pytest.raises(TrainerCrashed, match=r"slurm job \d+ FAILED \(exit code 3:0, reason NonZeroExitCode\)") as e:
        launch_sbatch(tmp_path / "cfg.json", "cpt", tmp_path / "out", train.launch, on_line=lines.append)
    assert "cannot find the GPU driver" in str(e.value) and "cannot find the GPU driver" in lines
    # a new attempt submits a new job (the recorded one failed); a trainer's typed error is raised as such
    train.launch.slurm.setup = ("python -c \"import json; json.dump({'type': 'ConfigError', 'message': 'bad lr'}, "
                                f"open('{tmp_path / 'out' / 'error.json'}', 'w'))\"; exit 2")
    from llammas_core.errors import ConfigError

    with pytest.raises(ConfigError, match="bad lr"):
        launch_sbatch(tmp_path / "cfg.json", "cpt", tmp_path / "out", train.launch, on_line=lines.append)
    assert any("ended FAILED; submitting a new one" in line for line in lines)
