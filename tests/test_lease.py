"""One writer per stage: a second run of the same stage waits for the first and reuses its output; a
dead holder's lease is taken over; racing creators meet at an atomic put (O_EXCL / S3 If-None-Match)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from llammas_core.errors import LeaseBusy
from llammas_core.lease import StageLease
from llammas_core.stage import run_stage
from llammas_core.store import LocalStore, S3Store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return S3Store(f"s3://llammas-test/{uuid.uuid4().hex}", endpoint_url=request.getfixturevalue("s3_endpoint"))


def test_put_if_absent_is_exclusive(store):
    assert store.put_if_absent("locks/x.json", b"first")
    assert not store.put_if_absent("locks/x.json", b"second")
    with store.open_read("locks/x.json") as f:
        assert f.read() == b"first"


def test_concurrent_runs_compute_once_and_leave_no_debris(store, tmp_path):
    calls, results = [], []

    def body(ctx):
        calls.append(threading.current_thread().name)
        time.sleep(1.0)  # long enough for the other run to arrive while this one works
        (ctx.out_dir / "part.txt").write_text("done")
        return {"records": 1}

    def run():
        results.append(run_stage(store, "demo", {"a": 1}, [], body, tmp_path / "work", log=lambda m: None))

    threads = [threading.Thread(target=run, name=f"run{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1, "the stage body ran twice"
    assert sorted(r.skipped for r in results) == [False, True]
    assert results[0].manifest_uri == results[1].manifest_uri
    keys = [k for k, _ in store.list("")]
    assert not any(k.startswith("locks/") for k in keys), keys
    assert sorted(k.split("/", 2)[2] for k in keys if k.startswith("demo/")) == ["manifest.json", "part.txt"]


def test_dead_holder_is_taken_over(tmp_path):
    store = LocalStore(tmp_path / "store")
    # a holder that was SIGKILLed: its process is gone, its lease file remains
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    import socket

    store.write_json("locks/demo/k.json", {"host": socket.gethostname(), "pid": dead_pid, "since": time.time(),
                                           "heartbeat": time.time()})
    lease = StageLease(store, "demo/k", wait=5)
    started = time.monotonic()
    assert lease.acquire(done=lambda: False)
    assert time.monotonic() - started < 2
    assert store.read_json("locks/demo/k.json")["pid"] != dead_pid
    lease.release()
    assert not store.exists("locks/demo/k.json")
    assert not (tmp_path / "store" / "locks").exists(), "no empty folders left behind"


def test_expired_heartbeat_is_taken_over(store):
    store.write_json("locks/demo/k.json", {"host": "elsewhere", "pid": 1, "since": 0, "heartbeat": time.time() - 3600})
    lease = StageLease(store, "demo/k", wait=5)
    assert lease.acquire(done=lambda: False)
    lease.release()


def test_live_holder_elsewhere_gives_a_clear_error(store):
    store.write_json("locks/demo/k.json", {"host": "gpu-node-7", "pid": 4242, "since": time.time(),
                                           "heartbeat": time.time()})
    lease = StageLease(store, "demo/k", wait=1.5, poll=0.2, log=lambda m: None)
    with pytest.raises(LeaseBusy, match=r"demo/k is being computed by another run \(gpu-node-7, pid 4242"):
        lease.acquire(done=lambda: False)


def test_two_processes_on_one_store(tmp_path):
    """Two OS processes race for one stage: one computes, the other reuses; the lease file is gone."""
    script = textwrap.dedent(f"""
        import json, sys, time
        from llammas_core.stage import run_stage
        from llammas_core.store import LocalStore
        def body(ctx):
            time.sleep(1.5)
            (ctx.out_dir / "x.txt").write_text(sys.argv[1])
            return {{}}
        r = run_stage(LocalStore({str(tmp_path / 'store')!r}), "race", {{"v": 1}}, [], body, {str(tmp_path / 'work')!r},
                      log=lambda m: None)
        print(json.dumps({{"skipped": r.skipped, "uri": r.manifest_uri}}))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], stdout=subprocess.PIPE, text=True) for i in range(2)]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert sorted(o["skipped"] for o in outs) == [False, True]
    assert outs[0]["uri"] == outs[1]["uri"]
    store = LocalStore(tmp_path / "store")
    assert not list(store.list("locks"))


def test_racing_takers_of_one_stale_lease_one_wins(store):
    store.write_json("locks/demo/k.json", {"host": "gone", "pid": 1, "since": 0, "heartbeat": time.time() - 3600,
                                           "token": "dead"})
    holders, busy = [], []

    def take(i):
        lease = StageLease(store, "demo/k", wait=0.8, poll=0.05, log=lambda m: None)
        try:
            if lease.acquire(done=lambda: False):
                holders.append(i)
                time.sleep(1.5)  # hold past the others' wait
                assert lease.held()
                lease.release()
        except LeaseBusy:
            busy.append(i)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(holders) == 1 and len(busy) == 3, (holders, busy)
    assert not store.exists("locks/demo/k.json") and not [k for k, _ in store.list("locks")]


def test_a_run_that_lost_its_lease_does_not_commit(tmp_path):
    store = LocalStore(tmp_path / "store")

    def body(ctx):  # paused past the ttl: another run took the lease over meanwhile
        store.write_json(f"locks/{ctx.prefix}.json", {"host": "other", "pid": 7, "since": time.time(),
                                                      "heartbeat": time.time(), "token": "theirs"})
        (ctx.out_dir / "x.txt").write_text("late")
        return {}

    with pytest.raises(LeaseBusy, match="took over the lease"):
        run_stage(store, "demo", {"a": 1}, [], body, tmp_path / "work", log=lambda m: None)
    assert not [k for k, _ in store.list("demo") if k.endswith("manifest.json")]
    assert store.read_json([k for k, _ in store.list("locks")][0])["token"] == "theirs"  # not deleted by the loser
