"""Prefect tasks of the evaluation flow: thin wrappers over llammas_core.evaluate.stage.

`evaluate` (one task run per evaluation, cached over all its pair keys) plans, then fans the models out:
one `evaluate-model` task run per model, at most `evaluate.workers` at once (a thread pool; on a GPU box
each holds one GPU), each loading its model once and running its tasks. When all are done, `evaluate`
assembles the report (contamination check + report stage). Every (model, task) result is its own
content-addressed stage, so a retried model task or a rerun evaluates only what is missing, and the
report is the same as one worker's. Artifacts: the comparison table, the report markdown, the score plot
(inline PNG) and a progress bar over the (model, task) pairs.
"""

from __future__ import annotations

import base64
import threading

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.client.schemas.objects import State
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, \
    update_progress_artifact

from llammas_core.config import StoreConfig
from llammas_core.evaluate.config import EvaluateConfig
from llammas_core.evaluate.report import PLOTS, table_rows
from llammas_core.evaluate.stage import EvalItem, EvalPlan, assemble_report, evaluate_model, log_plan, plan_evaluate, \
    report_identity
from llammas_core.evaluate.workers import DevicePool, eval_workers, worker_devices
from llammas_core.stage import StageResult
from llammas_core.threads import import_model_libraries
from tasks.common import (
    RETRIES,
    RETRY_DELAYS,
    artifact_key,
    identity_key,
    one_line_errors,
    publish_stage_artifacts,
    remember_result,
    retry_transient_only,
    run_log,
    stage_result,
    cache_key_over,
    tagged,
)

MAX_INLINE_PNG = 2_000_000


def _evaluate_identity(store: StoreConfig, cfg: EvaluateConfig) -> str:
    # every eval key (model identities, task data fingerprints, engine version) + report settings
    return identity_key("evaluate", store.uri, report_identity(cfg))


_evaluate_key = cache_key_over(_evaluate_identity, "evaluate")


class _Progress:
    """The progress artifact over all (model, task) pairs, moved by every model's worker (thread-safe)."""

    def __init__(self, name: str, total: int):
        self.log = run_log()
        self.total, self.done, self.lock = total, 0, threading.Lock()
        self.id = create_progress_artifact(0.0, key=artifact_key(f"{name}-progress"),
                                           description=f"{name}: (model, task) pairs done")

    def __call__(self, item: EvalItem, result: StageResult, log) -> None:
        with self.lock:
            self.done += 1
            done = self.done
        log(f"[evaluate] step {done}/{self.total}")
        try:
            update_progress_artifact(self.id, progress=100.0 * done / max(1, self.total))
        except Exception as e:  # progress is cosmetic: never fail an evaluation over it
            log(f"progress artifact not updated: {e}")


def publish_report_artifacts(store: StoreConfig, name: str, manifest: dict) -> None:
    """The comparison table, the report markdown and the plot as an inline-PNG markdown artifact."""
    rows = table_rows(manifest.get("rows") or [])
    if rows:
        create_table_artifact(rows, key=artifact_key(f"{name}-comparison"),
                              description=f"{name}: scores with 95% CI and paired deltas vs {manifest.get('baseline')}")
    s = store.open()
    with s.open_read(f"{manifest['id']}/{manifest['report']}") as f:
        md = f.read().decode("utf-8")
    # the markdown names its plots by relative file names; the artifact embeds them instead
    sizes = {f["path"]: f["bytes"] for f in manifest.get("files", [])}
    for key, plot in (("scores", manifest.get("plot")), ("languages", manifest.get("language_plot"))):
        if not plot or sizes.get(plot, MAX_INLINE_PNG + 1) > MAX_INLINE_PNG:
            continue
        with s.open_read(f"{manifest['id']}/{plot}") as f:
            data = base64.b64encode(f.read()).decode()
        create_markdown_artifact(f"![{key}](data:image/png;base64,{data})", key=artifact_key(f"{name}-{key}"),
                                 description=f"{name}: {PLOTS[key][1].format(pct='95%')}")
        md = md.replace(f"]({plot})", f"](data:image/png;base64,{data})")
    create_markdown_artifact(md, key=artifact_key(f"{name}-report"), description=f"{name}: evaluation report "
                             f"({manifest.get('report_uri')})")


