"""The SFT mixture: named components drawn from pools with a record cap or a weight, seeded.

Allocation (`plan`): a component with `max_records` gets min(cap, pool size); one with neither cap
nor weight gets its whole pool; the weighted components share `total` minus the capped/whole
components' records in proportion to their weights (largest remainder, so the sum is exact).
No record is repeated: a pool smaller than its share gives all it has, and the shortfall is
reported in the statistics.

Sampling (`build_mixture`): each component walks its pool in a seeded permutation (seed and
component name), converts each record to chat `messages` (templates.to_messages), and takes it
unless it overlaps the evaluation sets (`contaminated`) or repeats the content of a record already in
the mixture (`duplicate`, exact after whitespace normalisation, first component wins), until its
planned count is reached. Records it never reached are counted as `not_sampled` (not written).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from llammas_core.errors import ConfigError
from llammas_core.instructions.config import Component, MixtureConfig
from llammas_core.instructions.templates import to_messages


class LazyPool(Sequence):
    """A pool whose records are built on access (translation-task records from 1M pairs)."""

    def __init__(self, n: int, make: Callable[[int], dict]):
        self.n, self.make = n, make

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.make(i)


@dataclass
class ComponentStats:
    pool: str
    available: int
    planned: int
    kept: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    not_sampled: int = 0

    @property
    def shortfall(self) -> int:
        return max(0, self.planned - self.kept)

    def as_dict(self) -> dict:
        return {"pool": self.pool, "available": self.available, "planned": self.planned, "kept": self.kept,
                "removed": dict(self.removed), "not_sampled": self.not_sampled, "shortfall": self.shortfall}


def plan(components: list[Component], sizes: dict[str, int], total: int | None) -> dict[str, int]:
    """Planned record count per component name (see the module docstring)."""
    out: dict[str, int] = {}
    weighted = [c for c in components if c.weight is not None]
    for c in components:
        if c.max_records is not None:
            out[c.name] = min(c.max_records, sizes[c.pool])
        elif c.weight is None:
            out[c.name] = sizes[c.pool]
    if weighted:
        rest = (total or 0) - sum(out.values())
        if rest < 0:
            raise ConfigError(f"mixture.total {total} is smaller than the capped components' {sum(out.values())} records")
        wsum = sum(c.weight for c in weighted)
        exact = [rest * c.weight / wsum for c in weighted]
        counts = [math.floor(x) for x in exact]
        order = sorted(range(len(weighted)), key=lambda i: (-(exact[i] - counts[i]), i))
        for i in order[: rest - sum(counts)]:
            counts[i] += 1
        for c, n in zip(weighted, counts):
            out[c.name] = n
    return out


def content_key(rec: dict) -> str:
    """Identity of a record's content (not of its rendered prompt, whose template varies): the
    instruction/input/output, or the roles and contents of a chat, whitespace-normalised."""
    if rec["kind"] == "chat":
        canon = [[m["role"], " ".join(m["content"].split())] for m in rec["messages"]]
    else:
        canon = [" ".join(rec[k].split()) for k in ("instruction", "input", "output")]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode()).hexdigest()


def build_mixture(pools: dict[str, Sequence[dict]], cfg: MixtureConfig, index=None, threshold: float = 0.5,
                  on_removed: Callable[[dict, str, str], None] | None = None) -> tuple[list[dict], dict[str, ComponentStats]]:
    """(rows, stats per component). Rows are records with `messages` and `component` added."""
    components = cfg.components or [Component(name=p.replace("@", "_"), pool=p) for p in pools]
    sizes = {name: len(pool) for name, pool in pools.items()}
    planned = plan(components, sizes, cfg.total)
    seen: set[str] = set()
    rows: list[dict] = []
    stats: dict[str, ComponentStats] = {}
    for comp in components:
        pool = pools[comp.pool]
        st = stats[comp.name] = ComponentStats(comp.pool, len(pool), planned[comp.name])
        order = list(range(len(pool)))
        random.Random(f"{cfg.seed}:{comp.name}").shuffle(order)
        visited = 0
        for i in order:
            if st.kept >= st.planned:
                break
            visited += 1
            rec = pool[i]
            messages = to_messages(rec, cfg.prompts.seed, cfg.prompts.system_prompt, cfg.prompts.style)
            reason = None
            if index is not None and any(index.contaminated(m["content"] + "\n" + m.get("input", ""), threshold)
                                         for m in messages):  # an Alpaca-style turn keeps its input apart
                reason = "contaminated"
            elif cfg.dedup:
                key = content_key(rec)
                if key in seen:
                    reason = "duplicate"
                else:
                    seen.add(key)
            if reason is not None:
                st.removed[reason] = st.removed.get(reason, 0) + 1
                if on_removed is not None:
                    on_removed({**rec, "messages": messages}, comp.name, reason)
                continue
            st.kept += 1
            rows.append({**rec, "messages": messages, "component": comp.name, "pool": comp.pool})
        st.not_sampled = len(pool) - visited
    random.Random(f"{cfg.seed}:order").shuffle(rows)
    return rows, stats
