"""What every benchmark here shares, so that a figure holds when measured from outside.

- `pin_threads(n)` before torch (or numpy) is imported: OMP/MKL/OpenBLAS and torch intra/inter-op
  threads all n, so a mode cannot win by taking more cores than the other.
- `abba(modes)` runs the modes in ABBA order (A B C C B A for three), so drift in machine load hits
  every mode alike. Each run records wall seconds and process CPU seconds (all threads, `os.times`, children too:
  the tokenizers library and BLAS run their own threads, so per-core rates divide by CPU seconds).
- `same_work` checks that every run of every mode produced the same outputs.
- `load()` is the 1/5/15-minute load average, printed next to every figure (the machine is shared).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")


def pin_threads(n: int) -> None:
    """Pin BLAS/OpenMP and torch threads to n (call before importing torch where possible)."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already set once in this process (only allowed before any parallel work)
        pass


def load() -> str:
    try:
        return "load avg %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load avg n/a"


def header(threads: int) -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads pinned to {threads} "
            f"(torch {torch.get_num_threads()}), torch {torch.__version__}; {load()}")


@dataclass
class Runs:
    """Per mode: list of (wall s, cpu s, output) in the order they ran."""

    order: list[str] = field(default_factory=list)
    runs: dict[str, list[tuple[float, float, Any]]] = field(default_factory=dict)
    load_before: str = ""
    load_after: str = ""

    def wall(self, mode: str) -> float:
        return sum(r[0] for r in self.runs[mode])

    def cpu(self, mode: str) -> float:
        return sum(r[1] for r in self.runs[mode])

    def outputs(self, mode: str) -> list[Any]:
        return [r[2] for r in self.runs[mode]]


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn: Callable[[], Any], sync: Callable[[], None] | None = None) -> tuple[float, float, Any]:
    """(wall s, CPU s, fn())."""
    if sync:
        sync()
    w, c = time.perf_counter(), cpu_seconds()
    out = fn()
    if sync:
        sync()
    return time.perf_counter() - w, cpu_seconds() - c, out


def abba(modes: dict[str, Callable[[], Any]], rounds: int = 1, sync: Callable[[], None] | None = None) -> Runs:
    """Run every mode 2*rounds times in mirrored order (A B B A, A B C C B A, ...)."""
    names = list(modes)
    seq: list[str] = []
    for _ in range(rounds):
        seq += names + names[::-1]
    res = Runs(order=seq, runs={n: [] for n in names}, load_before=load())
    for name in seq:
        res.runs[name].append(timed(modes[name], sync))
    res.load_after = load()
    return res


def same_work(res: Runs, same: Callable[[Any, Any], bool] | None = None) -> bool:
    """Every run of every mode gave the same output as the first run of the first mode."""
    same = same or (lambda a, b: a == b)
    ref = res.runs[res.order[0]][0][2]
    return all(same(ref, r[2]) for runs in res.runs.values() for r in runs)


__all__ = ["pin_threads", "load", "header", "abba", "same_work", "timed", "cpu_seconds", "Runs"]
