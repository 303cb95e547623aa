"""Quiet by default: what a `llammas run` shows in the terminal, and where the rest goes.

Without `--verbose` the process's stdout and stderr (file descriptors 1 and 2, so also datatrove's
worker processes, the Prefect server, lm-eval and transformers warnings, progress bars of libraries)
go to a log file; the terminal gets one line per stage (task run) when it finishes, with its state
and time, a progress bar for lines like `[cpt] step 12/30` or `segments 40/120` while a stage runs
(only when the terminal is a TTY), Prefect warnings, and what the CLI prints itself (the summary,
`output: ...`, `error: ...`). Prefect's own handlers are untouched: the Prefect UI keeps every log line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import IO, Iterator

# "[cpt] step 12/30", "translated 40/120 segments", "(model, task) pairs 3/8": done/total of a stage
PROGRESS = re.compile(r"(?<![\d/.])(\d+)/(\d+)(?![\d/.])")
STATE = re.compile(r"^Finished in state (\w+)")


class StageLines(logging.Handler):
    """One terminal line per finished task run; a live progress bar while one runs (TTY only)."""

    def __init__(self, out: IO[str]):
        super().__init__(level=logging.INFO)
        self.out = out
        self.tty = out.isatty()
        self.started: dict[str, float] = {}
        self.bar = False  # a progress bar is on the current line

    def _line(self, text: str) -> None:
        if self.bar:
            self.out.write("\r\x1b[2K")
            self.bar = False
        self.out.write(text + "\n")
        self.out.flush()

    def _progress(self, name: str, message: str) -> None:
        match = PROGRESS.search(message)
        if not (self.tty and match):
            return
        done, total = int(match.group(1)), int(match.group(2))
        if not 0 < total or done > total:
            return
        width = 30
        filled = int(width * done / total)
        self.out.write(f"\r\x1b[2K{name}: [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.out.flush()
        self.bar = True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            task = getattr(record, "task_run_name", None)
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                if record.levelno < logging.ERROR:  # errors end the run: the CLI prints that one line
                    self._line(f"warning: {(task + ': ') if task else ''}{message.splitlines()[0]}")
                return
            if task is None:
                return
            self.started.setdefault(task, record.created)
            state = STATE.match(message)
            if state:
                seconds = record.created - self.started.get(task, record.created)
                self._line(f"{task}: {state.group(1).lower()} ({seconds:.0f} s)")
            else:
                self._progress(task, message)
        except Exception:  # the terminal view must never break a run
            self.handleError(record)


def log_path(work_dir: str | Path, flow: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return (Path(work_dir).expanduser() / "logs" / f"{flow}-{stamp}-{os.getpid()}.log").resolve()


@contextlib.contextmanager
def quiet(path: Path) -> Iterator[tuple[IO[str], IO[str]]]:
    """Send fds 1 and 2 to `path`; yield (stdout, stderr) streams to the real terminal for the CLI's own
    lines. Stage lines go to that stdout through a handler on the `prefect` logger."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # Prefect's set-up replaces the handlers of the `prefect` logger: it goes first

    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8", errors="replace")
    terminal_err = os.fdopen(os.dup(saved_err), "w", buffering=1, encoding="utf-8", errors="replace")
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    handler = StageLines(terminal)
    prefect_logger = logging.getLogger("prefect")
    prefect_logger.addHandler(handler)
    try:
        yield terminal, terminal_err
    finally:
        prefect_logger.removeHandler(handler)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        if handler.bar:
            terminal.write("\n")
        terminal.flush()
        terminal_err.flush()
