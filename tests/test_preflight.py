"""Errors come early: a run checks every section it will execute before its first long stage."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from llammas_core.config import load_config
from llammas_core.errors import ConfigError
from llammas_core.preflight import PIPELINE_SECTIONS as SECTIONS
from llammas_core.preflight import preflight
from tests.conftest import REPO


@pytest.fixture
def demo():
    return load_config(REPO / "configs" / "demo.yaml")


def test_demo_config_passes(demo):
    preflight(demo, SECTIONS, whole_run=True)


@pytest.mark.parametrize("override, message", [
    ("train.sft.enabled=false", r"evaluate refers to @sft, which no earlier stage of this run produces"),
    ("tiny_base=null", r"train refers to @tiny_base, which no earlier stage"),
    ("train.cpt.sources=['@instructions', '@corpus']", None),  # produced earlier: fine
])
def test_references_must_name_earlier_stages(override, message):
    cfg = load_config(REPO / "configs" / "demo.yaml", [override])
    if message is None:
        preflight(cfg, SECTIONS, whole_run=True)
        return
    with pytest.raises(ConfigError, match=message):
        preflight(cfg, SECTIONS, whole_run=True)


@pytest.mark.parametrize("override, message", [
    ("train.sft.sources=[demo/no-such-sft.jsonl]", r"train\.sft\.sources: demo/no-such-sft\.jsonl does not exist"),
    ("train.model.base=./models/missing-llama", r"train\.model\.base: \./models/missing-llama does not exist"),
    ("corpus.language=xx", r"language 'xx' is not supported.*supported: .*et"),
    ("instructions.sources.0.paths=[demo/instructions/gone.json]",
     r"instructions\.sources\.alpaca-demo\.paths: demo/instructions/gone\.json does not exist"),
    ("evaluate.tasks.0.data=demo/eval/no-such-dir", r"no-such-dir"),
])
def test_each_problem_is_named(override, message):
    cfg = load_config(REPO / "configs" / "demo.yaml", [override])
    with pytest.raises(Exception, match=message):
        preflight(cfg, SECTIONS)


def test_all_problems_in_one_error():
    cfg = load_config(REPO / "configs" / "demo.yaml",
                      ["train.sft.sources=[a-missing.jsonl]", "train.cpt.sources=[b-missing.jsonl, '@corpus']",
                       "train.cpt.probabilities=[0.5, 0.5]"])
    with pytest.raises(ConfigError) as e:
        preflight(cfg, ["train"])
    assert "a-missing.jsonl" in str(e.value) and "b-missing.jsonl" in str(e.value) and "1 more" in str(e.value)


def test_missing_sft_file_fails_before_any_stage(tmp_path):
    """The pipeline with a missing SFT file: an error in seconds naming the file (before even the Prefect
    server starts), no stage computed."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "pipeline", "--config", "configs/demo.yaml",
         "--set", f"store.uri=file://{tmp_path}/store", "--set", f"store.work_dir={tmp_path}/work",
         "--set", "train.sft.sources=[demo/no-such-sft.jsonl]"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "train.sft.sources: demo/no-such-sft.jsonl does not exist" in last
    assert not (tmp_path / "store" / "corpus").exists(), "a stage ran before the check"
    assert "Starting temporary server" not in proc.stdout + proc.stderr
    print(f"missing SFT file: error after {elapsed:.1f} s (the whole CLI process)")
