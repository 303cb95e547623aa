"""Run a datatrove pipeline on the configured executor and wait until every task completed.

All three executors skip tasks whose completion marker exists in the logging folder, which is
what makes a killed stage resumable: the next attempt reruns only the unfinished tasks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from llammas_core.corpus import ray_placement
from llammas_core.corpus.config import ExecutorConfig
from llammas_core.errors import LlammasError


# Imported once by the forkserver and inherited by every worker: spaCy alone costs ~2.5 s per
# process, paid by each worker of each of the eight step groups otherwise (~9 CPU-s a run).
FORKSERVER_PRELOAD = ["spacy", "datatrove.pipeline.filters", "datatrove.pipeline.dedup"]


def _local(cfg: ExecutorConfig, pipeline: list, tasks: int, logging_dir: Path):
    import multiprocess
    from datatrove.executor import LocalPipelineExecutor

    multiprocess.set_forkserver_preload(FORKSERVER_PRELOAD)

    workers = min(tasks, cfg.workers if cfg.workers > 0 else os.cpu_count() or 1)
    # forkserver, not fork: forked workers would inherit the orchestrator's threads and signal
    # handlers (Prefect turns SIGTERM into an exception), which hangs the pool on shutdown
    return LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=workers,
                                 logging_dir=str(logging_dir), start_method="forkserver")


def _remove_leftover_placement_groups() -> None:
    """Placement groups this driver still holds after a step's run are leftovers of failed submissions;
    Ray re-places them when their node dies, so they hold the very CPUs the next pass needs."""
    import ray
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    job = ray.get_runtime_context().get_job_id()
    for pg_id, info in ray.util.placement_group_table().items():
        if pg_id.endswith(job) and info["state"] != "REMOVED":  # a placement group id ends with its job's
            remove_placement_group(PlacementGroup(ray.PlacementGroupID(bytes.fromhex(pg_id))))


def _lost_nodes() -> int:
    import ray

    return sum(1 for n in ray.nodes() if not n["Alive"])


def _ray(cfg: ExecutorConfig, pipeline: list, tasks: int, logging_dir: Path):
    import ray
    from datatrove.executor import RayPipelineExecutor

    ray_placement.install()

    if not ray.is_initialized():
        ray.init(address=cfg.ray_address, ignore_reinit_error=True, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    workers = cfg.workers if cfg.workers > 0 else tasks
    return RayPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=str(logging_dir),
                               cpus_per_task=cfg.cpus_per_task, mem_per_cpu_gb=cfg.mem_per_cpu_gb)


def _slurm(cfg: ExecutorConfig, pipeline: list, tasks: int, logging_dir: Path):
    from llammas_core.corpus.slurm_executor import LlammasSlurmExecutor

    s = cfg.slurm
    return LlammasSlurmExecutor(pipeline=pipeline, tasks=tasks, time=s.time, partition=s.partition,
                                cpus_per_task=s.cpus_per_task, mem_per_cpu_gb=s.mem_per_cpu_gb,
                                workers=cfg.workers, qos=s.qos, venv_path=s.venv_path,
                                logging_dir=str(logging_dir), job_name=f"llammas-{logging_dir.name}")


FACTORIES = {"local": _local, "ray": _ray, "slurm": _slurm}


def run_pipeline(cfg: ExecutorConfig, name: str, pipeline: list, tasks: int, logs_root: Path) -> list[dict]:
    """Run one datatrove step group to completion; returns its per-step stats merged over tasks."""
    logging_dir = logs_root / name
    executor = FACTORIES[cfg.kind](cfg, pipeline, tasks, logging_dir)
    lost = _lost_nodes() if cfg.kind == "ray" else 0
    failed = ray_placement.failed_submissions()
    executor.run()
    if cfg.kind == "slurm":  # sbatch returns at once: follow the array job until it left the queue
        executor.wait(cfg.slurm.poll_seconds)
    missing = executor.get_incomplete_ranks(skip_completed=True)
    if missing and cfg.kind == "ray" and (_lost_nodes() > lost or ray_placement.failed_submissions() > failed):
        from datatrove.utils.logging import logger  # a node died under its tasks, or an actor never started: once more

        logger.warning(f"step {name!r}: a Ray node was lost or a task's actor did not start; running tasks "
                       f"{missing[:10]} again on the nodes left")
        _remove_leftover_placement_groups()
        executor.run()
        missing = executor.get_incomplete_ranks(skip_completed=True)
    if missing:
        where = executor.failure_hint() if cfg.kind == "slurm" else f"see {logging_dir}/logs"
        raise LlammasError(f"step {name!r}: tasks {missing[:10]} did not complete; {where}")
    return _merged_stats(logging_dir)


def _merged_stats(logging_dir: Path) -> list[dict]:
    """Merge per-task stats; datatrove's own stats.json only covers tasks run by the last attempt."""
    from datatrove.utils.stats import PipelineStats

    parts = [PipelineStats.from_json(json.loads(p.read_text())) for p in sorted((logging_dir / "stats").glob("*.json"))]
    return json.loads(sum(parts, start=PipelineStats()).to_json())
