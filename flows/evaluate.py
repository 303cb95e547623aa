"""Evaluation flow: models x tasks -> per-pair results, contamination check, comparison report."""

from __future__ import annotations

from prefect import flow

from llammas_core.config import StoreConfig
from llammas_core.evaluate.config import EvaluateConfig
from tasks.common import one_line_errors, run_namer, tagged
from tasks.evaluate import evaluate_task


@flow(name="evaluate", log_prints=True, flow_run_name=run_namer("evaluate"))
@one_line_errors
def evaluate_flow(evaluate: EvaluateConfig, store: StoreConfig = StoreConfig()) -> str:
    """Evaluate the models on the suite; returns the report stage's manifest URI (report.md and a
    self-contained report.html beside it). Model paths must be manifest URIs, folders or hub ids
    (the `@base/@cpt/@sft` references are resolved by the pipeline flow)."""
    return tagged(evaluate_task, "evaluate")(store, evaluate)
