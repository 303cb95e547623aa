"""Evaluation as content-addressed stages: one `eval/<key>` per (model, task), one
`contamination/<key>`, and a `report/<key>` over them.

- `eval` key: the model's identity (its stage manifest id; for a local folder a fingerprint of its
  files' names, sizes and mtimes; for a hub id `id@revision`), the settings that change its outputs
  (chat, resolved dtype, backend), the task spec with its data replaced by a content fingerprint
  (moving the data kit or the repository changes nothing), the software versions that score (lm-eval,
  sacrebleu, transformers, torch) and a hash of the engine's source files. Batch size, device and the
  model's label are not in the key. A rerun after a crash, or with one more model or task, evaluates
  only the pairs without a committed manifest; a model is loaded once, only when one of its pairs is
  missing, and released before the next.
- `contamination` key: n-gram settings + evaluation data fingerprints + training source ids + a hash
  of the checking code.
- `report` key: the eval and contamination manifest ids + labels, baseline and bootstrap settings + a
  hash of the report-side code (bootstrap, report, this file).

Everything is validated (references resolved, tasks, models: the engine's validate_task /
validate_model) before any model is loaded.

Manifest fields: eval: model, model_path, model_identity, task, task_kind, data, metrics, stderr,
n_samples, signatures, device, eval_seconds. contamination: rows, sources, eval_sets. report:
title, baseline, models, tasks, rows (the comparison), contamination_rows, evals
(model/task/id/uri/reused), report/html/plot/comparison (file names), report_uri, html_uri.
"""

from __future__ import annotations

import gc
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from llammas_core.errors import ConfigError, InputError, LlammasError
from llammas_core.evaluate.by_language import evaluated_on, per_language
from llammas_core.evaluate.config import EvaluateConfig
from llammas_core.refs import REF
from llammas_core.evaluate.identity import (
    code_version,
    data_fingerprint,
    engine_version,
    model_identity,
    resolved_dtype,
    task_key_view,
)
from llammas_core.evaluate.spec import ModelSpec, TaskSpec
from llammas_core.stage import (
    MANIFEST,
    StageContext,
    StageResult,
    committed_file,
    run_stage,
    stage_key,
)
from llammas_core.store import Store

EVAL_STAGE, CONTAMINATION_STAGE, REPORT_STAGE = "eval", "contamination", "report"

Progress = Callable[[int, int, str], None]

__all__ = ["run_evaluate", "plan_evaluate", "evaluate_model", "assemble_report", "log_plan", "model_identity", "data_fingerprint", "engine_version",
           "EvalPlan", "EVAL_STAGE", "REPORT_STAGE", "CONTAMINATION_STAGE"]


# --------------------------------------------------------------------------- plan


@dataclass
class EvalItem:
    model: ModelSpec
    task: TaskSpec
    config: dict
    inputs: list[dict]
    key: str

    @property
    def prefix(self) -> str:
        return f"{EVAL_STAGE}/{self.key}"


@dataclass
class EvalPlan:
    cfg: EvaluateConfig
    version: str
    identities: dict[str, str]
    manifests: dict[str, dict | None]
    items: list[EvalItem] = field(default_factory=list)

    def missing(self, store: Store) -> list[EvalItem]:
        return [i for i in self.items if not store.exists(f"{i.prefix}/{MANIFEST}")]


def input_errors(cfg: EvaluateConfig, skip_refs: bool = False) -> list[tuple[str, LlammasError]]:
    """Every problem of every task and model (missing or wrong file, bad items, unloadable model), so
    one run reports them all: (message naming the task or model, the error); `skip_refs`: models given
    as `@references` are checked once resolved."""
    from llammas_core.evaluate.engine import validate_task
    from llammas_core.evaluate.models import validate_model

    errors = []
    models = [m for m in cfg.models if not (skip_refs and REF.match(m.path))]
    for what, check, items in (("task", validate_task, cfg.tasks), ("model", validate_model, models)):
        for item in items:
            try:
                check(item)
            except LlammasError as e:
                where = f"{what} {item.name}"
                errors.append((str(e) if str(e).startswith(where) else f"{where}: {e}", e))
    return errors


