"""The comparison report: report.md, a self-contained report.html and scores.png.

Input is the rows of `bootstrap.compare` (task, metric, model, score, CI, delta vs the baseline with
its CI and p-value), the contamination rows and a little context (models, signatures). Both formats are
rendered from ONE list of sections (`sections`), so Markdown and HTML always carry the same content.
The HTML inlines its CSS and embeds the plot as base64 PNG: it opens from a store, a mail attachment
or a Prefect artifact with nothing else fetched.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections import OrderedDict
from pathlib import Path

from llammas_core.evaluate.bootstrap import DELTA_METHOD, significant
from llammas_core.evaluate.by_language import language_tables

__all__ = ["fmt", "fmt_p", "chance_level", "sections", "markdown_report", "html_report", "plot_scores",
           "plot_languages", "PLOTS", "write_report", "table_rows", "contamination_table"]

# Chance accuracy of the shipped multiple-choice tasks: 2 choices (XCOPA), 4 choices (Belebele).
CHANCE = {("xcopa", "acc"): 0.5, ("belebele", "acc"): 0.25, ("belebele", "acc_norm"): 0.25}


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return ""
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return f"{x:.{digits}f}"


def fmt_p(p: float | None, samples: int | None = None) -> str:
    """'< 0.001' below 0.001; p = 0 (no resample crossed 0) as '< 1/B'; else three decimals."""
    if p is None:
        return ""
    if isinstance(p, float) and math.isnan(p):
        return "nan"
    if p == 0 and samples:
        bound = 1.0 / samples
        return "< 0.001" if bound <= 0.001 else f"< {bound:.3g}"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def chance_level(kind: str, metric: str) -> float | None:
    return CHANCE.get((kind, metric))


def _digits(metric_rows: list[dict]) -> int:
    """3 decimals for 0..1 metrics (accuracy), 2 for 0..100 ones (BLEU, chrF++)."""
    vals = [abs(r["score"]) for r in metric_rows if r["score"] is not None and not math.isnan(r["score"])]
    return 3 if not vals or max(vals) <= 1.0 else 2


def table_rows(rows: list[dict], confidence: float = 0.95, samples: int | None = None) -> list[dict]:
    """Rows as strings for tables (Markdown, HTML, the Prefect table artifact). `sig.` marks p < 1 -
    confidence, which is exactly a Δ interval excluding 0 (bootstrap.delta_interval)."""
    out = []
    pct = f"{confidence * 100:g}%"
    for (task, metric), group in _groups(rows).items():
        d = _digits(group)
        for r in group:
            chance = chance_level(r.get("kind", ""), metric)
            out.append({
                "task": task, "metric": metric, "model": r["model"], "n": str(r["n"]),
                "score": fmt(r["score"], d), "chance": "" if chance is None else fmt(chance, d),
                f"{pct} CI": f"[{fmt(r['ci_low'], d)}, {fmt(r['ci_high'], d)}]",
                f"Δ vs {r['baseline']}": ("" if r["delta"] is None else f"{r['delta']:+.{d}f}"),
                f"Δ {pct} CI": ("" if r["delta"] is None else f"[{fmt(r['delta_low'], d)}, {fmt(r['delta_high'], d)}]"),
                "p": fmt_p(r["p_value"], samples),
                "sig.": "*" if significant(r["p_value"], confidence) else "",
            })
    return out


def _groups(rows: list[dict]) -> "OrderedDict[tuple[str, str], list[dict]]":
    groups: OrderedDict[tuple[str, str], list[dict]] = OrderedDict()
    for r in rows:
        groups.setdefault((r["task"], r["metric"]), []).append(r)
    return groups


def _coverage(r: dict) -> str:
    """Documents scanned of the source's total: the check reads at most `max_scan` documents per source."""
    scanned, total = r.get("docs_scanned"), r.get("docs_total")
    if scanned is None:
        return ""
    if total is not None:
        return f"{scanned} of {total}"
    return f"{scanned} of {scanned} (all)" if r.get("scan_complete") else f"first {scanned} of more (total unknown)"


