"""Evaluation data is exactly what the task names, and bad items are errors, never scores."""

from __future__ import annotations

import json
import shutil

import pytest

from llammas_core.config import load_config
from llammas_core.errors import ConfigError, InputError
from llammas_core.evaluate.engine import validate_task
from llammas_core.evaluate.lmeval import task_files
from llammas_core.evaluate.spec import TaskSpec
from llammas_core.preflight import preflight
from tests.conftest import REPO

XCOPA = REPO / "demo" / "eval" / "xcopa_et"


def _xcopa_folder(tmp_path, rows=None):
    folder = tmp_path / "xcopa_et"
    shutil.copytree(XCOPA, folder)
    if rows is not None:
        (folder / "test.et.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_a_missing_test_file_is_never_replaced_by_a_sibling(tmp_path):
    """test.et.jsonl missing, its machine-translated English sibling present: an error, not English scores."""
    folder = _xcopa_folder(tmp_path)
    (folder / "test.et.jsonl").rename(folder / "test.et.gmt-en.jsonl")
    (folder / "val.et.gmt-en.jsonl").write_text((folder / "val.et.jsonl").read_text())
    spec = TaskSpec(name="xcopa_et", kind="xcopa", data=str(folder))
    with pytest.raises(InputError, match=r"no file for xcopa_et test split \(et\).*test\.et\.gmt-en\.jsonl"):
        validate_task(spec)
    (folder / "test.et.gmt-en.jsonl").rename(folder / "test.et.jsonl")
    test, dev = task_files(spec)
    assert (test.name, dev.name) == ("test.et.jsonl", "val.et.jsonl")


def test_out_of_range_labels_and_missing_fields_are_errors(tmp_path):
    rows = [json.loads(line) for line in (XCOPA / "test.et.jsonl").read_text().splitlines()[:6]]
    rows[2]["label"] = 5
    spec = TaskSpec(name="xcopa_et", kind="xcopa", data=str(_xcopa_folder(tmp_path, rows)))
    with pytest.raises(InputError, match=r"test\.et\.jsonl.*label must be one of \['0', '1'\].*items \[2\]"):
        validate_task(spec)
    rows[2]["label"] = 1
    del rows[4]["premise"]
    with pytest.raises(InputError, match=r"item 4 lacks field\(s\) \['premise'\]"):
        validate_task(TaskSpec(name="xcopa_et", kind="xcopa", data=str(_xcopa_folder(tmp_path / "b", rows))))


def test_an_empty_flores_file_is_named(tmp_path):
    empty = tmp_path / "flores_empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match=f"no sentence pairs to score in {empty}"):
        validate_task(TaskSpec(name="flores_en-et", kind="flores", direction="en-et", data=str(empty)))


def test_preflight_reports_every_evaluation_problem_at_once(tmp_path):
    empty = tmp_path / "flores_empty.jsonl"
    empty.write_text("")
    folder = _xcopa_folder(tmp_path)
    (folder / "test.et.jsonl").unlink()
    cfg = load_config(REPO / "configs" / "demo.yaml", [
        f"evaluate.tasks.0.data={folder}", "evaluate.tasks.1.data=demo/eval/no-such.csv",
        f"evaluate.tasks.2.data={empty}"])
    with pytest.raises(ConfigError) as e:
        preflight(cfg, ["evaluate"])
    text = str(e.value)
    assert "task xcopa_et" in text and "task belebele_est" in text and "task flores_en-et" in text
    assert "2 more" in text
