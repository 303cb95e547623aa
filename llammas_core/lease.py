"""One writer per stage: a lease object in the store, created atomically.

Two runs of the same stage at once (two Prefect runs, a retry racing a late attempt, two machines on
one S3 store) would share the stage's scratch folder and both publish into its committed folder. The
first to create `locks/<stage>/<key>.json` (O_EXCL locally, `If-None-Match: *` on S3) computes the
stage; the others wait for it to commit and then reuse it, or give up with a clear message.

A holder refreshes its heartbeat while it works. A lease whose heartbeat is older than `ttl`, or whose
holder process is gone (same host), is stale and is taken over: a killed run never blocks a retry.
Each lease carries a random token. Of several runs that find the same stale lease, only the one that
creates `<lease>.takeover-<stale token>` (the same atomic put) replaces it; a holder checks its token
before each heartbeat and before it commits, and releases only its own lease.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import weakref
import time
import uuid
from typing import Callable

from llammas_core.errors import InputError, LeaseBusy
from llammas_core.store import Store

TTL_SECONDS = 120.0
WAIT_SECONDS = float(os.environ.get("LLAMMAS_LEASE_WAIT_SECONDS", 600))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_HELD: "weakref.WeakSet[StageLease]" = weakref.WeakSet()  # leases this process holds now


class StageLease:
    def __init__(self, store: Store, stage_id: str, ttl: float = TTL_SECONDS, wait: float = WAIT_SECONDS,
                 poll: float = 1.0, log: Callable[[str], None] = print):
        self.store, self.stage_id, self.ttl, self.wait, self.poll, self.log = store, stage_id, ttl, wait, poll, log
        self.key = f"locks/{stage_id}.json"
        self.holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(),
                       "token": uuid.uuid4().hex}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._release_lock = threading.Lock()
        self.lost = False

    def _payload(self) -> bytes:
        return json.dumps({**self.holder, "heartbeat": time.time()}).encode()

    def _current(self) -> dict | None:
        try:
            return self.store.read_json(self.key)
        except (InputError, json.JSONDecodeError):
            return None

    def _stale(self, lease: dict) -> bool:
        if time.time() - float(lease.get("heartbeat", 0)) > self.ttl:
            return True
        return lease.get("host") == self.holder["host"] and not _pid_alive(int(lease.get("pid", -1)))

    def acquire(self, done: Callable[[], bool]) -> bool:
        """Take the lease (True), or return False once `done()` says another holder committed."""
        deadline = time.monotonic() + self.wait
        announced = False
        while True:
            if self.store.put_if_absent(self.key, self._payload()) or self._take_over_stale():
                self._thread = threading.Thread(target=self._beat, name=f"lease-{self.stage_id}", daemon=True)
                self._thread.start()
                _HELD.add(self)
                return True
            if done():
                return False
            lease = self._current()
            if (lease is None or self._stale(lease)) and time.monotonic() <= deadline:
                time.sleep(self.poll / 10)  # another taker won the takeover; its lease appears now
                continue
            lease = lease or {}
            if time.monotonic() > deadline:
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(lease.get("since", 0))))
                raise LeaseBusy(
                    f"stage {self.stage_id} is being computed by another run ({lease.get('host')}, pid "
                    f"{lease.get('pid')}, since {since} UTC); it is reused once committed: run again later")
            if not announced:
                self.log(f"stage {self.stage_id}: another run is computing it; waiting up to {self.wait:.0f} s")
                announced = True
            time.sleep(self.poll)

    def _take_over_stale(self) -> bool:
        """Replace a dead holder's lease; True when this run now holds it."""
        lease = self._current()
        if lease is None or not self._stale(lease):
            return False
        marker = f"{self.key}.takeover-{lease.get('token', 'none')}"
        if not self.store.put_if_absent(marker, self._payload()):
            try:  # another run is taking over this very lease, or died doing it (then its marker goes)
                if time.time() - float(self.store.read_json(marker).get("heartbeat", 0)) > self.ttl:
                    self.store.delete(marker)
            except (InputError, json.JSONDecodeError):
                pass
            return False
        current = self._current()  # a taker that finished before us has replaced the stale lease already
        taken = current is not None and current.get("token") == lease.get("token")
        if taken:
            with self.store.open_write(self.key) as f:
                f.write(self._payload())
        self.store.delete(marker)
        return taken

    def held(self) -> bool:
        """Whether the lease is still this run's (a run paused past the ttl may have lost it)."""
        current = self._current()
        if current is None or current.get("token") != self.holder["token"]:
            self.lost = True
        return not self.lost

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                if not self.held():
                    self.log(f"stage {self.stage_id}: the lease was taken over by another run")
                    return
                with self.store.open_write(self.key) as f:
                    f.write(self._payload())
            except Exception as e:  # a missed heartbeat only risks a takeover after ttl
                self.log(f"stage {self.stage_id}: lease heartbeat failed: {e}")

    def release(self) -> None:
        """Stop the heartbeat and delete the lease if it is still this run's; idempotent and thread-safe
        (a stopping run releases from its signal watcher while the main thread unwinds)."""
        self._stop.set()
        with self._release_lock:
            if self._thread is not None:
                self._thread.join()
                self._thread = None
                if self.held():  # never delete the lease of the run that took over
                    self.store.delete(self.key)
        _HELD.discard(self)


def release_all() -> None:
    """Release every lease this process holds (a run stopped by SIGTERM/SIGINT: a rerun takes over at once)."""
    for lease in list(_HELD):
        lease.release()