def contamination_table(rows: list[dict]) -> list[dict]:
    """The contamination rows as strings: items are the evaluation items scored (after `limit`)."""
    out = []
    for r in rows:
        items = r.get("items", r.get("texts"))
        out.append({
            "eval set": r["eval_set"], "items scored": str(items),
            "items with any overlap": str(r.get("items_any_overlap", r.get("texts_any_overlap"))),
            "items contaminated": str(r.get("items_contaminated", r.get("texts_contaminated"))),
            "fraction contaminated": f"{r['fraction_contaminated']:.3f}",
            "training source": r["source"], "source kind": r["source_kind"],
            "docs scanned (of total)": _coverage(r), "docs sampled": str(r["docs_sampled"]),
            **({"error": r["error"]} if r.get("error") else {}),
        })
    return out


def _not_scored_rows(items: list[dict]) -> list[dict]:
    """Skipped metrics with their reasons, one row per (task, metric, reason) with the models it concerns."""
    grouped: OrderedDict[tuple[str, str, str], list[str]] = OrderedDict()
    for it in items:
        grouped.setdefault((it["task"], it["metric"], it["reason"]), []).append(it["model"])
    return [{"task": t, "metric": m, "models": ", ".join(ms), "reason": r} for (t, m, r), ms in grouped.items()]


def sections(rows: list[dict], context: dict, contamination: list[dict] | None, plots=()) -> list[dict]:
    """The report's sections, in order, for both renderers: {"title", "text"?, "table"?, "code_items"?,
    "plot"?} ("plot": a key of PLOTS, among the `plots` drawn). Markdown and HTML differ in markup only,
    never in content."""
    conf = context.get("confidence", 0.95)
    pct = f"{conf * 100:g}%"
    intro = (f"Baseline: {context.get('baseline')}. Scores with {pct} percentile bootstrap intervals "
             f"({context.get('samples')} resamples, seed {context.get('seed')}); Δ is the difference to the baseline "
             f"on the same resampled items. Method: {DELTA_METHOD} (sig. * marks p < {1 - conf:.2g}). "
             "'chance' is the score of a uniform random guess (XCOPA 2 choices, Belebele 4).")
    out: list[dict] = [{"title": "", "text": intro},
                       {"title": "Models", "table": [{"model": m["name"], "path": m.get("path", ""),
                                                      "identity": m.get("identity", "")}
                                                     for m in context.get("models", [])]},
                       {"title": "Results", "table": table_rows(rows, conf, context.get("samples")),
                        "plot": "scores" if "scores" in plots else None}]
    summary = context.get("per_language")
    if summary:
        by_lang, macro = language_tables(summary, context.get("baseline"))
        out.insert(2, {"title": "Per language",
                       "text": f"Primary metric of each task family per target language ({', '.join(summary['languages'])}); "
                               f"in brackets the paired Δ vs {context.get('baseline')} on the same items. A model "
                               "trained for one language (x-LLaMA) is evaluated on that language only.",
                       "table": by_lang, "plot": "languages" if "languages" in plots else None})
        out.insert(3, {"title": "Macro average over languages",
                       "text": "Each family's score and Δ averaged over the languages that have it, every language "
                               "weighted the same; the per-language models of one kind (x-LLaMA) share a row.",
                       "table": macro})
    if context.get("skipped_tasks"):
        out.append({"title": "Not evaluated", "table": [{"task": t.split(": ", 1)[0], "reason": t.split(": ", 1)[-1]}
                                                        for t in context["skipped_tasks"]]})
    if contamination is not None:
        c = context.get("contamination") or {}
        text = (f"Word n-grams of n-gram size {c.get('n')}. An evaluation item counts as contaminated when at "
                f"least {c.get('threshold')} of the n-grams of one of its texts occur in the training documents "
                "sampled from each model's lineage")
        if c.get("max_scan"):
            text += (f"; each source is read up to its first {c['max_scan']} documents, of which up to "
                     f"{c.get('sample_docs')} are sampled (seeded reservoir)")
        out.append({"title": "Contamination (word n-gram overlap with training data)", "text": text + ".",
                    "table": contamination_table(contamination)})
    if context.get("not_scored"):
        out.append({"title": "Not scored", "table": _not_scored_rows(context["not_scored"])})
    sigs = context.get("signatures") or {}
    if sigs:
        out.append({"title": "Signatures", "code_items": [(k, str(v)) for k, v in sorted(sigs.items())]})
    if context.get("results"):
        out.append({"title": "Result stages",
                    "code_items": [(f"{r['model']} / {r['task']}", r["uri"]) for r in context["results"]]})
    return out


