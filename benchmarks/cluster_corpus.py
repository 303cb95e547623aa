"""The corpus stage on the demo inputs (configs/demo.yaml, 2 tasks) on three executors, one after the
other, each with fresh store and work folders: local (2 workers), the one-node Slurm cluster
(deploy/slurm/ci_cluster.sh, 2 CPUs; started and stopped here when not up, as root) and a two-node
Ray cluster on this host (head + `ray start --address` worker, 1 CPU each). Prints wall times and
whether each output equals the local one (files by sha256, stats.json by its counts).

    python benchmarks/cluster_corpus.py [--skip slurm] [--skip ray]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llammas_core.corpus.stage import run_corpus  # noqa: E402
from llammas_core.store import LocalStore  # noqa: E402
from tests.cluster_fixtures import CI_CLUSTER, RayTwoNodes, _slurm_up  # noqa: E402
from tests.test_cluster_executors import corpus_cfg, same_corpus  # noqa: E402


def timed(root: Path, name: str, executor: dict | None) -> tuple[float, dict]:
    t0 = time.monotonic()
    result = run_corpus(LocalStore(root / name / "store"), corpus_cfg(root, executor, buckets=20), root / name / "work",
                        log=lambda _: None)
    return time.monotonic() - t0, result.manifest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip", action="append", default=[], choices=["slurm", "ray"])
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="llammas-cluster-bench-"))
    rows = []
    seconds, reference = timed(root, "local", None)
    rows.append(("local (2 workers)", seconds, True))
    if "slurm" not in args.skip:
        started = False
        if not _slurm_up():
            subprocess.run(["bash", str(CI_CLUSTER), "start"], check=True)
            started = True
        try:
            slurm = {"kind": "slurm", "slurm": {"partition": "debug", "time": "00:30:00", "poll_seconds": 0.5}}
            seconds, m = timed(root, "slurm", slurm)
            rows.append(("slurm (1 node, 2 CPUs)", seconds, same_corpus(m, reference)))
        finally:
            if started:
                subprocess.run(["bash", str(CI_CLUSTER), "stop"], check=False)
    if "ray" not in args.skip:
        import os

        os.environ.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
        ray_root = Path(tempfile.mkdtemp(prefix="llammas-ray-"))
        cluster = RayTwoNodes(ray_root / "ray")
        try:
            up = cluster.start()
            cluster.connect()
            print(f"ray: head + worker up in {up:.1f} s, {cluster.alive_nodes()} nodes")
            seconds, m = timed(root, "ray", {"kind": "ray", "ray_address": cluster.address, "workers": -1})
            rows.append(("ray (2 nodes, 1 CPU each)", seconds, same_corpus(m, reference)))
        finally:
            import ray

            ray.shutdown()
            cluster.stop()
            shutil.rmtree(ray_root, ignore_errors=True)
    print(f"\n{'executor':28} {'wall s':>8}  same output as local")
    for name, s, same in rows:
        print(f"{name:28} {s:8.1f}  {same}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
