"""Real clusters on this host for the tests: a one-node Slurm (deploy/slurm/ci_cluster.sh) and a
two-node Ray (a head and a `ray start --address` worker). Each fixture skips with one line where
the cluster cannot start, and stops what it started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CI_CLUSTER = REPO / "deploy" / "slurm" / "ci_cluster.sh"


def _slurm_up() -> bool:
    if not shutil.which("sinfo") or subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode:
        return False  # (sinfo would retry for ~10 s without a controller)
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout.split() for s in ("idle", "mix", "alloc"))


@pytest.fixture(scope="session")
def slurm_cluster():
    """A Slurm cluster with partition `debug`: the one .ci/run started, or one started here (as root,
    with slurm-wlm installed) and stopped at the end of the session."""
    if _slurm_up():
        yield "debug"
        return
    if not shutil.which("slurmctld"):
        pytest.skip("Slurm tests skipped: slurm-wlm not installed (deploy/slurm/ci_cluster.sh install)")
    if os.geteuid() != 0:
        pytest.skip("Slurm tests skipped: starting slurmctld/slurmd needs root")
    t0 = time.monotonic()
    started = subprocess.run(["bash", str(CI_CLUSTER), "start"], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.skip(f"Slurm tests skipped: the cluster did not start: {(started.stdout + started.stderr).strip()[-300:]}")
    print(f"slurm cluster started in {time.monotonic() - t0:.1f} s")
    try:
        yield "debug"
    finally:
        subprocess.run(["bash", str(CI_CLUSTER), "stop"], capture_output=True)


def jobs_named(name: str) -> list[dict]:
    """Every job Slurm still knows (running or finished within MinJobAge) with this name."""
    import re

    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True).stdout
    jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.strip()]
    return [j for j in jobs if j.get("JobName") == name]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayTwoNodes:
    """`ray start --head` plus a worker node joined with `ray start --address`, each with one CPU and a
    custom resource (`head`, `worker`). Each node runs `--block` in its own process group, so the worker
    alone can be killed, and stopping touches no other Ray on this host (`ray stop` would)."""

    def __init__(self, root: Path, head_cpus: int = 1, worker_cpus: int = 1):
        self.root, self.port = root, free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.ray = str(Path(sys.executable).parent / "ray")
        self.head_cpus, self.worker_cpus = head_cpus, worker_cpus
        self.head: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def _node(self, name: str, *args: str) -> subprocess.Popen:
        common = ["--node-ip-address=127.0.0.1", "--num-gpus=0", "--object-store-memory=100000000",
                  f"--temp-dir={self.root}", "--block"]
        log = self.root.parent / f"{self.root.name}-{name}.log"
        proc = subprocess.Popen([self.ray, "start", *args, *common], env=os.environ, start_new_session=True,
                                stdout=open(log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray {name} node did not start: {log.read_text()[-500:]}")
            time.sleep(0.3)
        return proc

    def start(self) -> float:
        t0 = time.monotonic()
        self.head = self._node("head", "--head", f"--port={self.port}", f"--num-cpus={self.head_cpus}",
                               '--resources={"head": 1}', "--include-dashboard=false", "--disable-usage-stats",
                               f"--ray-client-server-port={free_port()}")
        self.start_worker()
        return time.monotonic() - t0

    def start_worker(self) -> None:
        self.worker = self._node("worker", f"--address={self.address}", f"--num-cpus={self.worker_cpus}",
                                 '--resources={"worker": 1}')

    def connect(self) -> None:
        import ray

        ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        deadline = time.monotonic() + 60
        while self.alive_nodes() < 2 and time.monotonic() < deadline:
            time.sleep(0.3)

    @staticmethod
    def alive_nodes() -> int:
        import ray

        return sum(1 for n in ray.nodes() if n["Alive"])

    @staticmethod
    def _kill(proc: subprocess.Popen | None, grace: float) -> None:
        """SIGTERM the node's process group, then SIGKILL whatever is left of it (children outlive `ray start`)."""
        import signal

        if proc is None:
            return
        if grace:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=grace)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def worker_hosts_an_actor(self, name: str) -> bool:
        """Whether a Ray actor `name` (process title `ray::<name>...`) lives on the worker node now."""
        if self.worker is None:
            return False
        out = subprocess.run(["ps", "-eo", "pid=,ppid=,pgid=,args="], capture_output=True, text=True).stdout
        procs = {int(f[0]): (int(f[1]), int(f[2]), f[3] if len(f) > 3 else "")
                 for f in (line.split(None, 3) for line in out.splitlines() if line.strip())}
        # Ray's worker processes have process groups of their own: theirs is the node whose raylet started them
        return any(f"ray::{name}" in args and procs.get(ppid, (0, 0, ""))[1] == self.worker.pid
                   for ppid, _, args in procs.values())

    def kill_worker(self) -> None:
        """SIGKILL the worker node's whole process group (raylet and its task workers): a lost machine."""
        self._kill(self.worker, grace=0)

    def stop(self) -> None:
        self._kill(self.worker, grace=0)
        self._kill(self.head, grace=3.0)
