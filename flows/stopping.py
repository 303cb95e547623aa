"""SIGTERM / SIGINT stop a `llammas run` within seconds: trainer terminated, then leases released, one line.

Prefect turns SIGTERM into a crash it reports to its API before the process exits; when the signal
went to the whole process group (Ctrl-C in a terminal, `timeout`, Slurm, systemd, `kill -- -PGID`)
the temporary API server died with it and that report retried for minutes, ending in
`error: ConnectError`. Here a watcher thread learns of the signal at once, whatever Python handler
Prefect has installed (`signal.set_wakeup_fd` gets every caught signal's number): it terminates the
trainer subprocesses, releases this run's stage leases (a rerun takes the stages over at once and
resumes from their checkpoints, as after SIGKILL), lets the main thread unwind for a few seconds,
and then ends the process with one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from typing import Callable

STOP_SECONDS = 8.0  # from the signal to the exit, at most (plus the trainer's INTERRUPT_GRACE when it ignores SIGTERM)
_state = {"signal": None, "announced": False, "stream": None}
_lock = threading.Lock()
_at_exit: list[Callable[[], None]] = []


def interrupted() -> int | None:
    """The signal that stopped this run, if any."""
    return _state["signal"]


def announce() -> int:
    """Print the run's one line about the stop (once); the exit code (128 + signal)."""
    sig = _state["signal"] or signal.SIGINT
    with _lock:
        if not _state["announced"]:
            _state["announced"] = True
            print(f"error: interrupted by {signal.Signals(sig).name}: the trainer was stopped and the stage leases "
                  "released; run the same command again to resume from the last checkpoint",
                  file=_state["stream"] or sys.stderr, flush=True)
    return 128 + sig


def at_exit(fn: Callable[[], None]) -> None:
    """Cleanup the watcher runs before it ends a stuck process (e.g. stop the temporary API server)."""
    _at_exit.append(fn)


def _bounded(fn: Callable[[], None], seconds: float) -> None:
    """fn() in a helper thread, waited for at most `seconds` (a stuck store call must not hold the stop)."""
    def run() -> None:
        with contextlib.suppress(Exception):
            fn()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)


def _stop(sig: int) -> None:
    from llammas_core.lease import release_all
    from llammas_core.train.launch import terminate_trainers

    started = time.monotonic()
    _bounded(terminate_trainers, STOP_SECONDS / 2)  # first the trainers: nothing writes once the lease is gone
    _bounded(release_all, STOP_SECONDS / 4)
    time.sleep(max(0.0, STOP_SECONDS - (time.monotonic() - started)))  # the main thread may finish by itself
    code = announce()
    for fn in _at_exit:
        _bounded(fn, 2)
    os._exit(code)


def _watch(sock: socket.socket) -> None:
    while True:
        try:
            data = sock.recv(64)
        except OSError:
            return
        if not data:
            return
        for sig in data:
            if sig in (signal.SIGTERM, signal.SIGINT) and _state["signal"] is None:
                _state["signal"] = sig
                threading.Thread(target=_stop, args=(sig,), name="llammas-stop", daemon=True).start()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals(stream=None):
    """For the CLI's main thread: SIGTERM raises KeyboardInterrupt like SIGINT (Prefect's handler, while a
    flow runs, re-sends it to this one), and the watcher above bounds the stop. The one line goes to
    `stream` (the terminal's stderr when a quiet run sends fd 2 to its log file)."""
    _state["stream"] = stream
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    threading.Thread(target=_watch, args=(reader,), name="llammas-signals", daemon=True).start()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.set_wakeup_fd(old_fd)
        writer.close()
