"""datatrove 0.10.1's Ray task submission, with its two failure paths closed.

`RayTaskManager.submit_task` creates a placement group, starts the rank's actors in it and resolves the
future the run loop waits on, all in a submission thread. When that thread fails (an actor died before it
started, or its node died), datatrove leaves
- the future unresolved, so the run loop waits on it forever, and
- the placement group CREATED, holding its CPUs: the next submissions stay PENDING (NO_RESOURCES) forever.
`submit_task` below is datatrove's, but a failed submission removes its placement group and resolves the
future with the error: datatrove then logs it and leaves the rank incomplete, and `run_pipeline` runs the
incomplete ranks again (`failed_submissions` tells it one failed). Remove once datatrove does both.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

_lock = threading.Lock()
_failed = 0


def failed_submissions() -> int:
    """How many submissions failed in this process so far."""
    return _failed


def _submit_task(self, executor_ref, ranks_to_submit: list[int], remote_options: dict) -> Future:
    import ray
    from datatrove.executor.ray import RankWorker, TaskGroup, convert_remote_options_to_bundle
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    future: Future = Future()

    def submit():
        global _failed
        pg = None
        try:
            pg = ray.util.placement_group([convert_remote_options_to_bundle(remote_options)] * self.nodes_per_task)
            ray.get(pg.ready())
            workers = [ray.remote(RankWorker).options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, i),
                                                      **remote_options).remote()
                       for i in range(self.nodes_per_task)]
            node_ips = ray.get([w.get_node_ip.remote() for w in workers])
            tasks = [w.run_for_rank.remote(executor_ref, ranks_to_submit, node_ips, i) for i, w in enumerate(workers)]
            group = TaskGroup(tasks=tasks, workers=workers, placement_group=pg, ranks=ranks_to_submit)
            for task in tasks:
                self.task_to_group[task] = group
                self.timeout_manager.add_task(task)
            future.set_result(tasks)
        except BaseException as e:  # noqa: BLE001  (whatever failed, the run loop must hear of it)
            with _lock:
                _failed += 1
            if pg is not None:
                try:
                    ray.util.remove_placement_group(pg)
                except Exception:  # noqa: BLE001  (its node may be gone with it)
                    pass
            future.set_exception(e)

    self.pg_futures.append(self.executor.submit(submit))
    return future


def install() -> None:
    from datatrove.executor import ray as dt_ray

    dt_ray.RayTaskManager.submit_task = _submit_task
