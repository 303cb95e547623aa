"""What the shipped recipe configs say: SFT trains on the mixture the instructions stage builds, and the
README's numbers are the configs' numbers."""

from __future__ import annotations

import re

import pytest

from llammas_core.config import load_config
from tests.conftest import REPO

CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if p.name != "rehearsal.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_sft_trains_on_the_instructions_stage(path):
    cfg = load_config(str(path), [])
    if cfg.instructions is not None and cfg.train is not None and cfg.train.sft.enabled:
        assert cfg.train.sft.sources == ["@instructions"], f"{path.name}: SFT reads {cfg.train.sft.sources}"


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_readme_numbers_are_the_configs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    et = load_config(str(REPO / "configs" / "llammas-et.yaml"), [])
    pairs = {b.name: b.max_pairs for b in et.instructions.bitext}
    m = re.search(r"up to ([\d,]+) bitext pairs \(CCMatrix (\d+)k,\s+WikiMatrix (\d+)k, Europarl (\d+)k, OpenSubtitles (\d+)k\)", readme)
    assert m, "README: the Llammas bitext sentence is missing"
    assert _number(m[1]) == sum(pairs.values())
    assert [int(x) * 1000 for x in m.groups()[1:]] == [pairs[k] for k in ("ccmatrix", "wikimatrix", "europarl", "opensubtitles")]
    translation = next(c for c in et.instructions.mixture.components if c.pool == "bitext")
    assert translation.max_records is None  # every cleaned pair becomes a translation task, as in the paper
    x = load_config(str(REPO / "configs" / "x-llama-coit-et.yaml"), [])
    cap = next(c for c in x.instructions.mixture.components if c.pool == "bitext").max_records
    assert f"up to {cap:,} English→Estonian translation tasks" in readme
    assert x.train.sft.max_length == 512 and f"{x.train.sft.max_length} tokens" in readme
