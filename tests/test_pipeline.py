"""The main job as a user runs it (`llammas run pipeline --config configs/demo.yaml`), and the same stages
run one flow at a time: every `@reference` is wired to the stage it names."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from llammas_core.stage import read_manifest
from tests.conftest import REPO


def _cli(tmp, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect")}
    sets = ["--set", f"store.uri=file://{tmp}/store", "--set", f"store.work_dir={tmp}/work"]
    return subprocess.run([sys.executable, "-m", "flows.cli", *args, "--config", "configs/demo.yaml", *sets],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)


def _output(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("output: "), last
    return last[len("output: "):]


def _input_ids(manifest: dict) -> list[str]:
    return [i["id"] for i in manifest["inputs"]]


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("main-job")
    proc = _cli(tmp, "run", "pipeline")
    return tmp, _output(proc), proc


@pytest.mark.slow  # the whole demo: about a minute on 2 idle cores
def test_main_job_wires_every_reference(main_job):
    tmp, uri, proc = main_job
    report = read_manifest(uri)
    assert report["stage"] == "report"
    assert {e["model"] for e in report["evals"]} == {"base", "cpt", "sft"}
    paths = {m["name"]: m["path"] for m in report["models"]}
    base, cpt, sft = (read_manifest(paths[n]) for n in ("base", "cpt", "sft"))
    assert (base["stage"], cpt["stage"], sft["stage"]) == ("tiny-base", "cpt", "sft")
    # @cpt trained @base on the token blocks of @corpus + @english_corpus; @sft continued from @cpt on @instructions
    tokenized = read_manifest(next(i["uri"] for i in cpt["inputs"] if i["id"].startswith("tokenize/")) + "/manifest.json")
    assert base["id"] in _input_ids(cpt)
    assert [d["source"] for d in tokenized["documents"]] == [i for i in _input_ids(tokenized) if i.startswith("corpus/")]
    assert sft["init_model"] == cpt["id"] and cpt["id"] in _input_ids(sft)
    instructions = [i for i in _input_ids(sft) if i.startswith("instructions/")]
    assert len(instructions) == 1 and sft["data"] == instructions
    instr = read_manifest(f"file://{tmp}/store/{instructions[0]}/manifest.json")
    assert instr["records"] > 0
    # the mixture holds MT'd Alpaca as the real recipe does (the demo's QE band for its random tiny MT)
    assert instr["components"]["alpaca_et"] > 0 and instr["pools"]["alpaca-demo@et"]["kept"] > 0, instr["pools"]


@pytest.mark.slow
def test_demo_is_quiet(main_job):
    """Defect 8: `make demo` printed 1,160 lines. Now a line per stage, the scores, the report and the
    full log's path, and `output:`; datatrove's stats, its "No files found" and lm-eval's accelerate
    warning stay in the full log."""
    tmp, uri, proc = main_job
    lines = (proc.stdout + proc.stderr).splitlines()
    assert len(lines) <= 80, len(lines)
    for stage in ("corpus-et", "corpus-en", "tiny-base", "instructions-", "tokenize-", "cpt-", "sft-", "evaluate-"):
        assert any(ln.startswith(stage) and ": completed (" in ln for ln in lines), (stage, lines)
    text = "\n".join(lines)
    for noise in ("Stats", "No files found", "Please do not launch via accelerate", "Task run '"):
        assert noise not in text, noise
    assert any(ln.startswith("report: file://") and ln.endswith("report.html") for ln in lines)
    log = next(ln for ln in lines if ln.startswith("full log: ")).removeprefix("full log: ")
    assert "Stats" in open(log, encoding="utf-8").read()


@pytest.mark.slow
def test_rerun_reuses_every_stage(main_job):
    tmp, uri, _ = main_job
    proc = _cli(tmp, "run", "pipeline")
    assert _output(proc) == uri
    log = proc.stdout + proc.stderr
    for task in ("corpus-et", "corpus-en", "tiny-base", "instructions-", "tokenize-", "cpt-", "sft-", "evaluate-"):
        line = next((ln for ln in log.splitlines() if ln.startswith(task) and ": " in ln), "")
        assert ": cached (" in line, f"{task}: {line or 'not found'}"


@pytest.mark.slow
def test_flows_one_by_one_find_the_same_stages(main_job, tmp_path):
    """In a fresh store `train` alone says which flow to run first; in the main job's store each flow
    alone resolves its references to the stages the pipeline committed."""
    proc = _cli(tmp_path, "run", "train")
    assert proc.returncode == 1
    assert "has not been committed" in proc.stderr and "run `llammas run corpus`" in proc.stderr
    tmp, uri, _ = main_job
    assert _output(_cli(tmp, "run", "evaluate")) == uri
    sft_uri = next(m["path"] for m in read_manifest(uri)["models"] if m["name"] == "sft")
    assert _output(_cli(tmp, "run", "train")) == sft_uri


def _readme_route() -> list[list[str]]:
    """The stage-by-stage commands exactly as the README shows them."""
    import shlex

    text = (REPO / "README.md").read_text(encoding="utf-8")
    cmds = [shlex.split(line.split("#", 1)[0]) for line in text.splitlines()
            if line.strip().startswith(".venv/bin/llammas run ")]
    assert [c[2] for c in cmds] == ["corpus", "instructions", "train", "evaluate"], cmds
    return cmds


@pytest.mark.slow  # the demo's stages one flow at a time on a fresh store: about the demo's time
def test_readme_stage_by_stage_route_on_a_fresh_store(tmp_path):
    """Defect 7: `llammas run corpus`, `instructions`, `train` on a fresh store failed: no flow built
    @tiny_base. Now `train` builds it, and `evaluate` then compares base, CPT and SFT."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    sets = ["--set", f"store.uri=file://{tmp_path}/store", "--set", f"store.work_dir={tmp_path}/work"]
    outs = []
    for cmd in _readme_route():
        assert cmd[0] == ".venv/bin/llammas"
        proc = subprocess.run([sys.executable, "-m", "flows.cli", *cmd[1:], *sets], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=1200)
        outs.append(_output(proc))
    report = read_manifest(outs[-1])
    assert report["stage"] == "report" and {e["model"] for e in report["evals"]} == {"base", "cpt", "sft"}
    sft = read_manifest(outs[2])
    assert sft["stage"] == "sft" and any(i["uri"] and i["uri"] + "/manifest.json" == outs[1] or
                                         i["id"] == read_manifest(outs[1])["id"] for i in sft["inputs"])
