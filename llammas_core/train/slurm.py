"""A training stage as one `sbatch` job: the same trainer command (torchrun inside) on a compute node.

The orchestrator (a Prefect task on a login or service node) only submits and follows:

- the job script is written to `<out>/job.sbatch`, so it is committed with the stage and a user can
  read exactly how it ran; the job's output goes to `<work>/slurm/<job id>.out` and is streamed line by
  line to `on_line` (the Prefect task's log) while the job runs;
- the job id is recorded in `<work>/slurm/job.json` (the stage's scratch folder, which the stage lease
  guards). An attempt that finds a recorded job still queued or running re-attaches to it instead of
  submitting another one; a job that finished is not run again: success is reused, a failure is
  raised as the trainer's typed error or the job's state and exit code;
- an interrupted follower (a cancelled Prefect run gets SIGTERM; Ctrl-C) `scancel`s the job. A
  follower killed outright (SIGKILL) cannot; the job runs on and the next attempt re-attaches to it.

Slurm keeps a finished job in `scontrol` for MinJobAge seconds only (no accounting database is
assumed), so the job script also writes its exit code to `<work>/slurm/<job id>.rc`.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from llammas_core.errors import ConfigError, TransientError
from llammas_core.train.launch import (
    ERROR_FILE,
    ERROR_TYPES,
    EXIT_DEADLINE,
    REPO_ROOT,
    TrainerCrashed,
    TrainerFailed,
    WallClockLimit,
    build_command,
    read_error_file,
    trainer_env,
)

SCRIPT = "job.sbatch"
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING",
          "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "STOPPED"}
LLAMMAS_ENV = ("PYTHONPATH", "PYTHONUNBUFFERED", "TOKENIZERS_PARALLELISM", "HF_HUB_DISABLE_TELEMETRY")


@dataclass
class JobState:
    state: str  # PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ..., or UNKNOWN (purged, no rc file)
    exit_code: str = ""  # "<code>:<signal>" as Slurm reports it
    reason: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def slurm_time(seconds: int) -> str:
    """Seconds as Slurm's [days-]hours:minutes:seconds, rounded up to a minute."""
    minutes = math.ceil(seconds / 60)
    return f"{minutes // 1440}-{minutes % 1440 // 60:02d}:{minutes % 60:02d}:00"


def job_script(cmd: list[str], launch_cfg, job_dir: Path, name: str, env: dict[str, str]) -> str:
    """The sbatch script: directives, the environment the trainer needs, the command, the exit code file."""
    s = launch_cfg.slurm
    limit = launch_cfg.wall_clock_limit_seconds
    directives = {"job-name": name, "partition": s.partition, "nodes": 1, "ntasks": 1,
                  "cpus-per-task": s.cpus_per_task, "time": s.time or (slurm_time(limit) if limit else None),
                  "mem": s.mem, "gres": s.gres, "output": str(job_dir / "%j.out"), "open-mode": "append"}
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH --{k}={v}" for k, v in directives.items() if v not in (None, "")]
    lines += [f"#SBATCH {a}" for a in s.sbatch_args]
    lines += [f"# written by llammas on {socket.gethostname()}: {name}", "set -o pipefail",
              f"cd {shlex.quote(str(REPO_ROOT))}"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    if limit is not None:  # the soft deadline counts from the job's start, not from its submission
        soft = max(limit - launch_cfg.checkpoint_margin_seconds, limit * 0.5)
        lines.append(f"export LLAMMAS_DEADLINE=$(( $(date +%s) + {int(soft)} ))")
    if s.setup:
        lines.append(s.setup)
    lines += ['echo "[slurm] job $SLURM_JOB_ID on $(hostname): $SLURM_JOB_CPUS_PER_NODE CPUs, '
              'GPUs: ${CUDA_VISIBLE_DEVICES:-none}"',
              shlex.join(cmd), "rc=$?",
              f'echo "$rc" > {shlex.quote(str(job_dir))}/"$SLURM_JOB_ID".rc', "exit $rc", ""]
    return "\n".join(lines)


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True)


def submit(script: Path) -> str:
    out = _run(["sbatch", "--parsable", str(script)])
    if out.returncode != 0:
        raise ConfigError(f"sbatch refused {script}: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip().split(";")[0]


def query(job_id: str, job_dir: Path) -> JobState:
    """The job's state from `scontrol`, or from its exit code file once Slurm has forgotten it."""
    out = _run(["scontrol", "show", "job", "-o", job_id])
    if out.returncode == 0 and out.stdout.strip():
        fields = dict(re.findall(r"(\w+)=(\S*)", out.stdout))
        return JobState(fields.get("JobState", "UNKNOWN"), fields.get("ExitCode", ""), fields.get("Reason", ""))
    if "Invalid job id" not in out.stderr:
        raise TransientError(f"scontrol show job {job_id} failed: {out.stderr.strip()}")
    rc_file = job_dir / f"{job_id}.rc"
    if rc_file.is_file():
        rc = rc_file.read_text().strip()
        return JobState("COMPLETED" if rc == "0" else "FAILED", f"{rc}:0", "from the job's exit code file")
    return JobState("UNKNOWN", reason="Slurm no longer knows the job and it left no exit code")


class LogFollower:
    """Streams the complete lines the job appended to its output file since the last call."""

    def __init__(self, path: Path, on_line: Callable[[str], None]):
        self.path, self.on_line, self.offset, self.tail = path, on_line, 0, []

    def __call__(self, final: bool = False) -> None:
        if not self.path.is_file():
            return
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = len(data) if final else data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].decode(errors="replace").splitlines():
            self.tail = (self.tail + [line])[-60:]
            try:
                self.on_line(line)
            except Exception:  # a logging failure must not stop following the job
                pass


