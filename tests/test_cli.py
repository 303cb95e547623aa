"""The `llammas` command line as a user runs it: progress, `output: <uri>` last, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def llammas(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_corpus_run_prints_output_uri_last(tmp_path):
    proc = llammas("run", "corpus", "--config", "configs/demo.yaml",
                   "--set", f"store.uri=file://{tmp_path}/store", "--set", f"store.work_dir={tmp_path}/work",
                   "--set", "corpus.sources=[{name: web, kind: jsonl, paths: [demo/web/docs.jsonl]}]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f"output: file://{tmp_path}/store/corpus/") and last.endswith("/manifest.json")
    assert Path(last.removeprefix("output: file://")).is_file()
    assert "corpus: filter" in proc.stderr + proc.stdout  # progress is shown


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    return errors[0]


def test_missing_config_file():
    assert "not found" in _one_line_error(llammas("run", "corpus", "--config", "configs/nope.yaml"))


def test_invalid_config_value_names_the_field(tmp_path):
    line = _one_line_error(llammas("run", "corpus", "--config", "configs/demo.yaml",
                                   "--set", "corpus.executor.kind=spark"))
    assert "corpus.executor.kind" in line


def test_unopenable_source_is_named(tmp_path):
    line = _one_line_error(llammas("run", "corpus", "--config", "configs/demo.yaml",
                                   "--set", f"store.uri=file://{tmp_path}/store",
                                   "--set", f"store.work_dir={tmp_path}/work",
                                   "--set", "corpus.sources.0.paths=[/no/such/dump/*.jsonl]"))
    assert "demo-web" in line and "/no/such/dump" in line


def test_traceback_flag_shows_it(tmp_path):
    proc = llammas("run", "corpus", "--config", "configs/demo.yaml", "--traceback",
                   "--set", f"store.uri=file://{tmp_path}/store", "--set", f"store.work_dir={tmp_path}/work",
                   "--set", "corpus.sources.0.paths=[/no/such/dump/*.jsonl]")
    assert proc.returncode == 1 and "Traceback" in proc.stderr
