"""MT fanned out over workers (llammas_core.instructions.fanout) and over several endpoints (openai):
the instructions stage with two worker processes writes the same bytes as with one; a worker killed
with SIGKILL loses at most the chunks in hand and a rerun sends only what is missing; two loopback
endpoints share the work within their per-endpoint limit, with the output of one endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llammas_core.instructions.cache import SegmentCache
from llammas_core.instructions.config import InstructionsConfig
from llammas_core.instructions.fanout import start_workers
from llammas_core.instructions.mt import translate_items
from llammas_core.instructions.stage import run_instructions
from llammas_core.instructions.translate import make_translator
from llammas_core.store import LocalStore
from tests.mt_fixtures import ENGLISH, ChatServer, estonianish, openai_config
from tests.test_instructions_stage import RECORDS, _config
from tests.test_mt_resume import QE, check_resumed, make_items, segments_of

REPO = Path(__file__).resolve().parents[1]


def _shards(store_dir: Path) -> list[Path]:
    return sorted((store_dir / "cache" / "mt").rglob("shards/*.jsonl"))


def _output_digests(manifest: dict) -> dict[str, str]:
    """sha256 of the stage's output files: the mixture, removed and quarantined records (stats.json
    and the card also hold timings, so they differ between any two runs)."""
    return {f["path"]: f["sha256"] for f in manifest["files"] if f["path"].split("/")[0] in ("data", "removed", "quarantine")}


@pytest.mark.slow
def test_two_workers_write_the_same_bytes_as_one(tmp_path):
    """One store (the tiny MT model is built once): the one-worker run's output and segment cache are
    removed before the two-worker run, which then translates every segment again."""
    import shutil

    store_dir = tmp_path / "store"
    store = LocalStore(store_dir)
    base = _config(tmp_path, RECORDS).model_dump()
    runs = {}
    for workers in (1, 2):
        data = json.loads(json.dumps(base))
        data["translator"].update(workers=workers, chunk_segments=4)
        logs: list[str] = []
        result = run_instructions(store, InstructionsConfig.model_validate(data), tmp_path / f"work{workers}",
                                  logs.append)
        runs[workers] = (result, logs, [p.name for p in _shards(store_dir)])
        shutil.rmtree(store_dir / "instructions")
        shutil.rmtree(store_dir / "cache" / "mt")
    (one, _, shards1), (two, logs2, shards2) = runs[1], runs[2]
    assert not two.skipped and one.manifest["id"] == two.manifest["id"]  # the worker count is not in the key
    d1, d2 = _output_digests(one.manifest), _output_digests(two.manifest)
    assert any(p.startswith("data/") for p in d1) and d1 == d2
    assert two.manifest["translation"]["workers"] == 2 and any("2 MT workers" in line for line in logs2)
    misses = one.manifest["translation"]["cache"]["segment_misses"]
    assert misses > 8 and two.manifest["translation"]["cache"]["segment_misses"] == misses
    # one worker: the parent flushed (untagged shards); two: each worker its own shards, one a chunk
    assert not any("-w" in name for name in shards1)
    assert {name.split("-")[1] for name in shards2} == {"w0", "w1"} and len(shards2) == -(-misses // 4)


CHILD = textwrap.dedent("""
    import json, sys
    from llammas_core.instructions.cache import SegmentCache
    from llammas_core.instructions.fanout import start_workers
    from llammas_core.instructions.mt import translate_items
    from llammas_core.instructions.translate import TranslatorConfig, make_translator
    from llammas_core.instructions.translate.config import QEConfig
    from llammas_core.store import LocalStore
    args = json.loads(sys.argv[1])
    cfg = TranslatorConfig(**args["cfg"])
    tr = make_translator(cfg)
    store = LocalStore(args["store"])
    pool = start_workers(cfg, store, tr.identity(), lambda s: None)
    print("pids", json.dumps(pool.pids()), flush=True)
    translate_items(args["items"], tr, SegmentCache(store, tr.identity()), QEConfig(**args["qe"]),
                    chunk_segments=cfg.chunk_segments, pool=pool)
    print("finished", flush=True)
