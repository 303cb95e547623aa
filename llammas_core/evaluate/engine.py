"""One entry point per task: `validate_task` (before any model loads) and `run_task` (writes results).

run_task dispatches by TaskSpec.kind: xcopa / belebele / lm_eval through lm-eval (lmeval.py), flores
(flores.py) and qa (qa.py) through our batched generation. Each run writes into out_dir:
- results.json: lm-eval-like {"results": {task: {metric: value, metric_stderr: ...}}, "configs", "versions",
  "n-samples", "n-shot", "signatures", "skipped", "model", "task_spec", "timing"};
- samples.jsonl: one row per scored item (prompt, choices or generation, reference, per-sample scores).
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from llammas_core.errors import ConfigError
from llammas_core.evaluate.metrics import PER_ITEM, aggregate, metric_names
from llammas_core.evaluate.spec import TaskSpec

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
ENGINE_VERSION = "1"


@dataclass
class TaskResult:
    """What one (model, task) evaluation produced."""

    task: str
    metrics: dict[str, float]
    stderr: dict[str, float] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)
    signatures: dict[str, str] = field(default_factory=dict)
    kind: str = ""
    skipped: dict[str, str] = field(default_factory=dict)


def validate_task(spec: TaskSpec) -> None:
    """Clear errors before any model loads: missing data, missing fields, empty task, unknown lm-eval task."""
    if spec.kind in ("xcopa", "belebele"):
        from llammas_core.evaluate.lmeval import validate_mc

        validate_mc(spec)
    elif spec.kind == "flores":
        from llammas_core.evaluate.flores import load_pairs

        load_pairs(spec)
        if spec.spm_model and not Path(spec.spm_model).expanduser().is_file():
            raise ConfigError(f"task {spec.name}: spm_model {spec.spm_model} not found")
    elif spec.kind == "qa":
        from llammas_core.evaluate.qa import load_items

        load_items(spec)
    elif spec.kind == "lm_eval":
        from llammas_core.evaluate.lmeval import default_task_manager

        if spec.lm_eval_task not in default_task_manager().all_tasks:
            raise ConfigError(f"task {spec.name}: lm-eval knows no task or group {spec.lm_eval_task!r}")
    else:  # pydantic already restricts kind; kept for direct callers
        raise ConfigError(f"unknown task kind {spec.kind!r}")


def _mean_stderr(samples: list[dict], metric: str) -> float:
    vals = [float(s[metric]) for s in samples if metric in s]
    n = len(vals)
    if n < 2:
        return float("nan")
    mu = sum(vals) / n
    return math.sqrt(sum((v - mu) ** 2 for v in vals) / (n - 1) / n)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


@cache  # importlib.metadata parses each package's METADATA: ~10 ms a call
def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "llammas_eval_engine": ENGINE_VERSION}
    for pkg in ("lm_eval", "sacrebleu", "transformers", "torch", "llammas"):
        try:
            out[pkg] = version(pkg.replace("_", "-") if pkg == "lm_eval" else pkg)
        except PackageNotFoundError:
            pass
    return out


def run_task(model, task: TaskSpec, out_dir: Path) -> TaskResult:
    """Evaluate a LoadedModel on one task; writes results.json and samples.jsonl into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    configs: dict = {}
    stderr: dict[str, float] = {}
    signatures: dict[str, str] = {}
    skipped: dict[str, str] = {}
    versions: dict = {}
    if task.kind in ("xcopa", "belebele", "lm_eval"):
        from llammas_core.evaluate.lmeval import run_lmeval

        r = run_lmeval(model, task)
        metrics, stderr, samples = r["results"], r["stderr"], r["samples"]
        raw = r["raw"]
        configs = raw.get("configs", {})
        versions = raw.get("versions", {})
        signatures["lm_eval"] = f"lm-eval {_versions().get('lm_eval', '?')} n-shot={raw.get('n-shot')}"
    elif task.kind == "flores":
        from llammas_core.evaluate.flores import run_flores

        r = run_flores(model, task, out_dir)
        metrics, samples, signatures, skipped = r["results"], r["samples"], r["signatures"], r["skipped"]
    elif task.kind == "qa":
        from llammas_core.evaluate.qa import run_qa

        r = run_qa(model, task)
        samples, signatures = r["samples"], r["signatures"]
        metrics = {m: aggregate("qa", m, samples) for m in metric_names("qa")}
    else:
        raise ConfigError(f"unknown task kind {task.kind!r}")
    if not samples:
        raise ConfigError(f"task {task.name}: nothing was scored")
    for m in metrics:
        if m not in stderr and m in PER_ITEM | {"comet"}:
            stderr[m] = _mean_stderr(samples, m)
    elapsed = time.time() - t0
    gen_tokens = sum(int(s.get("n_tokens", 0)) for s in samples)
    result = {
        "results": {task.name: {**metrics, **{f"{k}_stderr": v for k, v in stderr.items()}}},
        "configs": {task.name: {"task_spec": task.model_dump(mode="json"), "lm_eval": configs}},
        "versions": {task.name: versions.get(next(iter(versions), ""), ENGINE_VERSION) if versions else ENGINE_VERSION},
        "n-samples": {task.name: {"effective": len(samples)}},
        "n-shot": {task.name: task.num_fewshot},
        "signatures": signatures,
        "skipped": skipped,
        "model": {"name": model.spec.name, "path": model.spec.path, "identity": model.identity,
                  "is_chat": model.is_chat, "device": model.device, "dtype": str(getattr(model.model, "dtype", ""))},
        "packages": dict(_versions()),
        "timing": {"seconds": round(elapsed, 3), "items_per_s": round(len(samples) / elapsed, 3) if elapsed else None,
                   "generated_tokens": gen_tokens},
    }
    (out_dir / RESULTS_FILE).write_text(json.dumps(_jsonable(result), indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    with (out_dir / SAMPLES_FILE).open("w", encoding="utf-8") as fh:
        for s in samples:
            fh.write(json.dumps(_jsonable(s), ensure_ascii=False) + "\n")
    return TaskResult(task=task.name, metrics=metrics, stderr=stderr, samples=samples, signatures=signatures,
                      kind=task.kind, skipped=skipped)


__all__ = ["TaskResult", "validate_task", "run_task", "RESULTS_FILE", "SAMPLES_FILE"]