def plan_evaluate(cfg: EvaluateConfig, log: Callable[[str], None] = print) -> EvalPlan:
    """Validate everything and compute every eval key; loads no model. ConfigError/InputError on bad input."""
    refs = cfg.unresolved_refs()
    if refs:
        raise ConfigError(f"evaluate: unresolved model references {refs}: run it in the pipeline, or give "
                          "manifest URIs / model folders as model paths")
    for t in cfg.tasks:
        if t.data:
            log(f"[evaluate] {t.name}: data {t.data}")
    errors = input_errors(cfg)
    if len(errors) == 1:
        raise errors[0][1]
    if errors:
        kind = ConfigError if any(isinstance(e, ConfigError) for _, e in errors) else InputError
        raise kind(f"evaluate: {len(errors)} problems: " + "; ".join(m for m, _ in errors))
    version = engine_version()
    plan = EvalPlan(cfg, version, {}, {})
    task_views = {t.name: task_key_view(t) for t in cfg.tasks}
    for model in cfg.models:
        identity, manifest = model_identity(model)
        plan.identities[model.name], plan.manifests[model.name] = identity, manifest
        model_view = {"identity": identity, "chat": model.chat, "dtype": resolved_dtype(model),
                      "backend": model.backend}
        inputs = [manifest] if manifest else []
        for task in cfg.tasks:
            if not evaluated_on(model, task):  # an x-LLaMA: only its own language's tasks
                continue
            config = {"model": model_view, "task": task_views[task.name]}
            key = stage_key(EVAL_STAGE, config, [m["id"] for m in inputs], version)
            plan.items.append(EvalItem(model, task, config, inputs, key))
    return plan


# --------------------------------------------------------------------------- eval stages


def _eval_body(item: EvalItem, get_model: Callable[[], object], log: Callable[[str], None]):
    def body(ctx: StageContext) -> dict:
        from llammas_core.evaluate.engine import run_task

        # a killed attempt may have left partial files in the (stable) scratch folder: start clean,
        # so nothing of it is published with this attempt's results
        for p in list(ctx.out_dir.iterdir()):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        loaded = get_model()
        started = time.time()
        log(f"[evaluate] {item.model.name} / {item.task.name}: evaluating (stage {ctx.prefix})")
        result = run_task(loaded, item.task, ctx.out_dir)
        samples = result.samples
        return {
            "model": item.model.name,
            "model_path": item.model.path,
            "model_identity": item.config["model"]["identity"],
            "task": item.task.name,
            "task_kind": item.task.kind,
            "data": item.task.data,
            "metrics": result.metrics,
            "stderr": result.stderr,
            "n_samples": samples if isinstance(samples, int) else len(samples),
            "signatures": result.signatures,
            "skipped_metrics": getattr(result, "skipped", {}) or {},
            "device": getattr(loaded, "device", None),
            "eval_seconds": round(time.time() - started, 3),
        }

    return body


def _free(loaded) -> None:
    del loaded
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def evaluate_model(store: Store, plan: EvalPlan, model_name: str, work_root: Path, log: Callable[[str], None],
                   on_pair: Callable[[EvalItem, StageResult], None] | None = None,
                   device: str | None = None) -> list[tuple[EvalItem, StageResult]]:
    """One model's (model, task) stages, in task order: one worker's share of the evaluation. The model
    is loaded at most once, only when one of its pairs is missing, onto `device` when given (a worker's
    GPU; a device set in the model's spec wins), and released at the end, also on failure. `on_pair`
    is called after each pair (committed or reused)."""
    from llammas_core.evaluate.models import load_model

    model = next(m for m in plan.cfg.models if m.name == model_name)
    spec = model.model_copy(update={"device": device}) if device and not model.device else model
    holder: dict[str, object] = {}

    def get_model():
        if "m" not in holder:
            log(f"[evaluate] loading {model.name} ({model.path}){f' on {spec.device}' if spec.device else ''}")
            holder["m"] = load_model(spec)
        return holder["m"]

    results = []
    try:
        for item in (i for i in plan.items if i.model.name == model_name):
            result = run_stage(store, EVAL_STAGE, item.config, item.inputs, _eval_body(item, get_model, log),
                               work_root, version=plan.version, log=log)
            if result.skipped:
                log(f"[evaluate] {model.name} / {item.task.name}: reused {result.manifest_uri}")
            results.append((item, result))
            if on_pair:
                on_pair(item, result)
    finally:
        if "m" in holder:
            _free(holder.pop("m"))
    return results