""")


def _worker_pids(parent: int, n: int, timeout: float = 120) -> list[int]:
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        kids = [p for p in psutil.Process(parent).children() if "spawn_main" in " ".join(p.cmdline())]
        if len(kids) >= n:
            return [p.pid for p in kids]
        time.sleep(0.05)
    raise AssertionError(f"{n} worker processes did not start")


def test_killed_worker_loses_at_most_its_chunk_and_rerun_sends_only_the_rest(tmp_path):
    items = make_items(24)
    all_segs = segments_of(items)
    store_dir = tmp_path / "store"
    chunk, workers = 4, 2
    with ChatServer(delay_s=0.05) as server:
        cfg = openai_config(server.url, max_concurrency=1, workers=workers, chunk_segments=chunk)
        identity = make_translator(cfg).identity()
        args = {"cfg": cfg.model_dump(), "store": str(store_dir), "items": items, "qe": QE.model_dump()}
        proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pids = _worker_pids(proc.pid, workers)
        deadline = time.time() + 120
        while time.time() < deadline and len(_shards(store_dir)) < 3:  # some chunks flushed, then kill one worker
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        time.sleep(0.1)
        os.kill(pids[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        sent_before = set(server.ok_texts())
    assert proc.returncode != 0 and "finished" not in out
    assert "MT worker died" in err, err[-2000:]

    cached = SegmentCache(LocalStore(store_dir), identity).get_many(all_segs)
    assert 3 * chunk <= len(cached) < len(all_segs)
    # what was translated but never flushed: at most the chunk each worker had in hand
    assert len(sent_before - set(cached)) <= workers * chunk
    tags = {p.name.split("-")[1] for p in _shards(store_dir)}
    assert tags <= {"w0", "w1"}

    with ChatServer() as server2:
        cfg2 = openai_config(server2.url, workers=workers, chunk_segments=chunk)
        tr = make_translator(cfg2)
        assert tr.identity() == identity
        pool = start_workers(cfg2, LocalStore(store_dir), identity, lambda s: None)
        try:
            resumed = translate_items(items, tr, SegmentCache(LocalStore(store_dir), identity), QE,
                                      chunk_segments=chunk, pool=pool)
        finally:
            pool.close()
        sent = server2.ok_texts()
    check_resumed(items, resumed, sent, cached, tmp_path / "fresh")  # only the missing segments; same results


def test_two_endpoints_share_the_work_within_their_limit():
    segs = [f"{s} Number {i}." for i, s in enumerate(ENGLISH * 3)]
    served = [{"id": "tiny-llm", "object": "model", "root": "/models/tiny-llm-v1"}]
    with ChatServer(delay_s=0.03, models=served) as a, ChatServer(delay_s=0.03, fail_429=5, models=served) as b:
        tr = make_translator(openai_config([a.url, b.url], max_concurrency=2))
        out = tr.translate(segs)
        single = make_translator(openai_config(a.url, max_concurrency=2))
        assert tr.identity() == single.identity()  # the endpoints are not part of the cache key
    assert out == [estonianish(s) for s in segs]
    assert a.ok_texts() and b.ok_texts()
    assert sorted(a.ok_texts() + b.ok_texts()) == sorted(segs)  # each segment answered once, by one of them
    assert a.max_in_flight == 2 and b.max_in_flight == 2        # both used their limit, neither exceeded it
    assert 429 in [s for _, s in b.requests] and tr.retries >= 1


def test_endpoints_serving_different_models_are_refused():
    from llammas_core.errors import ConfigError

    with ChatServer(models=[{"id": "tiny-llm", "root": "/m/v1"}]) as a, \
            ChatServer(models=[{"id": "tiny-llm", "root": "/m/v2"}]) as b:
        with pytest.raises(ConfigError, match="different models"):
            make_translator(openai_config([a.url, b.url])).identity()


@pytest.mark.slow
def test_ray_actors_translate_like_one_worker(tmp_path):
    """The same chunks through two Ray actors (a Ray started for the test): each flushes its own
    shards, and the results are those of one in-process translator."""
    pytest.importorskip("ray")
    items = make_items(12)
    with ChatServer(delay_s=0.02) as server:
        cfg = openai_config(server.url, max_concurrency=1, workers=2, chunk_segments=3, ray_address="local")
        tr = make_translator(cfg)
        store = LocalStore(tmp_path / "store")
        pool = start_workers(cfg, store, tr.identity(), lambda s: None)
        try:
            assert len(set(pool.pids())) == 2 and os.getpid() not in pool.pids()
            fanned = translate_items(items, tr, SegmentCache(store, tr.identity()), QE, chunk_segments=3, pool=pool)
        finally:
            pool.close()
        one = translate_items(items, tr, SegmentCache(LocalStore(tmp_path / "one"), tr.identity()), QE)
    assert [(r.texts, r.verdict, r.qe) for r in fanned] == [(r.texts, r.verdict, r.qe) for r in one]
    assert {p.name.split("-")[1] for p in _shards(tmp_path / "store")} == {"w0", "w1"}
