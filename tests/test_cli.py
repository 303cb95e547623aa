"""The `llammas` command line as a user runs it: progress, `output: <uri>` last, one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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
    # quiet by default (defect 8): a line per stage; datatrove's stats and the task logs go to the full log
    out = proc.stdout.splitlines()
    assert re.fullmatch(r"corpus-(et|en): completed \(\d+ s\)", out[0]) and len(out) <= 6, proc.stdout
    assert "Stats" not in proc.stdout + proc.stderr and "corpus: filter" not in proc.stdout + proc.stderr
    log = Path(next(line for line in out if line.startswith("full log: ")).removeprefix("full log: "))
    assert "corpus: filter" in log.read_text() and "Stats" in log.read_text()
    # again, --verbose: every line as before; the committed stage is reused, and the flow still returns
    # its URI (not a Prefect state)
    again = llammas("run", "corpus", "--config", "configs/demo.yaml", "--verbose",
                    "--set", f"store.uri=file://{tmp_path}/store", "--set", f"store.work_dir={tmp_path}/work",
                    "--set", "corpus.sources=[{name: web, kind: jsonl, paths: [demo/web/docs.jsonl]}]")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip().splitlines()[-1] == last
    assert "Finished in state Cached" in again.stdout + again.stderr


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


@pytest.mark.slow  # two corpus runs side by side: about a minute on 2 idle cores
def test_two_runs_at_once_on_one_prefect_home(tmp_path):
    """Each `llammas run` without PREFECT_API_URL starts a temporary Prefect server on the SQLite
    database in PREFECT_HOME. Two started at once both migrated a fresh database and started their
    servers together on busy cores; one or both then died with "Timed out while attempting to
    connect to ephemeral Prefect API server". Now the second waits for the first's start."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # fresh: both would migrate it
    procs = [subprocess.Popen([sys.executable, "-m", "flows.cli", "run", "corpus", "--config", "configs/demo.yaml",
                               "--set", f"store.uri=file://{tmp_path}/store{i}", "--set", f"store.work_dir={tmp_path}/work{i}",
                               "--set", "corpus.executor.tasks=1",
                               "--set", "corpus.sources=[{name: web, kind: jsonl, paths: [demo/web/docs.jsonl]}]"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for i, (p, (out, err)) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"run {i}:\n{err[-3000:]}"
        assert out.strip().splitlines()[-1].startswith(f"output: file://{tmp_path}/store{i}/corpus/")


def test_stage_lines_show_a_bar_on_a_terminal_and_one_line_per_stage():
    """The quiet terminal view: progress lines become a bar on a TTY (nothing in a pipe), a finished
    task run one line with its state, a warning its first line."""
    import io
    import logging

    from flows.quiet import StageLines

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    def record(msg: str, task: str | None = "cpt-demo", level: int = logging.INFO) -> logging.LogRecord:
        r = logging.LogRecord("prefect.task_runs", level, __file__, 1, msg, None, None)
        if task:
            r.task_run_name = task
        return r

    for out, bars in ((Tty(), True), (io.StringIO(), False)):
        h = StageLines(out)
        h.emit(record("[cpt] step 15/30 loss 4.1"))
        h.emit(record("Finished in state Completed()"))
        h.emit(record("disk almost full\nmore", task=None, level=logging.WARNING))
        text = out.getvalue()
        assert ("[###############...............] 15/30" in text) == bars, text
        assert text.rstrip("\n").split("\n")[-2].endswith("cpt-demo: completed (0 s)")
        assert text.endswith("warning: disk almost full\n")
