"""Scores per target language: the report's table for a run with several languages (x-LLaMA's MuIT).

Each task belongs to one language and one family: FLORES en→xx and xx→en (the non-English side of the
direction), Belebele, XCOPA, QA (the task's `language`). A family is scored by its primary metric (chrF++
for FLORES, accuracy for Belebele and XCOPA, F1 for QA). `per_language` turns the comparison rows into:
- rows: one per (language, model) with the score of each family and its Δ against the baseline on the same
  items (paired bootstrap, from the comparison rows);
- macro: one per model (or model group: the x-LLaMAs, one per language, as one row), each family's score
  and Δ averaged over the languages that have it (unweighted: every language counts the same).
A model evaluated on one language only (`ModelSpec.languages`, an x-LLaMA) appears in that language's rows.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from llammas_core.evaluate.spec import ModelSpec, TaskSpec

PRIMARY = {"flores": "chrf", "belebele": "acc", "xcopa": "acc", "qa": "f1"}
LABELS = {"belebele": "Belebele", "xcopa": "XCOPA", "qa": "QA"}

__all__ = ["task_language", "task_family", "per_language", "language_tables", "PRIMARY"]


def task_language(task: TaskSpec) -> str | None:
    """The target language a task measures (None: an lm-eval task without a language)."""
    if task.kind == "flores" and task.direction:
        src, tgt = task.direction.split("-")
        return tgt if src == "en" else src
    if task.language:
        return task.language
    if task.kind in ("xcopa", "belebele"):
        from llammas_core.languages import default_target

        return default_target()
    return None


def task_family(task: TaskSpec) -> str | None:
    """The column a task's primary score goes in: 'FLORES en→xx chrf', 'Belebele acc', ..."""
    if task.kind == "flores" and task.direction:
        src = task.direction.split("-")[0]
        side = "en→xx" if src == "en" else "xx→en"
        return f"FLORES {side} {PRIMARY['flores']}"
    if task.kind in LABELS:
        return f"{LABELS[task.kind]} {PRIMARY[task.kind]}"
    return None


def evaluated_on(model: ModelSpec, task: TaskSpec) -> bool:
    """Whether a (model, task) pair is evaluated: a model restricted to languages only on their tasks."""
    return not model.languages or task_language(task) in model.languages


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else None


def per_language(rows: list[dict], tasks: list[TaskSpec], models: list[ModelSpec]) -> dict | None:
    """{families, languages, rows, macro} (see the module docstring), or None for a single-language run."""
    meta = {t.name: (task_language(t), task_family(t)) for t in tasks}
    primary = {t.name: PRIMARY.get(t.kind) for t in tasks}
    langs = list(OrderedDict.fromkeys(lang for lang, fam in meta.values() if lang and fam))
    if len(langs) < 2:
        return None
    families = list(OrderedDict.fromkeys(fam for _, fam in meta.values() if fam))
    group = {m.name: (m.group or m.name) for m in models}
    cells: "OrderedDict[tuple[str, str], dict]" = OrderedDict()
    for lang in langs:
        for m in models:
            if not m.languages or lang in m.languages:
                cells[(lang, m.name)] = {"language": lang, "model": m.name, "group": group[m.name],
                                         "scores": {}, "deltas": {}}
    for r in rows:
        lang, fam = meta.get(r["task"], (None, None))
        if fam is None or r["metric"] != primary[r["task"]] or (lang, r["model"]) not in cells:
            continue
        cell = cells[(lang, r["model"])]
        cell["scores"][fam] = r["score"]
        cell["deltas"][fam] = r.get("delta")
    out_rows = [c for c in cells.values() if c["scores"]]
    macro = []
    for g in OrderedDict.fromkeys(group[m.name] for m in models):
        mine = [c for c in out_rows if c["group"] == g]
        scores = {f: _mean([c["scores"].get(f) for c in mine]) for f in families}
        deltas = {f: _mean([c["deltas"].get(f) for c in mine]) for f in families}
        macro.append({"model": g, "languages": sorted({c["language"] for c in mine}),
                      "scores": {f: v for f, v in scores.items() if v is not None},
                      "deltas": {f: v for f, v in deltas.items() if v is not None}})
    return {"families": families, "languages": langs, "rows": out_rows, "macro": macro}


def _cell(score: float | None, delta: float | None, family: str) -> str:
    if score is None:
        return ""
    d = 2 if "chrf" in family else 3
    text = f"{score:.{d}f}"
    return text if delta is None else f"{text} ({delta:+.{d}f})"


def language_tables(summary: dict, baseline: str) -> tuple[list[dict], list[dict]]:
    """(per-language table, macro-average table) as strings: 'score (Δ vs baseline)' per family."""
    fams = summary["families"]
    rows = [{"language": c["language"], "model": c["model"],
             **{f: _cell(c["scores"].get(f), c["deltas"].get(f), f) for f in fams}} for c in summary["rows"]]
    macro = [{"model": m["model"], "languages": ", ".join(m["languages"]),
              **{f: _cell(m["scores"].get(f), m["deltas"].get(f) if m["model"] != baseline else None, f)
                 for f in fams}} for m in summary["macro"]]
    return rows, macro
