"""The corpus and tokenize stages on real clusters on this host give the local executor's output, file
for file: a one-node Slurm cluster (datatrove's SlurmPipelineExecutor, one array job per step group)
and a two-node Ray cluster (a head and a `ray start --address` worker), whose worker node is killed
mid-stage. Each cluster skips with one line where it cannot start. Wall times are printed (-s)."""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from llammas_core.corpus import ray_placement
from llammas_core.corpus.config import ExecutorConfig
from llammas_core.corpus.stage import run_corpus
from llammas_core.errors import LlammasError
from llammas_core.store import LocalStore
from llammas_core.train.tokenize import run_tokenize
from tests.cluster_fixtures import RayTwoNodes, jobs_named, slurm_cluster  # noqa: F401  (a fixture)
from tests.test_corpus_flow import demo_config
from tests.test_tokenize import cfg_for, kit  # noqa: F401  (a fixture: tiny base + three corpus files)

pytestmark = pytest.mark.slow


def files(manifest: dict) -> dict[str, str]:
    """Every committed file's sha256, but stats.json (it holds timings); its counts are compared by `counts`."""
    return {f["path"]: f["sha256"] for f in manifest["files"] if f["path"] != "stats.json"}


def counts(manifest: dict) -> tuple:
    steps = [{k: v for k, v in s.items() if k != "seconds"} for s in manifest["steps"]]
    return manifest["records"], manifest["removed"], steps


def same_corpus(a: dict, b: dict) -> bool:
    return a["key"] == b["key"] and files(a) == files(b) and counts(a) == counts(b)


def corpus_cfg(tmp: Path, executor: dict | None = None, buckets: int = 4):
    """configs/demo.yaml's corpus section, all 8 step groups; MinHash with `buckets` buckets (the demo's
    20 are 20 array tasks on Slurm, each a Python start-up: the tests use 4, the benchmark 20)."""
    cfg = demo_config(tmp)
    # a generous extraction timeout: a loaded machine must not turn into removed documents on one side only
    cfg = cfg.model_copy(update={"extract": cfg.extract.model_copy(update={"timeout_seconds": 60.0}),
                                 "dedup": cfg.dedup.model_copy(update={"num_buckets": buckets})})
    if executor:
        cfg = cfg.model_copy(update={"executor": ExecutorConfig.model_validate({**cfg.executor.model_dump(), **executor})})
    return cfg


