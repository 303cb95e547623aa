"""Start the trainer as a subprocess, stream its output, enforce the wall-clock limit.

Training runs in its own process group (torchrun / accelerate launch / python -m), never in the
orchestrator's process: a Prefect timeout cannot interrupt blocking code, a killed worker must not
leave GPU processes behind, and CUDA state never leaks into the caller.

Protocol with the trainer (llammas_core.train.trainer):
- exit 0: done; `<output>/metrics.json` holds the final metrics.
- a typed failure writes `<output>/error.json` ({"type", "message", "transient"}) and exits 2: it is
  re-raised here as the same class (ConfigError, InputError, IntegrityError, NonFiniteLossError: never
  retried); a deterministic Python error (ValueError, KeyError, ...) or another untyped one is
  TrainerFailed, never retried either.
- exit 75 (EX_TEMPFAIL): the trainer saw the soft deadline (LLAMMAS_DEADLINE, set from
  wall_clock_limit_seconds - checkpoint_margin_seconds), saved a checkpoint and stopped:
  WallClockLimit (a TransientError: a retry resumes from that checkpoint).
- the hard limit kills the whole process group (SIGTERM, then SIGKILL): WallClockLimit too.
- anything else (a crash, a signal, an NCCL failure): TrainerCrashed (TransientError).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from llammas_core.errors import ConfigError, InputError, IntegrityError, LlammasError, TransientError

EXIT_TYPED_ERROR = 2
EXIT_DEADLINE = 75
ERROR_FILE = "error.json"
TRAINER_MODULE = "llammas_core.train.trainer"
REPO_ROOT = Path(__file__).resolve().parents[2]


class NonFiniteLossError(LlammasError):
    """The loss or gradient norm became NaN/inf: lower the LR, check the data, use bf16 (not fp16)."""


class TrainerFailed(LlammasError):
    """The trainer stopped on a deterministic error (a bug or bad input it did not type): never retried."""


class TrainerCrashed(TransientError):
    """The trainer process died without a typed error; a retry resumes from the last checkpoint."""


class WallClockLimit(TransientError):
    """The attempt reached its wall-clock limit; a retry resumes from the last checkpoint."""


ERROR_TYPES: dict[str, type[LlammasError]] = {
    "ConfigError": ConfigError,
    "InputError": InputError,
    "IntegrityError": IntegrityError,
    "TransientError": TransientError,
    "NonFiniteLossError": NonFiniteLossError,
    "WallClockLimit": WallClockLimit,
}


def build_command(
    launcher: str,
    nproc_per_node: int,
    trainer_args: list[str],
    accelerate_config_file: str | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The argv that starts `python -m llammas_core.train.trainer <trainer_args>` under a launcher."""
    if launcher == "torchrun":
        return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc_per_node}",
                "-m", TRAINER_MODULE, *trainer_args]
    if launcher == "accelerate":
        cmd = [python, "-m", "accelerate.commands.launch", "--num_processes", str(nproc_per_node)]
        if nproc_per_node > 1 and not accelerate_config_file:
            cmd.append("--multi_gpu")
        if accelerate_config_file:
            cmd += ["--config_file", accelerate_config_file]
        return cmd + ["-m", TRAINER_MODULE, *trainer_args]
    if launcher == "python":
        if nproc_per_node != 1:
            raise ConfigError(f"launcher 'python' runs one process; nproc_per_node={nproc_per_node} needs torchrun or accelerate")
        return [python, "-m", TRAINER_MODULE, *trainer_args]
    raise ConfigError(f"unknown launcher {launcher!r} (torchrun, accelerate, python)")


