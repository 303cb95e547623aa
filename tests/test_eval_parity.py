"""Parity with lm-evaluation-harness: our XCOPA-et and Belebele est_Latn (shipped YAMLs, local files,
run_task) give the same accuracies and the same per-item, per-choice log-likelihoods as lm-eval's OWN
task implementation (the official YAML + utils copied from lm_eval/tasks, dataset_path pointed at a
local copy of the data) on the same tiny random Llama.

Runs on the bundled demo/eval files always, and on a 30-item subset of ../shared/data when present.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, SHARED_DATA

N_ITEMS = 30
LM_EVAL_TASKS = Path(__import__("lm_eval").__file__).parent / "tasks"


@pytest.fixture(scope="module")
def loaded(tiny_eval_model):
    from llammas_core.evaluate.models import load_model
    from llammas_core.evaluate.spec import ModelSpec

    return load_model(ModelSpec(name="tiny", path=str(tiny_eval_model), chat=False, batch_size=8, device="cpu"))


def _official(loaded, task_dir: Path, task: str, num_fewshot: int, seed: int = 1234) -> dict:
    """Run lm-eval's own task (from task_dir) on the same in-memory model; {doc_id: sample}, acc."""
    from lm_eval import evaluator
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=8, device="cpu")
    tm = TaskManager(include_path=str(task_dir), include_defaults=False)
    out = evaluator.simple_evaluate(model=lm, tasks=[task], task_manager=tm, num_fewshot=num_fewshot,
                                    log_samples=True, fewshot_random_seed=seed, bootstrap_iters=0)
    return out


def _lls(sample: dict) -> list[float]:
    return [float(r[0]) for r in sample["filtered_resps"]]


# ---------------------------------------------------------------- data sources


