"""The comparison report: report.md, a self-contained report.html and scores.png.

Input is the rows of `bootstrap.compare` (task, metric, model, score, CI, delta vs the baseline with
its CI and p-value), the contamination rows and a little context (models, signatures). The HTML
inlines its CSS and embeds the plot as base64 PNG: it opens from a store, a mail attachment or a
Prefect artifact with nothing else fetched.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import OrderedDict
from pathlib import Path

__all__ = ["fmt", "markdown_report", "html_report", "plot_scores", "write_report", "table_rows"]


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return ""
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return f"{x:.{digits}f}"


def _digits(metric_rows: list[dict]) -> int:
    """3 decimals for 0..1 metrics (accuracy), 2 for 0..100 ones (BLEU, chrF++)."""
    vals = [abs(r["score"]) for r in metric_rows if r["score"] is not None and not math.isnan(r["score"])]
    return 3 if not vals or max(vals) <= 1.0 else 2


def table_rows(rows: list[dict]) -> list[dict]:
    """Rows as strings for tables (Markdown, HTML, the Prefect table artifact)."""
    out = []
    for (task, metric), group in _groups(rows).items():
        d = _digits(group)
        for r in group:
            out.append({
                "task": task, "metric": metric, "model": r["model"], "n": str(r["n"]),
                "score": fmt(r["score"], d),
                "95% CI": f"[{fmt(r['ci_low'], d)}, {fmt(r['ci_high'], d)}]",
                f"Δ vs {r['baseline']}": ("" if r["delta"] is None else f"{r['delta']:+.{d}f}"),
                "Δ 95% CI": ("" if r["delta"] is None else f"[{fmt(r['delta_low'], d)}, {fmt(r['delta_high'], d)}]"),
                "p": ("" if r["p_value"] is None else f"{r['p_value']:.3g}"),
                "sig.": ("" if r["p_value"] is None else ("*" if r["p_value"] < 0.05 else "")),
            })
    return out


def _groups(rows: list[dict]) -> "OrderedDict[tuple[str, str], list[dict]]":
    groups: OrderedDict[tuple[str, str], list[dict]] = OrderedDict()
    for r in rows:
        groups.setdefault((r["task"], r["metric"]), []).append(r)
    return groups


def _md_table(rows: list[dict]) -> list[str]:
    if not rows:
        return ["(none)"]
    cols = list(rows[0].keys())
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(esc(r[c]) for c in cols) + " |" for r in rows]
    return lines


def _contamination_rows(rows: list[dict]) -> list[dict]:
    return [{
        "eval set": r["eval_set"], "training source": r["source"], "kind": r["source_kind"],
        "docs sampled": str(r["docs_sampled"]), "texts": str(r["texts"]),
        "any overlap": str(r["texts_any_overlap"]), "contaminated": str(r["texts_contaminated"]),
        "fraction": f"{r['fraction_contaminated']:.3f}", **({"error": r["error"]} if r.get("error") else {}),
    } for r in rows]


def _not_scored_rows(items: list[dict]) -> list[dict]:
    """Skipped metrics with their reasons, one row per (task, metric, reason) with the models it concerns."""
    grouped: OrderedDict[tuple[str, str, str], list[str]] = OrderedDict()
    for it in items:
        grouped.setdefault((it["task"], it["metric"], it["reason"]), []).append(it["model"])
    return [{"task": t, "metric": m, "models": ", ".join(ms), "reason": r} for (t, m, r), ms in grouped.items()]


def markdown_report(title: str, rows: list[dict], context: dict, contamination: list[dict] | None,
                    plot_name: str | None = "scores.png") -> str:
    conf = context.get("confidence", 0.95)
    lines = [f"# {title}", ""]
    lines += [f"Baseline: **{context.get('baseline')}**. Scores with {int(conf * 100)}% percentile bootstrap "
              f"intervals ({context.get('samples')} resamples, seed {context.get('seed')}); Δ is the paired "
              "bootstrap difference to the baseline on the same resampled items, p its two-sided p-value "
              "(* p < 0.05).", ""]
    lines += ["## Models", ""]
    lines += _md_table([{"model": m["name"], "path": m.get("path", ""), "identity": m.get("identity", "")}
                        for m in context.get("models", [])])
    lines += ["", "## Results", ""]
    lines += _md_table(table_rows(rows))
    if plot_name:
        lines += ["", f"![scores with {int(conf * 100)}% CI]({plot_name})"]
    if contamination is not None:
        lines += ["", "## Contamination (word n-gram overlap with training data)", ""]
        c = context.get("contamination") or {}
        lines += [f"n = {c.get('n')}, a text counts as contaminated at overlap >= {c.get('threshold')}; "
                  "training sources sampled from each model's lineage.", ""]
        lines += _md_table(_contamination_rows(contamination))
    if context.get("not_scored"):
        lines += ["", "## Not scored", ""]
        lines += _md_table(_not_scored_rows(context["not_scored"]))
    sigs = context.get("signatures") or {}
    if sigs:
        lines += ["", "## Signatures", ""]
        lines += [f"- {k}: `{v}`" for k, v in sorted(sigs.items())]
    if context.get("results"):
        lines += ["", "## Result stages", ""]
        lines += [f"- {r['model']} / {r['task']}: `{r['uri']}`" for r in context["results"]]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.sig td{background:#eef8ee}
code{font-size:.85em;background:#f6f6f6;padding:0 .2em}img{max-width:100%}
"""


