"""What the shipped recipe configs say: SFT trains on the mixture the instructions stage builds, the
README's numbers are the configs' numbers, QE is not loosened outside the demo, and every config is run by
some test (RUNS)."""

from __future__ import annotations

import ast
import re

import pytest

from llammas_core.config import load_config
from tests.conftest import REPO

CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if p.name != "rehearsal.yaml")

# The test that runs each shipped config end to end (on CPU as it is, or rehearsed at toy size on S3).
# A config added to configs/ is added here with its test ("file::function", or a parametrized id
# "file::function[config]"); test_every_shipped_config_is_run_by_a_test fails until it is.
RUNS = {
    "demo.yaml": "tests/test_pipeline.py::test_main_job_wires_every_reference",
    "demo-multilingual.yaml": "tests/test_multilingual.py::test_demo_multilingual_pipeline",
    "demo-scaling.yaml": "tests/test_scaling.py::test_demo_scaling_runs_from_the_command_line",
    "demo-scaling-pilots.yaml": "tests/test_rehearsal.py::test_rehearse_demo_scaling_pilots",
    "llammas-et.yaml": "tests/test_rehearsal.py::test_rehearse_llammas_et",
    "x-llama-coit-et.yaml": "tests/test_rehearsal.py::test_rehearse_x_llama_coit",
    "x-llama-muit.yaml": "tests/test_rehearsal.py::test_rehearse_x_llama_muit",
    "x-llama-scaling.yaml": "tests/test_rehearsal.py::test_rehearse_x_llama_scaling",
}


def test_every_shipped_config_is_run_by_a_test():
    assert sorted(RUNS) == sorted(p.name for p in CONFIGS), "configs/ and RUNS differ: name the test that runs it"
    for name, test_id in RUNS.items():
        file, _, func = test_id.partition("::")
        func, _, param = func.partition("[")
        tree = ast.parse((REPO / file).read_text(encoding="utf-8"))
        fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func), None)
        assert fn is not None, f"{name}: {test_id} does not exist"
        if param:  # a parametrized test: the config is one of its parameters
            import importlib

            module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
            marks = [m for m in getattr(module, func).pytestmark if m.name == "parametrize"]
            values = [getattr(v, "values", (v,))[0] for m in marks for v in m.args[1]]
            assert param.rstrip("]") == name and name in values, f"{name}: not a parameter of {test_id}"
        else:  # the test (or a helper of its file) names the config
            assert name in (REPO / file).read_text(encoding="utf-8"), f"{test_id} never names {name}"


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


@pytest.mark.parametrize("path", [p for p in CONFIGS if not p.name.startswith("demo")], ids=lambda p: p.name)
def test_qe_keeps_its_length_band_outside_the_demo(path):
    """The demo states a loose length band for its random tiny MT; a real config never goes below the
    defaults' 0.5-2.0 (characters out / in)."""
    from llammas_core.instructions.translate.config import QEThresholds

    cfg = load_config(str(path), [])
    sections = [cfg.instructions] if cfg.instructions is not None else []
    if cfg.scaling is not None and cfg.scaling.pilot is not None:
        from llammas_core.scaling.pilots import expand_pilots

        sections += [p.instructions for p in expand_pilots(cfg.scaling)]
    for inst in sections:
        for lang in {inst.language, "default"}:
            th = inst.qe.for_lang(lang)
            assert th.length_ratio_min is not None and th.length_ratio_min >= QEThresholds().length_ratio_min, (path.name, th)
            assert th.length_ratio_max is not None and th.length_ratio_max <= QEThresholds().length_ratio_max, (path.name, th)
