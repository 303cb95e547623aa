"""Dataset card (README.md), statistics and the QE histogram of an instruction mixture."""

from __future__ import annotations

import math
from pathlib import Path

from llammas_core.instructions.config import InstructionsConfig


def quantiles(values: list[float], qs=(0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)) -> dict[str, float]:
    vals = sorted(v for v in values if isinstance(v, (int, float)) and not math.isnan(v))
    if not vals:
        return {}
    out = {}
    for q in qs:
        pos = q * (len(vals) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        out[f"p{int(q * 100)}"] = round(vals[lo] + (vals[hi] - vals[lo]) * (pos - lo), 4)
    return out


def numeric_qe(qe: dict) -> dict[str, float]:
    return {k: float(v) for k, v in (qe or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def qe_histogram(kept: list[dict], removed: list[dict], path: Path) -> bool:
    """One histogram per numeric QE score, kept vs not kept (removed or quarantined) translations;
    False when there is nothing to plot."""
    keys = sorted({k for q in kept + removed for k in numeric_qe(q)})
    if not keys:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    import numpy as np

    for ax, key in zip(axes.flat, keys):
        groups = [([numeric_qe(q)[key] for q in group if key in numeric_qe(q)], label, color)
                  for group, label, color in ((kept, "kept", "tab:green"), (removed, "not kept", "tab:red"))]
        bins = np.histogram_bin_edges([v for vals, _, _ in groups for v in vals], bins=20)  # shared by both groups
        for vals, label, color in groups:
            if vals:
                ax.hist(vals, bins=bins, alpha=0.6, label=f"{label} ({len(vals)})", color=color)
        ax.set_title(key, fontsize=9)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle("QE scores of machine-translated records", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def dataset_card(cfg: InstructionsConfig, stats: dict, demo_translator: bool) -> str:
    """README.md of the output folder: what it holds, where it came from, licences, counts, QE."""
    comps = stats["components"]
    parts = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files: data/*.parquet",
        f"language: [{', '.join(sorted({cfg.source_language, cfg.language}))}]",
        "task_categories: [text-generation]",
        "---",
        f"# {cfg.name}",
        "",
        f"Instruction-tuning mixture for **{cfg.language}** built by the llammas `instructions` stage: "
        f"{stats['counts']['kept']} chat records in `data/*.parquet` (column `messages`: a list of "
        "`{role, content}`; metadata columns `component`, `pool`, `source`, `language`, `origin`, `direction`, "
        "`instruction_language`, `template`, `qe` (JSON) and numeric `qe_*` scores of translated records).",
        "",
        "Load it with `datasets.load_dataset(\"parquet\", data_files=\"data/*.parquet\")`.",
    ]
    if demo_translator:
        parts += ["", "> **Demo data.** The translator is a random-init tiny Marian model built offline: its "
                  "\"translations\" are meaningless; it rarely emits an end token, so most outputs stop at the length cap "
                  "and are quarantined as `mt:output_truncated`, and QE rejects most others. Do not train on this."]
    parts += ["", "## Components", "",
              _table(["component", "pool", "records", "available", "removed", "not sampled"],
                     [[n, c["pool"], c["kept"], c["available"],
                       ", ".join(f"{k} {v}" for k, v in sorted(c["removed"].items())) or "-", c["not_sampled"]]
                      for n, c in comps.items()])]
    parts += ["", "## Sources and licences", ""]
    rows = [[s.name, "instructions", s.language, s.licence, "yes" if s.translate else "no", s.description or "-"]
            for s in cfg.sources]
    rows += [[b.name, f"bitext ({b.format})", f"{cfg.source_language}-{cfg.language}", b.licence, "-", "-"] for b in cfg.bitext]
    parts.append(_table(["name", "kind", "language", "licence", "translated", "description"], rows))
    if cfg.translator is not None:
        parts += ["", f"Machine translation: `{stats.get('translation', {}).get('translator', {})}`. The licence of "
                  "translated records follows the source's and the MT model's terms."]
    parts += ["", "## Counts", "", "Per pool, `in = kept + removed + quarantined` (removed includes records the "
              "mixture did not sample).", "",
              _table(["pool", "in", "kept", "removed", "quarantined"],
                     [[p, v["in"], v["kept"], sum(v["removed"].values()), sum(v["quarantined"].values())]
                      for p, v in stats["pools"].items()])]
    for title, key in (("Removed, by reason", "removed"), ("Quarantined, by reason", "quarantined")):
        counts = stats["counts_by_reason"][key]
        if counts:
            parts += ["", f"### {title}", "", _table(["reason", "records"], sorted(counts.items()))]
    if stats.get("bitext"):
        b = stats["bitext"]
        parts += ["", "## Bitext cleaning", "",
                  f"{b['read']} pairs read, {b['kept']} kept (OpusFilter-style filters, first failing filter counted).", "",
                  _table(["filter", "pairs removed"], sorted(b["removed"].items()) or [["-", 0]])]
    qe = stats.get("qe_distribution") or {}
    if qe:
        parts += ["", "## Quality estimation of translated records", "", "![QE histograms](qe_hist.png)", "",
                  _table(["score", "records"] + list(next(iter(qe.values()))["quantiles"].keys()),
                         [[k, v["n"]] + list(v["quantiles"].values()) for k, v in qe.items()])]
    d = stats["decontamination"]
    parts += ["", "## Decontamination", "",
              (f"Word {d['n']}-gram overlap >= {d['threshold']} with {d['texts']} evaluation texts from "
               f"{len(d['files'])} files ({', '.join(Path(f).name for f in d['files'][:12])}"
               f"{', ...' if len(d['files']) > 12 else ''}); {d['removed']} records/pairs removed.")
              if d["enabled"] and d["files"] else "No evaluation files were available: not decontaminated."]
    return "\n".join(parts) + "\n"