def _md_table(rows: list[dict]) -> list[str]:
    if not rows:
        return ["(none)"]
    cols = list(rows[0].keys())
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(esc(r.get(c, "")) for c in cols) + " |" for r in rows]
    return lines


def _alt(plot: str, context: dict) -> str:
    return PLOTS[plot][1].format(pct=f"{context.get('confidence', 0.95) * 100:g}%")


def markdown_report(title: str, rows: list[dict], context: dict, contamination: list[dict] | None,
                    plots: dict[str, str] | None = None) -> str:
    """`plots`: the drawn plots' file names by key of PLOTS (linked relative to report.md)."""
    plots = plots or {}
    lines = [f"# {title}"]
    for sec in sections(rows, context, contamination, plots):
        lines.append("")
        if sec["title"]:
            lines += [f"## {sec['title']}", ""]
        if "text" in sec:
            lines.append(sec["text"])
            if "table" in sec:
                lines.append("")
        if "table" in sec:
            lines += _md_table(sec["table"])
        if sec.get("plot"):
            lines += ["", f"![{_alt(sec['plot'], context)}]({plots[sec['plot']]})"]
        for k, v in sec.get("code_items", []):
            lines.append(f"- {k}: `{v}`")
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.sig td{background:#eef8ee}
code{font-size:.85em;background:#f6f6f6;padding:0 .2em}img{max-width:100%}
"""

# a number, an interval "[a, b]", a signed delta or "< 0.001": right-aligned; paths, names, text: left
_NUMERIC = re.compile(r"(< )?\[?[+-]?(\d+(\.\d+)?|nan)(, [+-]?(\d+(\.\d+)?|nan)\])?")


def _html_table(rows: list[dict]) -> str:
    if not rows:
        return "<p>(none)</p>"
    cols = list(rows[0].keys())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cls = ' class="sig"' if r.get("sig.") == "*" else ""
        cells = "".join(
            f'<td class="num">{html.escape(str(r.get(c, "")))}</td>' if _NUMERIC.fullmatch(str(r.get(c, "")))
            else f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_report(title: str, rows: list[dict], context: dict, contamination: list[dict] | None,
                pngs: dict[str, bytes] | None = None) -> str:
    """`pngs`: the drawn plots by key of PLOTS (embedded as base64)."""
    pngs = pngs or {}
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for sec in sections(rows, context, contamination, pngs):
        if sec["title"]:
            parts.append(f"<h2>{html.escape(sec['title'])}</h2>")
        if "text" in sec:
            parts.append(f"<p>{html.escape(sec['text'])}</p>")
        if "table" in sec:
            parts.append(_html_table(sec["table"]))
        if sec.get("plot"):
            data = base64.b64encode(pngs[sec["plot"]]).decode()
            parts.append(f'<img alt="{html.escape(_alt(sec["plot"], context))}" src="data:image/png;base64,{data}">')
        if sec.get("code_items"):
            parts.append("<ul>" + "".join(f"<li>{html.escape(k)}: <code>{html.escape(v)}</code></li>"
                                          for k, v in sec["code_items"]) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _panels(k: int, panel_width: float):
    """pyplot and a figure of k panels, at most 4 a row."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ncols = min(4, max(1, k))
    nrows = max(1, math.ceil(k / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_width * ncols, 2.8 * nrows), squeeze=False)
    return plt, fig, axes


def _png(plt, fig, axes, used: int, title: str) -> bytes:
    """The figure as PNG bytes, its unused panels hidden."""
    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def plot_scores(rows: list[dict], confidence: float = 0.95) -> bytes:
    """PNG bytes: one panel per (task, metric), a bar per model with its CI as error bars."""
    groups = _groups(rows)
    plt, fig, axes = _panels(len(groups), 3.2)
    models = list(OrderedDict.fromkeys(r["model"] for r in rows))
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(models)}
    for ax, ((task, metric), group) in zip(axes.flat, groups.items()):
        names = [r["model"] for r in group]
        scores = [r["score"] for r in group]
        lo = [max(0.0, r["score"] - r["ci_low"]) if not math.isnan(r["ci_low"]) else 0.0 for r in group]
        hi = [max(0.0, r["ci_high"] - r["score"]) if not math.isnan(r["ci_high"]) else 0.0 for r in group]
        ax.bar(range(len(names)), scores, yerr=[lo, hi], capsize=4, color=[colors[n] for n in names])
        ax.set_xticks(range(len(names)), names, rotation=20)
        ax.set_title(f"{task}\n{metric}", fontsize=9)
        ax.tick_params(labelsize=8)
    return _png(plt, fig, axes, len(groups), f"scores with {int(confidence * 100)}% bootstrap CI")


def plot_languages(summary: dict) -> bytes:
    """PNG bytes: one panel per task family, its primary score per target language, a bar per model
    (the x-LLaMAs, one per language, as one series)."""
    fams, langs = summary["families"], summary["languages"]
    series = list(OrderedDict.fromkeys(c["group"] for c in summary["rows"]))
    plt, fig, axes = _panels(len(fams), 3.4)
    width = 0.8 / max(1, len(series))
    for ax, fam in zip(axes.flat, fams):
        for i, group in enumerate(series):
            scores = {c["language"]: c["scores"].get(fam) for c in summary["rows"] if c["group"] == group}
            xs = [j + i * width for j, lang in enumerate(langs) if scores.get(lang) is not None]
            ys = [scores[lang] for lang in langs if scores.get(lang) is not None]
            ax.bar(xs, ys, width, label=group, color=plt.get_cmap("tab10")(i % 10))
        ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(langs))], langs)
        ax.set_title(fam, fontsize=9)
        ax.tick_params(labelsize=8)
    axes.flat[0].legend(fontsize=7)
    return _png(plt, fig, axes, len(fams), "primary score per target language")


