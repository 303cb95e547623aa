"""datatrove's SlurmPipelineExecutor as llammas runs it: one array job per step group, waited for.

- no merge-stats job: run_pipeline merges the per-task stats itself, and datatrove's extra job
  (afterok on the array) would sit pending forever after a failed task;
- the orchestrator's Python environment is put on the job's PATH (datatrove calls
  `launch_pickled_pipeline`), unless `venv_path` names another one to `source`;
- the array job's id is kept in the logging folder: a run that was killed and started again
  re-attaches to the job while it is still queued or running instead of submitting a second one;
- `wait` follows the array job until it left the queue and `scancel`s it when the caller is
  interrupted (a cancelled Prefect run), so no task keeps running for a run nobody waits for; tasks
  that ended without their completion marker fail the step with `failure_hint` (the job's log tail).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

from datatrove.executor import SlurmPipelineExecutor
from datatrove.utils.logging import logger

from llammas_core.errors import TransientError

JOB_FILE = "slurm_job_id"


class LlammasSlurmExecutor(SlurmPipelineExecutor):
    def __init__(self, *args, venv_path: str | None = None, **kwargs):
        env = None if venv_path else f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH"
        super().__init__(*args, venv_path=venv_path, env_command=env, **kwargs)

    def launch_merge_stats(self):
        pass  # see the module docstring

    def launch_job(self):
        previous = self._recorded_job()
        if previous and job_in_queue(previous):
            logger.info(f"re-attaching to slurm job {previous} of an earlier attempt")
            self.job_id = previous
            return
        super().launch_job()
        if self.job_id not in (None, -1):
            with self.logging_dir.open(JOB_FILE, "w") as f:
                f.write(str(self.job_id))

    def _recorded_job(self) -> str | None:
        if not self.logging_dir.exists(JOB_FILE):
            return None
        with self.logging_dir.open(JOB_FILE, "r") as f:
            return f.read().strip() or None

    def wait(self, poll_seconds: float) -> None:
        """Block until the array job left the queue; scancel it when interrupted."""
        if self.job_id in (None, -1):
            return
        poll = min(1.0, poll_seconds)
        try:
            while job_in_queue(str(self.job_id)):  # also after the last marker: its tasks still hold CPUs
                time.sleep(poll)
                poll = min(poll * 1.5, poll_seconds)
        except BaseException:
            subprocess.run(["scancel", str(self.job_id)], check=False)
            raise

    def failure_hint(self, lines: int = 20) -> str:
        """Where to look, and the tail of the last task logs of the job."""
        logs = sorted(Path(self.slurm_logs_folder).glob(f"{self.job_id}_*.out"))
        tails = [f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:]) for p in logs[-2:]]
        return "\n".join([f"slurm job {self.job_id}, logs in {self.slurm_logs_folder}", *tails])


def job_in_queue(job_id: str) -> bool:
    """Whether any task of the job is still pending, running or completing."""
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True)
    if out.returncode != 0 and "Invalid job id" not in out.stderr:
        raise TransientError(f"squeue failed for job {job_id}: {out.stderr.strip()}")
    return bool(out.stdout.strip())