def follow(job_id: str, job_dir: Path, on_line: Callable[[str], None], poll: float) -> tuple[JobState, list[str]]:
    """Stream the job's log until it left the queue; scancel it when interrupted. Returns the final
    state and the last lines of the log."""
    log = LogFollower(job_dir / f"{job_id}.out", on_line)
    state = query(job_id, job_dir)
    try:
        while state.active:
            log()
            time.sleep(poll)
            state = query(job_id, job_dir)
    except BaseException:  # a cancelled Prefect run (SIGTERM -> TerminationSignal), Ctrl-C, a timeout
        _run(["scancel", job_id])
        on_line(f"[slurm] interrupted: scancel {job_id}")
        raise
    time.sleep(0.2)  # the last lines may land after the state change
    log(final=True)
    return state, log.tail


def raise_for(state: JobState, tail: list[str], job_id: str, output_dir: Path) -> None:
    """Nothing for a completed job; else the trainer's typed error, or the job's state as the reason."""
    text = "\n".join(tail)
    if state.state == "COMPLETED" and state.exit_code.split(":")[0] in ("0", ""):
        return
    err = read_error_file(output_dir)
    if err is not None:  # as launch.run_command: an unknown type is deterministic unless marked transient
        cls = ERROR_TYPES.get(err.get("type", ""), TrainerCrashed if err.get("transient") else TrainerFailed)
        raise cls(f"{err.get('message', 'trainer failed')} (slurm job {job_id})\n--- job output (tail) ---\n{text}")
    how = f"slurm job {job_id} {state.state} (exit code {state.exit_code or '?'}, reason {state.reason or 'none'})"
    if state.state in ("TIMEOUT", "DEADLINE") or state.exit_code.split(":")[0] == str(EXIT_DEADLINE):
        raise WallClockLimit(f"{how}: a retry resumes from the last complete checkpoint\n{text}")
    raise TrainerCrashed(f"{how}\n--- job output (tail) ---\n{text}")


def launch_sbatch(config_path: str | Path, phase: str, output_dir: str | Path, launch_cfg,
                  extra_args: list[str] | None = None, on_line: Callable[[str], None] = print,
                  job_dir: str | Path | None = None) -> int:
    """Run the trainer for one phase as a Slurm job (see the module docstring) and wait for it.

    `job_dir` (default `<config_path's folder>/slurm`) must be stable across attempts of the stage."""
    output_dir = Path(output_dir)
    job_dir = Path(job_dir) if job_dir else Path(config_path).parent / "slurm"
    job_dir.mkdir(parents=True, exist_ok=True)
    record = job_dir / "job.json"
    poll = launch_cfg.slurm.poll_seconds

    if record.is_file():
        previous = json.loads(record.read_text())["job_id"]
        state = query(previous, job_dir)
        if state.active or state.state == "COMPLETED":
            on_line(f"[slurm] re-attaching to job {previous} ({state.state}) submitted by an earlier attempt")
            raise_for(*follow(previous, job_dir, on_line, poll), previous, output_dir)
            return 0
        on_line(f"[slurm] job {previous} of an earlier attempt ended {state.state}; submitting a new one")

    args = ["--config", str(config_path), "--phase", phase, "--output", str(output_dir), *(extra_args or [])]
    python = launch_cfg.slurm.python or sys.executable
    cmd = build_command(launch_cfg.launcher, launch_cfg.nproc_per_node, args, launch_cfg.accelerate_config_file,
                        python=python)
    env = {k: v for k, v in trainer_env(launch_cfg.env).items() if k in LLAMMAS_ENV or k in launch_cfg.env}
    (output_dir / ERROR_FILE).unlink(missing_ok=True)  # an earlier attempt's, not this job's
    script = output_dir / SCRIPT
    script.write_text(job_script(cmd, launch_cfg, job_dir, f"llammas-{phase}-{output_dir.parent.name}", env))
    job_id = submit(script)
    record.write_text(json.dumps({"job_id": job_id, "script": str(script), "submitted": time.time(),
                                  "host": socket.gethostname()}))
    on_line(f"[slurm] submitted job {job_id} ({script}); log {job_dir / (job_id + '.out')}")
    raise_for(*follow(job_id, job_dir, on_line, poll), job_id, output_dir)
    return 0