# key -> (file name, alt text): the plots a report can hold
PLOTS = {"scores": ("scores.png", "scores with {pct} CI"),
         "languages": ("languages.png", "primary score per target language")}


def write_report(out_dir: Path, title: str, rows: list[dict], context: dict,
                 contamination: list[dict] | None) -> dict:
    """report.md, report.html (self-contained), scores.png (languages.png with several target languages)
    and comparison.json into out_dir."""
    import json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {}
    if rows:
        pngs["scores"] = plot_scores(rows, context.get("confidence", 0.95))
    if context.get("per_language"):
        pngs["languages"] = plot_languages(context["per_language"])
    for key, png in pngs.items():
        (out_dir / PLOTS[key][0]).write_bytes(png)
    names = {key: PLOTS[key][0] for key in pngs}
    (out_dir / "report.md").write_text(markdown_report(title, rows, context, contamination, names), encoding="utf-8")
    (out_dir / "report.html").write_text(html_report(title, rows, context, contamination, pngs), encoding="utf-8")
    (out_dir / "comparison.json").write_text(json.dumps({"rows": rows, "contamination": contamination,
                                                         "context": context}, indent=2, default=str),
                                             encoding="utf-8")
    return {"report": "report.md", "html": "report.html", "plot": names.get("scores"),
            "language_plot": names.get("languages"), "comparison": "comparison.json"}
