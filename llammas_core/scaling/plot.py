"""The points and fitted curves of each language, with its allocation marked (PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_curves(path: Path, title: str, metric: str, points: dict[str, list[tuple[int, float]]],
                curves: dict, allocation: dict[str, int], uniform: dict[str, int]) -> None:
    """One line per language: measured points, the chosen curve (solid) over the pilots and the allocation,
    the allocated size (star) and the uniform size (cross)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (lang, pts) in enumerate(sorted(points.items())):
        c = colours[i % len(colours)]
        xs = np.array([p[0] for p in pts], dtype=float)
        ax.scatter(xs, [p[1] for p in pts], color=c, s=18, zorder=3)
        hi = max(xs.max(), allocation.get(lang, 0), uniform.get(lang, 0), 1)
        grid = np.geomspace(max(1.0, xs.min() / 2), hi * 1.5, 200)
        curve = curves[lang]
        ax.plot(grid, curve(grid), color=c, lw=1.4, label=f"{lang}: {curve.form}")
        for x, marker in ((allocation.get(lang), "*"), (uniform.get(lang), "x")):
            if x:
                ax.scatter([x], curve([x]), color=c, marker=marker, s=70 if marker == "*" else 40, zorder=4)
    ax.set_xscale("log")
    ax.set_xlabel("translation pairs X (log)")
    ax.set_ylabel(f"FLORES {metric}")
    ax.set_title(f"{title}: ★ allocation, × uniform")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
