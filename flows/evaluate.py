"""Evaluation flow: models x tasks -> per-pair results, contamination check, comparison report."""

from __future__ import annotations

from prefect import flow

from flows.train import ensure_tiny_base
from llammas_core.config import LlammasConfig
from llammas_core.preflight import preflight
from llammas_core.refs import resolve_section
from tasks.common import one_line_errors, run_namer
from tasks.evaluate import evaluate_and_publish

LANGUAGE = ("config.corpus.language", "config.train.language", "config.instructions.language")


@flow(name="evaluate", log_prints=True, flow_run_name=run_namer("evaluate", LANGUAGE))
@one_line_errors
def evaluate_flow(config: LlammasConfig) -> str:
    """The `evaluate` section of the config: every model on every task (only the pairs not yet stored),
    then the report. `@base`, `@cpt`, `@sft` are the training stages this same config committed.
    Returns the report stage's manifest URI (report.md and a self-contained report.html beside it)."""
    preflight(config, ["evaluate"], config.store.endpoint_url)
    ensure_tiny_base(config, "evaluate")  # a base-only evaluation of the demo's tiny base
    evaluate = resolve_section(config, "evaluate")
    language = next((s.language for s in (config.corpus, config.train, config.instructions) if s is not None), None)
    return evaluate_and_publish(config.store, evaluate, language)