def _xcopa_sources(tmp: Path) -> list[tuple[str, Path, Path]]:
    """[(label, test.jsonl, val.jsonl)]: demo files, and a kit subset when present."""
    out = [("demo", REPO / "demo/eval/xcopa_et/test.et.jsonl", REPO / "demo/eval/xcopa_et/val.et.jsonl")]
    kit = SHARED_DATA / "xcopa_et"
    if kit.is_dir():
        sub = tmp / "kit-xcopa"
        sub.mkdir()
        lines = (kit / "test.et.jsonl").read_text(encoding="utf-8").splitlines()[:N_ITEMS]
        (sub / "test.et.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        shutil.copy(kit / "val.et.jsonl", sub / "val.et.jsonl")
        out.append(("kit", sub / "test.et.jsonl", sub / "val.et.jsonl"))
    return out


def _official_xcopa_dir(tmp: Path, test: Path, val: Path) -> Path:
    """lm-eval's xcopa_et YAML + utils.py verbatim, except the dataset now comes from local JSONL."""
    d = tmp / "official_xcopa"
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(LM_EVAL_TASKS / "xcopa" / "utils.py", d / "utils.py")
    text = (LM_EVAL_TASKS / "xcopa" / "default_et.yaml").read_text(encoding="utf-8")
    text = text.replace("dataset_path: cambridgeltl/xcopa", "dataset_path: json").replace("dataset_name: et\n", "")
    text += f"dataset_kwargs:\n  data_files:\n    test: {test}\n    validation: {val}\n"
    (d / "default_et.yaml").write_text(text, encoding="utf-8")
    assert "utils.doc_to_text_et" in text  # the official prompt function, not ours
    return d


@pytest.mark.parametrize("num_fewshot", [0, 2])
def test_xcopa_et_matches_lm_eval(loaded, tmp_path, num_fewshot):
    from llammas_core.evaluate.engine import run_task
    from llammas_core.evaluate.spec import TaskSpec

    for label, test, val in _xcopa_sources(tmp_path):
        official = _official(loaded, _official_xcopa_dir(tmp_path / label, test, val), "xcopa_et", num_fewshot)
        ref = {s["doc_id"]: s for s in official["samples"]["xcopa_et"]}
        ours = run_task(loaded, TaskSpec(name="xcopa_et", kind="xcopa", data=str(test), fewshot_data=str(val),
                                         num_fewshot=num_fewshot), tmp_path / label / "ours")
        assert len(ours.samples) == len(ref) == len(test.read_text().splitlines())
        for s in ours.samples:
            r = ref[s["doc_id"]]
            assert s["prompt"] == r["arguments"][0][0], label  # same context (incl. few-shot examples)
            assert s["choices"] == [a[1] for a in r["arguments"]]
            assert s["loglikelihoods"] == pytest.approx(_lls(r), rel=1e-6, abs=1e-6)
            assert s["acc"] == r["acc"]
        assert ours.metrics["acc"] == pytest.approx(official["results"]["xcopa_et"]["acc,none"], abs=1e-12)
        # the prompt really is lm-eval's: premise minus final period + connector, choice lower-cased
        first = json.loads(test.read_text(encoding="utf-8").splitlines()[0])
        conn = {"cause": "sest", "effect": "seetõttu"}[first["question"]]
        s0 = next(s for s in ours.samples if s["doc_id"] == 0)
        assert s0["prompt"].endswith(first["premise"].strip()[:-1] + " " + conn)
        assert s0["choices"][0] == " " + first["choice1"][0].lower() + first["choice1"][1:]


def _belebele_sources(tmp: Path) -> list[tuple[str, Path]]:
    out = [("demo", REPO / "demo/eval/belebele/belebele-est_Latn-test.csv")]
    kit = SHARED_DATA / "belebele" / "belebele-est_Latn-test.csv"
    if kit.is_file():
        with kit.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))[:N_ITEMS]
        sub = tmp / "kit-belebele"
        sub.mkdir()
        with (sub / "belebele-est_Latn-test.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        out.append(("kit", sub / "belebele-est_Latn-test.csv"))
    return out


def _official_belebele_dir(tmp: Path, csv_path: Path) -> Path:
    """lm-eval's belebele template + est_Latn YAML, dataset from a local JSONL copy in the hub schema
    (correct_answer_num as a string, as the upstream template's `.index(correct_answer_num)` expects)."""
    d = tmp / "official_belebele"
    d.mkdir(parents=True, exist_ok=True)
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))  # csv module: every field a string, like the hub dataset
    data = d / "est_Latn.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmpl = (LM_EVAL_TASKS / "belebele" / "_default_template_yaml").read_text(encoding="utf-8")
    (d / "_default_template_yaml").write_text(tmpl.replace("dataset_path: facebook/belebele", "dataset_path: json"),
                                              encoding="utf-8")
    cfg = yaml.safe_load((LM_EVAL_TASKS / "belebele" / "belebele_est_Latn.yaml").read_text(encoding="utf-8"))
    cfg.pop("dataset_name")
    cfg["dataset_kwargs"] = {"data_files": {"test": str(data)}}
    (d / "belebele_est_Latn.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return d


def test_belebele_matches_lm_eval(loaded, tmp_path):
    from llammas_core.evaluate.engine import run_task
    from llammas_core.evaluate.spec import TaskSpec

    for label, csv_path in _belebele_sources(tmp_path):
        official = _official(loaded, _official_belebele_dir(tmp_path / label, csv_path), "belebele_est_Latn", 0)
        name = "belebele_est_Latn"
        ref = {s["doc_id"]: s for s in official["samples"][name]}
        ours = run_task(loaded, TaskSpec(name="belebele", kind="belebele", data=str(csv_path)),
                        tmp_path / label / "ours")
        assert len(ours.samples) == len(ref) > 0
        for s in ours.samples:
            r = ref[s["doc_id"]]
            assert s["prompt"] == r["arguments"][0][0]
            assert s["choices"] == [" A", " B", " C", " D"]
            assert s["reference"] == r["target"]  # CSV int correct_answer_num -> same 0-based target
            assert s["loglikelihoods"] == pytest.approx(_lls(r), rel=1e-6, abs=1e-6)
            assert (s["acc"], s["acc_norm"]) == (r["acc"], r["acc_norm"])
        for m in ("acc", "acc_norm"):
            assert ours.metrics[m] == pytest.approx(official["results"][name][f"{m},none"], abs=1e-12)
        out = json.loads((tmp_path / label / "ours" / "results.json").read_text(encoding="utf-8"))
        assert out["results"]["belebele"]["acc"] == ours.metrics["acc"]
        assert out["n-samples"]["belebele"]["effective"] == len(ours.samples)
        lines = (tmp_path / label / "ours" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(ours.samples)