@pytest.fixture(scope="module")
def local(kit, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("local")
    t0 = time.monotonic()
    corpus = run_corpus(LocalStore(root / "store"), corpus_cfg(root), root / "work")
    seconds = time.monotonic() - t0
    print(f"\ncorpus stage, local executor (2 workers): {seconds:.1f} s")
    tokens = run_tokenize(LocalStore(root / "store"), cfg_for(kit), root / "work", print,
                          ExecutorConfig(kind="local", workers=2))
    return {"corpus": corpus.manifest, "tokenize": tokens.manifest}


def test_slurm_runs_corpus_and_tokenize_like_local(slurm_cluster, kit, local, tmp_path):  # noqa: F811
    slurm = {"kind": "slurm", "slurm": {"partition": slurm_cluster, "time": "00:10:00", "poll_seconds": 0.5}}
    t0 = time.monotonic()
    corpus = run_corpus(LocalStore(tmp_path / "store"), corpus_cfg(tmp_path, slurm), tmp_path / "work")
    print(f"\ncorpus stage, Slurm executor (1 node, 2 CPUs): {time.monotonic() - t0:.1f} s")
    assert same_corpus(corpus.manifest, local["corpus"])  # where it ran is not part of its identity
    logs = tmp_path / "work" / "corpus" / corpus.manifest["key"] / "logs"
    for group in ("filter", "minhash_signatures", "write"):  # one array job per step group, each COMPLETED
        job_id = (logs / group / "slurm_job_id").read_text()
        states = {j["JobState"] for j in jobs_named(f"llammas-{group}") if j["ArrayJobId"] == job_id}
        assert states == {"COMPLETED"}, (group, states)
        assert "srun" in (logs / group / "launch_script.slurm").read_text()

    tokens = run_tokenize(LocalStore(tmp_path / "store"), cfg_for(kit), tmp_path / "work", print,
                          ExecutorConfig.model_validate(slurm))
    assert tokens.manifest["key"] == local["tokenize"]["key"] and files(tokens.manifest) == files(local["tokenize"])
    assert tokens.manifest["stats"]["executor"] == "slurm"


@pytest.fixture(scope="module")
def ray_two_nodes(tmp_path_factory):
    pytest.importorskip("ray")
    import ray

    if ray.is_initialized():
        ray.shutdown()
    mp = pytest.MonkeyPatch()
    # a loopback test cluster: no token (a real cluster keeps Ray's token auth, see deploy/README.md)
    mp.setenv("RAY_AUTH_MODE", "disabled")
    mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
    mp.setenv("RAY_health_check_period_ms", "1000")  # a dead node is noticed in ~3 s, not ~30 s
    mp.setenv("RAY_health_check_failure_threshold", "3")
    root = Path(tempfile.mkdtemp(prefix="llammas-ray-"))  # short: Ray's socket paths must stay < 108 chars
    cluster = RayTwoNodes(root / "ray")
    try:
        seconds = cluster.start()
        cluster.connect()
    except Exception as e:  # noqa: BLE001  (any reason the cluster cannot start here)
        cluster.stop()
        mp.undo()
        pytest.skip(f"two-node Ray tests skipped: the cluster did not start: {str(e)[-300:]}")
    print(f"\nRay head + worker node up in {seconds:.1f} s")
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.stop()
        mp.undo()
        shutil.rmtree(root, ignore_errors=True)


class _Hung(Exception):
    pass


def test_ray_two_nodes_tokenize_and_corpus_survive_a_lost_worker(ray_two_nodes, kit, local, tmp_path):  # noqa: F811
    """Bounded. Reproduced 2026-12-06 after another in-process ray.init/shutdown in the same pytest process: the
    first submissions' RankWorker actors died before starting ("all references to the actor were removed");
    datatrove 0.10.1 then waited forever on their futures while their CREATED placement groups held every CPU.
    `ray_placement` closes both (the failed submission removes its group and resolves its future; the stage
    runs the missing ranks once more), so that order no longer hangs. In it the retried actors still die, the
    root cause (a second Ray session in one driver process) is not found, and the stage fails with a clear
    error: xfail there, with the cluster state printed. In CI's order (this module first) it must pass."""
    def on_alarm(signum, frame):
        raise _Hung()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(420)
    try:
        _two_nodes(ray_two_nodes, kit, local, tmp_path)
    except _Hung:
        _print_ray_state()
        pytest.fail("two-node Ray stages did not finish in 420 s: a task that never starts is waited on again")
    except LlammasError as e:
        if ray_placement.failed_submissions() == 0:  # not the known symptom: a real failure
            raise
        _print_ray_state()
        pytest.xfail(f"actors died before starting after an earlier in-process Ray session: {str(e)[:300]}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _print_ray_state() -> None:
    """What a hung step waits for: nodes with their total/available resources, placement groups not yet
    placed (a PENDING one asks for more CPU or memory than any live node has free), actors not alive."""
    import ray

    try:
        for n in ray.nodes():
            print(f"node {n['NodeID'][:8]} alive={n['Alive']} resources={n['Resources']}")
        print(f"available: {ray.available_resources()}")
        for pg_id, info in ray.util.placement_group_table().items():
            if info["state"] != "REMOVED":
                print(f"placement group {pg_id[:8]}: {info['state']} bundles={info['bundles']}")
        from ray.util.state import list_actors

        for a in list_actors(filters=[("state", "!=", "ALIVE")], limit=50):
            print(f"actor {a.class_name} {a.state} node={str(a.node_id)[:8]}")
    except Exception as e:  # noqa: BLE001  (diagnostics only)
        print(f"ray state not read: {e}")


def _two_nodes(ray_two_nodes, kit, local, tmp_path):
    import ray
    from datatrove.utils.logging import logger

    executor = {"kind": "ray", "ray_address": ray_two_nodes.address, "workers": -1}
    tokens = run_tokenize(LocalStore(tmp_path / "store"), cfg_for(kit), tmp_path / "work", print,
                          ExecutorConfig.model_validate(executor))
    assert tokens.manifest["key"] == local["tokenize"]["key"] and files(tokens.manifest) == files(local["tokenize"])
    assert ray.is_initialized() and ray_two_nodes.alive_nodes() == 2
    assert {r for n in ray.nodes() for r in n["Resources"]} >= {"head", "worker"}

    # the corpus stage; the worker node is SIGKILLed as soon as it hosts a task (the filter group, the longest)
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    work = tmp_path / "work"

    def kill_when_the_worker_runs_a_task():
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if any(work.glob("corpus/*/logs")) and ray_two_nodes.worker_hosts_an_actor("RankWorker"):
                ray_two_nodes.kill_worker()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_the_worker_runs_a_task, daemon=True)
    killer.start()
    t0 = time.monotonic()
    try:
        corpus = run_corpus(LocalStore(tmp_path / "store"), corpus_cfg(tmp_path, executor), work)
        how = "datatrove's retries (and run_pipeline's second pass)"
    except Exception as e:  # noqa: BLE001  (a task out of retries: the rerun finishes the stage)
        print(f"first attempt failed after the worker was killed: {str(e)[:200]}")
        corpus = run_corpus(LocalStore(tmp_path / "store"), corpus_cfg(tmp_path, executor), work)
        how = "a rerun"
    finally:
        logger.remove(sink)
    print(f"\ncorpus stage, two-node Ray, worker killed mid-stage, finished by {how}: {time.monotonic() - t0:.1f} s")
    killer.join(timeout=5)
    assert ray_two_nodes.alive_nodes() == 1, "the worker node was not killed"
    assert same_corpus(corpus.manifest, local["corpus"])
    signs = ("retriable", "RayActorError", "preemption", "placement group future", "a Ray node was lost")
    lost = [m.strip() for m in messages if any(s in m for s in signs)]  # (loguru messages: several lines)
    print("what the lost worker left in the log:\n" + "\n".join(lost))
    if not lost and how != "a rerun":  # on an idle machine the write task can finish before the SIGKILL lands
        pytest.skip("the worker's task finished before the SIGKILL landed: output identical with the node dead, "
                    "but the lost-task path was not exercised this run")