def trainer_env(extra: dict[str, str] | None = None, deadline: float | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if deadline is not None:
        env["LLAMMAS_DEADLINE"] = f"{deadline:.3f}"
    env.update(extra or {})
    return env


INTERRUPT_GRACE = 3.0  # a stopped run: the trainer gets this long after SIGTERM (it resumes from its last checkpoint)
_RUNNING: set[subprocess.Popen] = set()  # trainer process groups this process started and still waits for


def terminate_trainers(grace: float = INTERRUPT_GRACE) -> None:
    """SIGTERM (then SIGKILL) every trainer process group this process runs: called when a run is stopped."""
    for proc in list(_RUNNING):
        _kill_group(proc, grace)


def _kill_group(proc: subprocess.Popen, grace: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def read_error_file(output_dir: str | Path) -> dict | None:
    path = Path(output_dir) / ERROR_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_command(
    cmd: list[str],
    on_line: Callable[[str], None] = print,
    wall_clock_limit: float | None = None,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    output_dir: str | Path | None = None,
    tail_lines: int = 60,
) -> int:
    """Run `cmd` in a new process group, call on_line for each output line, enforce the limit.

    Returns 0 on success; raises a typed error otherwise (message includes the output tail).
    """
    if output_dir is not None:
        (Path(output_dir) / ERROR_FILE).unlink(missing_ok=True)
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
        start_new_session=True, text=True, bufsize=1, errors="replace",
    )

    def pump():
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            try:
                on_line(line)
            except Exception:  # a logging failure must not kill the training
                pass

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    _RUNNING.add(proc)
    timed_out = False
    try:
        while True:
            remaining = None if wall_clock_limit is None else wall_clock_limit - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                timed_out = True
                _kill_group(proc)
                break
            try:
                proc.wait(timeout=5.0 if remaining is None else max(0.1, min(5.0, remaining)))
                break
            except subprocess.TimeoutExpired:
                continue
    except BaseException:  # KeyboardInterrupt, Prefect's TerminationSignal, cancellation: stop it now
        _kill_group(proc, INTERRUPT_GRACE)
        raise
    finally:
        _kill_group(proc)
        _RUNNING.discard(proc)
        reader.join(timeout=10)
    rc = proc.returncode
    text_tail = "\n".join(tail)
    if timed_out:
        raise WallClockLimit(
            f"trainer killed at the wall-clock limit ({wall_clock_limit:.0f} s); a retry resumes from the last "
            f"complete checkpoint. Last output:\n{text_tail}")
    if rc == 0:
        return 0
    err = read_error_file(output_dir) if output_dir is not None else None
    if err is not None:  # typed: retried only when transient (an unknown type is a deterministic failure)
        cls = ERROR_TYPES.get(err.get("type", ""), TrainerCrashed if err.get("transient") else TrainerFailed)
        raise cls(f"{err.get('message', 'trainer failed')}\n--- trainer output (tail) ---\n{text_tail}")
    if rc == EXIT_DEADLINE:
        raise WallClockLimit(
            f"trainer stopped before the wall-clock limit after saving a checkpoint; a retry resumes from it. "
            f"Last output:\n{text_tail}")
    how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
    raise TrainerCrashed(f"trainer failed ({how}): {' '.join(cmd[:8])} ...\n--- trainer output (tail) ---\n{text_tail}")


def launch_trainer(
    config_path: str | Path,
    phase: str,
    output_dir: str | Path,
    launch_cfg,
    extra_args: list[str] | None = None,
    on_line: Callable[[str], None] = print,
) -> int:
    """Start the trainer for one phase under `launch_cfg` (a LaunchConfig) and wait for it."""
    args = ["--config", str(config_path), "--phase", phase, "--output", str(output_dir), *(extra_args or [])]
    cmd = build_command(launch_cfg.launcher, launch_cfg.nproc_per_node, args, launch_cfg.accelerate_config_file)
    limit = launch_cfg.wall_clock_limit_seconds
    deadline = None
    if limit is not None:
        soft = max(limit - launch_cfg.checkpoint_margin_seconds, limit * 0.5)
        deadline = time.time() + soft
    env = trainer_env(launch_cfg.env, deadline)
    on_line(f"[launch] {' '.join(cmd)}")
    return run_command(cmd, on_line=on_line, wall_clock_limit=limit, env=env, output_dir=output_dir)