@task(name="evaluate-model", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_policy=NO_CACHE, persist_result=False, task_run_name="evaluate-{plan.cfg.name}-{model}")
@one_line_errors
def evaluate_model_task(store: StoreConfig, plan: EvalPlan, model: str, devices: DevicePool,
                        progress: _Progress) -> list[tuple[EvalItem, StageResult]]:
    """One model's (model, task) pairs (only the missing ones are computed) on a device of the pool: one
    worker's share. A retry finds the pairs its failed attempt committed."""
    log = run_log()
    with devices.take() as device:
        return evaluate_model(store.open(), plan, model, store.work_path, log,
                              on_pair=lambda item, result: progress(item, result, log), device=device)


def evaluate_models(store: StoreConfig, plan: EvalPlan, progress: _Progress) -> list[tuple[EvalItem, StageResult]]:
    """Every model's pairs, one `evaluate-model` task run per model, `workers` at once; the task runs
    carry the calling task's tags (`stage:evaluate`, `lang:<code>`). All are waited for before a failure
    is raised, so the other models' pairs are stored for the retry."""
    models = [m.name for m in plan.cfg.models]
    workers = eval_workers(plan.cfg.workers, len(models))
    devices = worker_devices(workers)
    gpus = sorted({d for d in devices if d})
    run_log()(f"[evaluate] {len(models)} models, {workers} at once" + (f" on {', '.join(gpus)}" if gpus else ""))
    ctx = TaskRunContext.get()
    child = evaluate_model_task.with_options(tags=set(ctx.task_run.tags) if ctx else set())
    pool = DevicePool(devices)
    import_model_libraries()  # once, before the threads (llammas_core.threads)
    with ThreadPoolTaskRunner(max_workers=workers) as runner:
        futures = [runner.submit(child, {"store": store, "plan": plan, "model": m, "devices": pool,
                                         "progress": progress}) for m in models]
        wait(futures)
        return [pair for f in futures for pair in f.result()]


@task(name="evaluate", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_evaluate_key, persist_result=True, task_run_name="evaluate-{evaluate.name}")
@one_line_errors
def evaluate_task(store: StoreConfig, evaluate: EvaluateConfig) -> str | State:
    """Evaluate every model on every task (only the missing pairs; models fanned out over workers), then
    write the report; returns the report stage's manifest URI (its report_uri / html_uri fields point at
    report.md / report.html)."""
    log = run_log()
    s = store.open()
    plan = plan_evaluate(evaluate, log)
    log_plan(s, plan, log)
    evals = evaluate_models(store, plan, _Progress(evaluate.name, len(plan.items)))
    result = assemble_report(s, plan, evals, store.work_path, log)
    log(f"report: {result.manifest.get('html_uri')}")
    publish_stage_artifacts(f"evaluate-{evaluate.name}", result.manifest_uri, result.manifest, result.skipped)
    publish_report_artifacts(store, evaluate.name, result.manifest)
    remember_result(store, _evaluate_identity(store, evaluate), result.manifest_uri)
    return stage_result(result, f"evaluate-{evaluate.name}")


def evaluate_and_publish(store: StoreConfig, evaluate: EvaluateConfig, language: str | None) -> str:
    """The evaluate task (tagged `stage:evaluate`, `lang:<language>`) from a flow. When Prefect hands out
    the Cached result, the task body (and its artifacts) did not run: the report is re-published on this
    flow run, so the latest run shows it too."""
    from llammas_core.stage import read_manifest

    state = tagged(evaluate_task, "evaluate", language)(store, evaluate, return_state=True)
    uri = state.result()
    if state.name == "Cached":
        publish_report_artifacts(store, evaluate.name, read_manifest(uri, store.endpoint_url))
    return uri