def run_evals(store: Store, plan: EvalPlan, work_root: Path, log: Callable[[str], None],
              progress: Progress | None = None) -> list[tuple[EvalItem, StageResult]]:
    """Every (model, task) stage, model after model (one worker)."""
    done = [0]

    def on_pair(item: EvalItem, result: StageResult) -> None:
        done[0] += 1
        log(f"[evaluate] step {done[0]}/{len(plan.items)}")
        if progress:
            progress(done[0], len(plan.items), f"{item.model.name} / {item.task.name}")

    return [r for m in plan.cfg.models for r in evaluate_model(store, plan, m.name, work_root, log, on_pair)]


# --------------------------------------------------------------------------- contamination


def _scored_file(task: TaskSpec) -> str:
    """The local file (or folder) a task scores: for XCOPA/Belebele the engine's own pick of the test
    split inside a data folder (not the dev split or translated copies beside it)."""
    from llammas_core.evaluate.datafiles import localize

    if task.kind in ("xcopa", "belebele"):
        from llammas_core.evaluate.lmeval import task_files

        return str(task_files(task)[0])
    return str(localize(task.data))


def scored_items(task: TaskSpec) -> list[list[str]]:
    """The items a task scores (after `limit`, through the engines' own loaders), each as its texts:
    what the contamination check looks for in the training data."""
    from llammas_core.contamination import iter_strings
    from llammas_core.evaluate.contamination_check import eval_texts

    if task.kind in ("xcopa", "belebele"):
        from llammas_core.evaluate.datafiles import read_records

        rows = read_records(Path(_scored_file(task)))
        rows = rows[: task.limit] if task.limit else rows
        return [[t for t in iter_strings(r) if t.strip()] for r in rows]
    if task.kind == "flores":
        from llammas_core.evaluate.flores import load_pairs

        return [[p["src"], p["ref"]] for p in load_pairs(task)[0]]
    if task.kind == "qa":
        from llammas_core.evaluate.qa import load_items

        return [[t for t in iter_strings(r) if t.strip()] for r in load_items(task)[0]]
    texts = eval_texts(_scored_file(task))  # any other kind with data: each text its own item
    return [[t] for t in (texts[: task.limit] if task.limit else texts)]


