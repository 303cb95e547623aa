"""Allocation of a budget C of translation pairs across languages under fitted scaling curves.

Σ x_l = C, 0 <= x_l <= cap_l, x_l a multiple of `step` pairs. Objectives:
- `mean`: maximise the mean predicted score. Marginal-gain water-filling: give the next step to the language
  whose score rises most. For concave curves this greedy is exact (a separable concave objective over a
  grid: each language's marginal gains decrease, so the C/step largest gains across languages are taken);
  otherwise the greedy result is improved by pairwise moves until none helps, and reported as not exact.
- `min`: maximise the minimum predicted score: the next step goes to the language scoring lowest (ties: the
  larger gain). For non-decreasing curves this is exact; budget left once the lowest is capped still has to be
  spent (Σ x_l = C) and goes by marginal gain.
Uniform allocation (the baseline): round-robin steps over the languages not yet capped.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable, Mapping

from llammas_core.errors import ConfigError

Score = Callable[[float], float]


@dataclass
class Allocation:
    pairs: dict[str, int]
    scores: dict[str, float]
    exact: bool
    method: str

    @property
    def mean(self) -> float:
        return sum(self.scores.values()) / len(self.scores)

    @property
    def min(self) -> float:
        return min(self.scores.values())


def units(budget: int, caps: Mapping[str, int | None], step: int) -> tuple[int, dict[str, int]]:
    """(budget in steps, cap of each language in steps); clear errors for budgets that cannot be met."""
    if not caps:
        raise ConfigError("allocation needs at least one language")
    if step < 1:
        raise ConfigError(f"allocation step must be at least 1 pair (got {step})")
    if budget < 0 or budget % step:
        raise ConfigError(f"budget {budget:,} is not a non-negative multiple of the step {step:,} pairs")
    n = budget // step
    cap_units = {lang: n if cap is None else int(cap) // step for lang, cap in caps.items()}
    if any(c < 0 for c in cap_units.values()):
        raise ConfigError("pairs available for a language cannot be negative")
    if sum(cap_units.values()) < n:
        raise ConfigError(f"budget {budget:,} pairs exceeds what the languages have available "
                          f"({sum(cap_units.values()) * step:,} pairs in steps of {step:,})")
    return n, cap_units


def _result(x: dict[str, int], score: Mapping[str, Score], step: int, exact: bool, method: str) -> Allocation:
    return Allocation({l: k * step for l, k in x.items()}, {l: float(score[l](x[l] * step)) for l in x}, exact, method)


def _greedy_mean(score, n, caps, step) -> dict[str, int]:
    x = {l: 0 for l in caps}
    gain = lambda l: float(score[l]((x[l] + 1) * step) - score[l](x[l] * step))  # noqa: E731
    heap = [(-gain(l), i, l) for i, l in enumerate(caps) if caps[l] > 0]
    heapq.heapify(heap)
    order = {l: i for i, l in enumerate(caps)}
    for _ in range(n):
        _, _, l = heapq.heappop(heap)
        x[l] += 1
        if x[l] < caps[l]:
            heapq.heappush(heap, (-gain(l), order[l], l))
    return x


def _improve(score, x, caps, step, objective: Callable[[dict[str, int]], float]) -> dict[str, int]:
    """Move one step between two languages while that raises the objective (a check on the greedy)."""
    value = objective(x)
    improved = True
    while improved:
        improved = False
        for a in x:
            for b in x:
                if a == b or x[a] == 0 or x[b] >= caps[b]:
                    continue
                x[a] -= 1
                x[b] += 1
                v = objective(x)
                if v > value + 1e-12:
                    value, improved = v, True
                else:
                    x[a] += 1
                    x[b] -= 1
    return x


def allocate(score: Mapping[str, Score], budget: int, caps: Mapping[str, int | None], step: int = 1,
             objective: str = "mean", concave: Mapping[str, bool] | None = None) -> Allocation:
    """The allocation of `budget` pairs maximising the objective (`mean` or `min`) of the predicted scores."""
    n, cap_units = units(budget, {l: caps.get(l) for l in score}, step)
    mean_of = lambda x: sum(float(score[l](x[l] * step)) for l in x) / len(x)  # noqa: E731
    all_concave = all((concave or {}).get(l, False) for l in score)
    if objective == "mean":
        x = _greedy_mean(score, n, cap_units, step)
        if all_concave:
            return _result(x, score, step, True, "water-filling (exact: concave curves)")
        x = _improve(score, x, cap_units, step, mean_of)
        return _result(x, score, step, False, "greedy + pairwise moves (a curve is not concave: not proven optimal)")
    if objective != "min":
        raise ConfigError(f"unknown allocation objective {objective!r}; use mean or min")
    x = {l: 0 for l in score}
    for _ in range(n):
        open_ = [l for l in x if x[l] < cap_units[l]]
        lowest = min(float(score[l](x[l] * step)) for l in open_)
        capped_low = any(float(score[l](x[l] * step)) < lowest for l in x if l not in open_)
        pool = open_ if capped_low else [l for l in open_ if float(score[l](x[l] * step)) <= lowest + 1e-12]
        # the minimum cannot rise past a capped language: spend the rest by marginal gain
        best = max(pool, key=lambda l: float(score[l]((x[l] + 1) * step) - score[l](x[l] * step)))
        x[best] += 1
    monotone = all(float(score[l]((k + 1) * step)) >= float(score[l](k * step)) for l in x for k in range(cap_units[l]))
    return _result(x, score, step, monotone, "raise the lowest" + ("" if monotone else " (a curve falls: not proven optimal)"))


def uniform(score: Mapping[str, Score], budget: int, caps: Mapping[str, int | None], step: int = 1) -> Allocation:
    """Equal shares: steps round-robin over the languages that still have pairs available."""
    n, cap_units = units(budget, {l: caps.get(l) for l in score}, step)
    x = {l: 0 for l in score}
    langs = list(score)
    i = 0
    while n:
        l = langs[i % len(langs)]
        if x[l] < cap_units[l]:
            x[l] += 1
            n -= 1
        i += 1
    return _result(x, score, step, True, "uniform")