def _html_table(rows: list[dict]) -> str:
    if not rows:
        return "<p>(none)</p>"
    cols = list(rows[0].keys())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cls = ' class="sig"' if r.get("sig.") == "*" else ""
        cells = "".join(
            f'<td class="num">{html.escape(str(r[c]))}</td>' if c not in ("task", "metric", "model", "eval set",
                                                                           "training source", "kind", "error", "models",
                                                                           "reason")
            else f"<td>{html.escape(str(r[c]))}</td>" for c in cols)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_report(title: str, rows: list[dict], context: dict, contamination: list[dict] | None,
                png: bytes | None) -> str:
    conf = context.get("confidence", 0.95)
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             f"<p>Baseline: <b>{html.escape(str(context.get('baseline')))}</b>. Scores with {int(conf * 100)}% "
             f"percentile bootstrap intervals ({context.get('samples')} resamples, seed {context.get('seed')}); "
             "Δ is the paired bootstrap difference to the baseline on the same resampled items, p its two-sided "
             "p-value (highlighted: p &lt; 0.05).</p>",
             "<h2>Models</h2>",
             _html_table([{"model": m["name"], "path": m.get("path", ""), "identity": m.get("identity", "")}
                          for m in context.get("models", [])]),
             "<h2>Results</h2>", _html_table(table_rows(rows))]
    if png:
        data = base64.b64encode(png).decode()
        parts.append(f'<img alt="scores with {int(conf * 100)}% CI" src="data:image/png;base64,{data}">')
    if contamination is not None:
        c = context.get("contamination") or {}
        parts += ["<h2>Contamination (word n-gram overlap with training data)</h2>",
                  f"<p>n = {c.get('n')}, contaminated at overlap &ge; {c.get('threshold')}.</p>",
                  _html_table(_contamination_rows(contamination))]
    if context.get("not_scored"):
        parts += ["<h2>Not scored</h2>", _html_table(_not_scored_rows(context["not_scored"]))]
    sigs = context.get("signatures") or {}
    if sigs:
        parts.append("<h2>Signatures</h2><ul>" + "".join(
            f"<li>{html.escape(k)}: <code>{html.escape(str(v))}</code></li>" for k, v in sorted(sigs.items())) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def plot_scores(rows: list[dict], confidence: float = 0.95) -> bytes:
    """PNG bytes: one panel per (task, metric), a bar per model with its CI as error bars."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    groups = _groups(rows)
    k = max(1, len(groups))
    ncols = min(4, k)
    nrows = math.ceil(k / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
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
    for ax in list(axes.flat)[k:]:
        ax.set_visible(False)
    fig.suptitle(f"scores with {int(confidence * 100)}% bootstrap CI", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write_report(out_dir: Path, title: str, rows: list[dict], context: dict,
                 contamination: list[dict] | None) -> dict:
    """report.md, report.html (self-contained), scores.png and comparison.json into out_dir."""
    import json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot_scores(rows, context.get("confidence", 0.95)) if rows else None
    if png:
        (out_dir / "scores.png").write_bytes(png)
    (out_dir / "report.md").write_text(markdown_report(title, rows, context, contamination,
                                                       "scores.png" if png else None), encoding="utf-8")
    (out_dir / "report.html").write_text(html_report(title, rows, context, contamination, png), encoding="utf-8")
    (out_dir / "comparison.json").write_text(json.dumps({"rows": rows, "contamination": contamination,
                                                         "context": context}, indent=2, default=str),
                                             encoding="utf-8")
    return {"report": "report.md", "html": "report.html", "plot": "scores.png" if png else None,
            "comparison": "comparison.json"}