def run_contamination(store: Store, plan: EvalPlan, work_root: Path, log: Callable[[str], None]) -> StageResult | None:
    from llammas_core.evaluate.contamination_check import (
        TrainingSource,
        lineage_sources,
        overlap_table,
    )
    from llammas_core.train.stage import data_inputs

    c = plan.cfg.contamination
    if not c.enabled:
        return None
    sources: dict[str, TrainingSource] = {}
    if c.follow_lineage:
        for model in plan.cfg.models:
            if plan.manifests.get(model.name):
                for s in lineage_sources(model.path, log):
                    sources.setdefault(s.id, s)
    for ref in c.sources:
        manifests, extra = data_inputs([ref])
        sid = manifests[0]["id"] if manifests else extra[0]
        sources.setdefault(sid, TrainingSource(ref, "other", sid, "config"))
    eval_paths = {t.name: _scored_file(t) for t in plan.cfg.tasks if t.data}
    limits = {t.name: t.limit for t in plan.cfg.tasks if t.data}
    tasks = {t.name: t for t in plan.cfg.tasks if t.data}
    if not sources or not eval_paths:
        log("[contamination] nothing to check (no training sources in the lineage, or no task data)")
    config = {"n": c.n, "threshold": c.threshold, "sample_docs": c.sample_docs, "max_scan": c.max_scan,
              "seed": c.seed, "eval": {name: data_fingerprint(p) for name, p in sorted(eval_paths.items())},
              "limits": limits,
              "sources": sorted(sources)}

    def body(ctx: StageContext) -> dict:
        sets = {}
        for name, task in tasks.items():
            sets[name] = scored_items(task)
        rows = []
        for s in sources.values():
            try:
                rows += overlap_table(sets, [s], c.n, c.threshold, c.sample_docs, c.max_scan, c.seed, log)
            except (InputError, OSError) as e:  # recorded with its reason, never silently dropped
                log(f"[contamination] {s.id}: not checked: {e}")
                rows += [{"eval_set": name, "source": s.id, "source_kind": s.kind, "via": s.via, "docs_sampled": 0,
                          "docs_scanned": 0, "docs_total": None, "scan_complete": False, "items": len(t),
                          "items_checked": 0, "items_any_overlap": 0, "items_contaminated": 0,
                          "fraction_contaminated": 0.0, "mean_overlap": 0.0, "error": str(e)} for name, t in sets.items()]
        (ctx.out_dir / "contamination.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
        return {"rows": rows, "sources": [vars(s) for s in sources.values()], "eval_sets": eval_paths}

    version = code_version("llammas_core.evaluate.contamination_check", "llammas_core.contamination")
    result = run_stage(store, CONTAMINATION_STAGE, config, [], body, work_root, version=version, log=log)
    log(f"[contamination] {'reused' if result.skipped else 'committed'} {result.manifest_uri}")
    return result


# --------------------------------------------------------------------------- report


def _read_samples(store: Store, manifest: dict, cache_dir: Path) -> list[dict]:
    """The per-sample records of a committed eval stage (size and sha256 checked against its manifest)."""
    path = committed_file(store, manifest, "samples.jsonl", cache_dir)
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _metrics_of(kind: str, manifests: list[dict], by_model: dict[str, list[dict]]) -> list[str]:
    """The metrics to compare: the kind's own, plus any scored metric every result reports (spBLEU,
    lm-eval tasks' extras), kept only when every sample carries what the metric needs."""
    from llammas_core.evaluate import metrics

    names = list(metrics.metric_names(kind))
    for m in manifests:
        for k in (m.get("metrics") or {}):
            # any lm-eval task's metric that every sample carries (exact_match, mcc, ...) is a mean over items
            if k not in names and (k in metrics.PER_ITEM | metrics.CORPUS | {"comet"} or kind == "lm_eval"):
                names.append(k)

    def usable(metric: str) -> bool:
        for recs in by_model.values():
            for s in recs:
                if metric not in metrics.CORPUS and not isinstance(s.get(metric), (int, float)):
                    return False
                if metric in metrics.CORPUS and metric not in (s.get("stats") or {}) and (
                        metric == "spbleu" or "generation" not in s or "reference" not in s):
                    return False
        return True

    return [n for n in names if usable(n)]


def run_report(store: Store, plan: EvalPlan, evals: list[tuple[EvalItem, StageResult]],
               contamination: StageResult | None, work_root: Path, log: Callable[[str], None]) -> StageResult:
    from llammas_core.evaluate.bootstrap import compare
    from llammas_core.evaluate.report import write_report

    cfg = plan.cfg
    b = cfg.bootstrap
    config = {
        "name": cfg.name,
        "baseline": cfg.baseline_name,
        "bootstrap": b.model_dump(),
        "models": [m.name for m in cfg.models],
        "tasks": [t.name for t in cfg.tasks],
        "evals": [[item.model.name, item.task.name, r.manifest["id"]] for item, r in evals],
        "contamination": contamination.manifest["id"] if contamination else None,
        **({"model_languages": {m.name: [m.languages, m.group] for m in cfg.models if m.languages or m.group}}
           if any(m.languages or m.group for m in cfg.models) else {}),
        **({"skipped": cfg.skipped} if cfg.skipped else {}),
    }
    inputs = [r.manifest for _, r in evals] + ([contamination.manifest] if contamination else [])

    def body(ctx: StageContext) -> dict:
        rows: list[dict] = []
        skipped: list[str] = []
        signatures: dict[str, str] = {}
        for task in cfg.tasks:
            by_model = {}
            for item, r in evals:
                if item.task.name != task.name:
                    continue
                by_model[item.model.name] = _read_samples(store, r.manifest, Path(work_root) / "cache")
                for k, v in (r.manifest.get("signatures") or {}).items():
                    signatures[f"{task.name} {k}"] = v
            manifests = [r.manifest for item, r in evals if item.task.name == task.name]
            names = _metrics_of(task.kind, manifests, by_model) if all(by_model.values()) else []
            if not names:
                log(f"[report] {task.name}: no per-sample scores to compare; skipped")
                skipped.append(task.name)
                continue
            rows += compare(task.kind, task.name, by_model, names, cfg.baseline_name,
                            samples=b.samples, seed=b.seed, confidence=b.confidence)
        context = {
            "baseline": cfg.baseline_name, "samples": b.samples, "seed": b.seed, "confidence": b.confidence,
            "models": [{"name": m.name, "path": m.path, "identity": plan.identities[m.name]} for m in cfg.models],
            "signatures": signatures,
            "contamination": {"n": cfg.contamination.n, "threshold": cfg.contamination.threshold,
                              "max_scan": cfg.contamination.max_scan, "sample_docs": cfg.contamination.sample_docs},
            "results": [{"model": i.model.name, "task": i.task.name, "uri": r.manifest_uri} for i, r in evals],
            "per_language": per_language(rows, cfg.tasks, cfg.models),
            "skipped_tasks": cfg.skipped,
            # what was not scored, with the reason (spBLEU without a checked SPM model, COMET absent, ...)
            "not_scored": [{"task": i.task.name, "model": i.model.name, "metric": k, "reason": str(v)}
                           for i, r in evals for k, v in sorted((r.manifest.get("skipped_metrics") or {}).items())]
                          + [{"task": t, "model": "all", "metric": "all", "reason": "no per-sample scores to compare"}
                             for t in skipped],
        }
        crows = contamination.manifest.get("rows") if contamination else None
        files = write_report(ctx.out_dir, f"llammas evaluation: {cfg.name}", rows, context, crows)
        return {
            "title": cfg.name, "baseline": cfg.baseline_name,
            "models": context["models"], "tasks": [t.model_dump(mode="json") for t in cfg.tasks],
            "rows": rows, "contamination_rows": crows, "tasks_not_compared": skipped,
            **({"per_language": context["per_language"]} if context["per_language"] else {}),
            **({"tasks_skipped": cfg.skipped} if cfg.skipped else {}),
            "evals": [{"model": i.model.name, "task": i.task.name, "id": r.manifest["id"], "uri": r.manifest_uri,
                       "reused": r.skipped} for i, r in evals],
            **files,
            "report_uri": store.url(f"{ctx.prefix}/{files['report']}"),
            "html_uri": store.url(f"{ctx.prefix}/{files['html']}"),
        }

    version = code_version("llammas_core.evaluate.bootstrap", "llammas_core.evaluate.report",
                           "llammas_core.evaluate.stage")
    result = run_stage(store, REPORT_STAGE, config, inputs, body, work_root, version=version, log=log)
    log(f"[report] {'reused' if result.skipped else 'committed'} {result.manifest_uri}")
    return result


def assemble_report(store: Store, plan: EvalPlan, evals: list[tuple[EvalItem, StageResult]], work_root: str | Path,
                    log: Callable[[str], None] = print) -> StageResult:
    """After every model's pairs (from one worker or several, in any order): the contamination check and
    the report stage. The pairs are put in the plan's order first, so the report is the same however
    the work was spread."""
    order = {item.key: n for n, item in enumerate(plan.items)}
    evals = sorted(evals, key=lambda e: order[e[0].key])
    missing = sorted(set(order) - {item.key for item, _ in evals})
    if missing:
        raise LlammasError(f"evaluate: {len(missing)} (model, task) pairs have no result; the report needs all")
    work_root = Path(work_root)
    contamination = run_contamination(store, plan, work_root, log)
    return run_report(store, plan, evals, contamination, work_root, log)


def run_evaluate(store: Store, cfg: EvaluateConfig, work_root: str | Path, log: Callable[[str], None] = print,
                 progress: Progress | None = None) -> StageResult:
    """Validate, evaluate every missing (model, task) pair, check contamination, write the report (one
    worker; the Prefect task spreads evaluate_model over several and then calls assemble_report).
    Returns the report stage's result (manifest: rows, report/html/plot file names, eval ids)."""
    work_root = Path(work_root)
    plan = plan_evaluate(cfg, log)
    log_plan(store, plan, log)
    evals = run_evals(store, plan, work_root, log, progress)
    return assemble_report(store, plan, evals, work_root, log)


def log_plan(store: Store, plan: EvalPlan, log: Callable[[str], None]) -> None:
    missing = plan.missing(store)
    log(f"[evaluate] {len(plan.items)} (model, task) pairs, {len(missing)} to evaluate, "
        f"{len(plan.items) - len(missing)} already stored")


def report_identity(cfg: EvaluateConfig) -> str:
    """A stable identity of the whole evaluation (for Prefect cache keys): all eval keys + report settings."""
    plan = plan_evaluate(cfg, log=lambda _: None)
    # how the work is spread (workers) changes no result
    payload = {"evals": [i.key for i in plan.items], "cfg": cfg.model_dump(mode="json", exclude={"workers"})}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]
