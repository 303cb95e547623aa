"""Per-record accounting of the instructions stage: in = kept + removed + quarantined for every pool,
whatever the number of duplicate and contaminated records (issue 13, defect 1)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from llammas_core.instructions.config import InstructionsConfig
from llammas_core.instructions.stage import run_instructions
from llammas_core.store import LocalStore

EVAL = "The committee of independent auditors published its final verdict on the northern railway project."


def _record(i: int) -> dict:
    return {"instruction": f"Describe item number {i} in one sentence.", "input": "",
            "output": f"Item {i} is a small wooden box with a brass lock and a painted lid."}


def _run(tmp: Path, records: list, extra: dict | None = None):
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" if isinstance(r, dict) else r for r in records))
    (tmp / "eval.jsonl").write_text(json.dumps({"sentence": EVAL}) + "\n")
    cfg = InstructionsConfig.model_validate({
        "sources": [{"name": "alp", "paths": [str(tmp / "pool.jsonl")]}],
        "decontamination": {"eval_files": [str(tmp / "eval.jsonl")]},
        **(extra or {}),
    })
    return run_instructions(LocalStore(tmp / "store"), cfg, tmp / "work", lambda s: None).manifest


def _check(m: dict) -> None:
    for pool, a in m["pools"].items():
        assert a["in"] == a["kept"] + sum(a["removed"].values()) + sum(a["quarantined"].values()), (pool, a)
    c = m["counts"]
    assert c["in"] == c["kept"] + c["removed"] + c["quarantined"]


@pytest.mark.parametrize("copies", [3, 10_000])
def test_many_copies_of_one_alpaca_record(tmp_path, copies):
    # the pools: 3 copies gave "in 7 != 6", 10,000 copies "in 10011 != 13"
    records = [_record(0)] * copies + [_record(i) for i in range(1, 9)] + [{"instruction": "x", "output": EVAL}] * 3
    m = _run(tmp_path, records)
    _check(m)
    a = m["pools"]["alp"]
    assert a["in"] == copies + 11 and a["kept"] == 9
    assert a["removed"] == {"mixture:duplicate": copies - 1, "mixture:contaminated": 3}
    removed = (tmp_path / "store").rglob("removed/alp.jsonl")
    assert sum(1 for _ in next(removed).open()) == copies - 1 + 3  # every removed record written with its reason


def test_random_duplication_property(tmp_path):
    """Property over random pools: any mix of duplicates, contaminated copies and bad lines balances."""
    rng = random.Random(13)
    for trial in range(12):
        base = [_record(i) for i in range(rng.randint(1, 6))]
        records: list = []
        for _ in range(rng.randint(1, 40)):
            kind = rng.random()
            if kind < 0.6:
                records.append(rng.choice(base))
            elif kind < 0.8:
                records.append({"instruction": "Repeat this.", "input": "", "output": EVAL})
            elif kind < 0.9:
                records.append("{broken\n")
            else:
                records.append({"instruction": "y", "output": ""})
        if not any(isinstance(r, dict) and r.get("output") not in ("", EVAL) for r in records):
            records.append(base[0])
        cap = rng.choice([None, 1, 3])
        extra = {"mixture": {"components": [{"name": "en", "pool": "alp", "max_records": cap}]}} if cap else None
        m = _run(tmp_path / str(trial), records, extra)
        _check(m)
        a = m["pools"]["alp"]
        n_dup = len([r for r in records if isinstance(r, dict) and r.get("output") not in ("", EVAL)])
        distinct = len({json.dumps(r, sort_keys=True) for r in records if isinstance(r, dict)
                        and r.get("output") not in ("", EVAL)})
        assert a["in"] == len(records)
        assert a["kept"] == (min(cap, distinct) if cap else distinct)
        if not cap:
            assert a["removed"].get("mixture:duplicate", 0) == n_dup - distinct
