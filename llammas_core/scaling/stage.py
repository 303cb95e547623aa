"""The `allocation` stage: measured points -> a fitted curve per language -> the budget's allocation.

Manifest fields: languages, metric, budget, objective, points (per language), fits (per language: chosen
form, parameters, formula, in-sample and held-out RMSE, every candidate), allocation (pairs per language: the
per-language caps a MuIT mixture reads), uniform, predicted (per language, both), predicted_mean,
predicted_mean_uniform, predicted_min, predicted_min_uniform, exact, method, plot. Files: allocation.json
(the same), curves.png.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from llammas_core.errors import ConfigError, InputError
from llammas_core.scaling.allocate import allocate, uniform
from llammas_core.scaling.config import ScalingConfig
from llammas_core.scaling.fit import choose
from llammas_core.scaling.plot import plot_curves
from llammas_core.stage import StageContext, StageResult, read_manifest, run_stage
from llammas_core.store import Store

STAGE = "allocation"


def score_of(manifest: dict, task: str, metric: str, model: str) -> float:
    """The score of (task, metric, model) in an evaluate report manifest, or the metric of an eval stage."""
    if "rows" in manifest:  # a report: one row per (task, metric, model)
        for row in manifest["rows"]:
            if row.get("task") == task and row.get("metric") == metric and row.get("model") == model:
                return float(row["score"])
        have = sorted({(r.get("task"), r.get("metric"), r.get("model")) for r in manifest["rows"]})
        raise InputError(f"{manifest.get('id')}: no {metric} of model {model} on {task}; it has {have}")
    metrics = manifest.get("metrics")
    if isinstance(metrics, dict) and metric in metrics:
        if manifest.get("task") not in (None, task):
            raise InputError(f"{manifest.get('id')} is an evaluation of {manifest.get('task')}, not {task}")
        return float(metrics[metric])
    raise InputError(f"{manifest.get('id')}: neither a report with rows nor an eval stage with metric {metric}")


def gather_points(cfg: ScalingConfig, manifests: dict[str, dict]) -> dict[str, list[tuple[int, float]]]:
    """(pairs, score) per language from the typed points and the pilot manifests, sorted by pairs."""
    points: dict[str, list[tuple[int, float]]] = {lang: [] for lang in cfg.languages}
    for p in cfg.points:
        points[p.language].append((p.pairs, p.score))
    for r in cfg.pilot_results:
        task = (r.task or cfg.pilot_task).replace("{lang}", r.language)
        points[r.language].append((r.pairs, score_of(manifests[r.manifest], task, cfg.metric, r.model or cfg.pilot_model)))
    for lang, pts in points.items():
        if len({x for x, _ in pts}) < 2:
            raise ConfigError(f"scaling: {lang} has points at {len({x for x, _ in pts})} distinct size(s); a curve needs "
                              "2 or more (scaling.points, scaling.pilot_results or pilots at scaling.pilot_sizes)")
        pts.sort()
    return points


def compute(cfg: ScalingConfig, points: dict[str, list[tuple[int, float]]]) -> tuple[dict, dict]:
    """(the manifest fields, the fitted curves) of an allocation from points per language."""
    fits = {lang: choose([x for x, _ in pts], [y for _, y in pts], cfg.forms, cfg.holdout, cfg.ceiling)
            for lang, pts in points.items()}
    curves = {lang: f.curve for lang, f in fits.items()}
    score = {lang: (lambda x, c=c: float(c(x))) for lang, c in curves.items()}
    caps = {lang: cfg.available.get(lang) for lang in cfg.languages}
    best = allocate(score, cfg.budget, caps, cfg.step, cfg.objective, {l: c.concave for l, c in curves.items()})
    base = uniform(score, cfg.budget, caps, cfg.step)
    fields = {
        "languages": cfg.languages, "metric": cfg.metric, "budget": cfg.budget, "objective": cfg.objective,
        "step": cfg.step, "points": {l: [{"pairs": x, "score": y} for x, y in pts] for l, pts in points.items()},
        "fits": {lang: f.to_json() for lang, f in fits.items()},
        "allocation": best.pairs, "uniform": base.pairs,
        "predicted": {lang: {"allocation": best.scores[lang], "uniform": base.scores[lang]} for lang in cfg.languages},
        "predicted_mean": best.mean, "predicted_mean_uniform": base.mean,
        "predicted_min": best.min, "predicted_min_uniform": base.min,
        "exact": best.exact, "method": best.method,
    }
    return fields, curves


def run_allocation(store: Store, cfg: ScalingConfig, work_root: str | Path, log: Callable[[str], None] = print,
                   endpoint_url: str | None = None) -> StageResult:
    """Fit and allocate (or reuse the committed result of this config and these pilot manifests)."""
    manifests = {r.manifest: read_manifest(r.manifest, endpoint_url) for r in cfg.pilot_results}
    view = cfg.model_dump(mode="json", exclude={"pilot"})  # the pilots enter the key through their manifests

    def body(ctx: StageContext) -> dict:
        points = gather_points(cfg, manifests)
        fields, curves = compute(cfg, points)
        for lang in cfg.languages:
            f = fields["fits"][lang]
            log(f"[allocation] {lang}: {f['chosen']} {f['formula']} ({f['note']}); "
                f"{fields['allocation'][lang]:,} pairs (uniform {fields['uniform'][lang]:,})")
        log(f"[allocation] predicted {cfg.metric}: mean {fields['predicted_mean']:.3f} vs uniform "
            f"{fields['predicted_mean_uniform']:.3f}; min {fields['predicted_min']:.3f} vs {fields['predicted_min_uniform']:.3f}")
        (ctx.out_dir / "allocation.json").write_text(json.dumps(fields, indent=2), encoding="utf-8")
        plot_curves(ctx.out_dir / "curves.png", cfg.name, cfg.metric, points, curves, fields["allocation"], fields["uniform"])
        return {**fields, "plot": "curves.png"}

    return run_stage(store, STAGE, view, list(manifests.values()), body, Path(work_root), log=log)


def allocation_caps(manifest_uri: str, endpoint_url: str | None = None,
                    which: str = "allocation") -> dict[str, int]:
    """Translation pairs per language of a committed allocation stage (`@allocation`): the caps a MuIT
    mixture gives each language's translation component; `which="uniform"`: the even split of the same
    budget (the scaling check's other arm)."""
    manifest = read_manifest(manifest_uri, endpoint_url)
    if manifest.get("stage") != STAGE or not isinstance(manifest.get(which), dict):
        raise InputError(f"{manifest_uri} is not an allocation stage (stage {manifest.get('stage')!r})")
    return {lang: int(n) for lang, n in manifest[which].items()}
