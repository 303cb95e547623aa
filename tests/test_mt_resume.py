"""Segment cache and resume: a translation run killed with SIGKILL resumes without sending any cached
segment again (requests counted at a loopback chat/completions server) and ends with the output of an
uninterrupted run; a bigger second run translates only the new records; configs share a cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from llammas_core.instructions.cache import SegmentCache, segment_key
from llammas_core.instructions.mt import translate_items
from llammas_core.instructions.translate import make_translator
from llammas_core.instructions.translate.config import QEConfig, QEThresholds
from llammas_core.store import LocalStore
from tests.mt_fixtures import ChatServer, openai_config

REPO = Path(__file__).resolve().parents[1]
QE = QEConfig(thresholds={"default": QEThresholds(lid_min_prob=None)})
TOPICS = ["cats", "rivers", "bread", "winter", "music", "trains", "gardens", "the sea"]


def make_items(n: int) -> list[list[str]]:
    return [[f"Write sentence number {i} about {TOPICS[i % len(TOPICS)]}.", "",
             f"Here is answer {i} about {TOPICS[i % len(TOPICS)]}. It has two short parts, see https://ex.am/{i}."]
            for i in range(n)]


CHILD = textwrap.dedent("""
    import json, sys
    from llammas_core.instructions.cache import SegmentCache
    from llammas_core.instructions.mt import translate_items
    from llammas_core.instructions.translate import TranslatorConfig, make_translator
    from llammas_core.instructions.translate.config import QEConfig
    from llammas_core.store import LocalStore
    args = json.loads(sys.argv[1])
    tr = make_translator(TranslatorConfig(**args["cfg"]))
    cache = SegmentCache(LocalStore(args["store"]), tr.identity())
    translate_items(args["items"], tr, cache, QEConfig(**args["qe"]), chunk_segments=4)
    print("finished")
""")


def segments_of(items) -> list[str]:
    from llammas_core.instructions.segment import split_text

    return list(dict.fromkeys(s for item in items for t in item for s in split_text(t).segments))


def test_kill_and_resume_sends_no_cached_segment(tmp_path):
    items = make_items(24)
    all_segs = segments_of(items)
    store_dir = tmp_path / "store"
    with ChatServer(delay_s=0.06) as server:
        cfg = openai_config(server.url, max_concurrency=2)
        identity = make_translator(cfg).identity()
        args = {"cfg": cfg.model_dump(), "store": str(store_dir), "items": items, "qe": QE.model_dump()}
        proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        shards = store_dir / "cache" / "mt"
        deadline = time.time() + 60
        # wait for two flushed shards, then kill mid-chunk
        while time.time() < deadline and len(list(shards.rglob("*.jsonl"))) < 2:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        first_run_requests = len(server.requests)

    cached = SegmentCache(LocalStore(store_dir), identity).get_many(all_segs)
    assert 8 <= len(cached) < len(all_segs)           # some work was saved, some was not
    assert first_run_requests >= len(cached)

    with ChatServer(delay_s=0.0) as server2:
        tr = make_translator(openai_config(server2.url, max_concurrency=2))
        assert tr.identity() == identity  # a new endpoint port does not change the cache key
        resumed = translate_items(items, tr, SegmentCache(LocalStore(store_dir), tr.identity()), QE,
                                  chunk_segments=4)
        sent = server2.ok_texts()
    check_resumed(items, resumed, sent, cached, tmp_path / "fresh")


def check_resumed(items, resumed, sent: list[str], cached: dict, fresh_store: Path) -> None:
    """The resumed run sent each segment missing from the cache exactly once and nothing cached, and its
    results are those of an uninterrupted run (one process, a fresh cache)."""
    assert not set(sent) & set(cached)                     # no cached segment sent again
    assert sorted(sent) == sorted(set(segments_of(items)) - set(cached))  # and each missing one exactly once
    with ChatServer() as server3:
        tr = make_translator(openai_config(server3.url))
        fresh = translate_items(items, tr, SegmentCache(LocalStore(fresh_store), tr.identity()), QE)
    assert [(r.texts, r.verdict, r.qe) for r in resumed] == [(r.texts, r.verdict, r.qe) for r in fresh]
    assert all(r.verdict == "ok" for r in fresh)
    assert all(f"https://ex.am/{i}" in r.texts[2] for i, r in enumerate(fresh))


def test_second_run_translates_only_new_records(tmp_path):
    store = LocalStore(tmp_path)
    with ChatServer() as server:
        tr = make_translator(openai_config(server.url))
        progress = []
        translate_items(make_items(6), tr, SegmentCache(store, tr.identity()), QE,
                        progress=lambda d, t: progress.append((d, t)))
        assert progress[0] == (0, len(segments_of(make_items(6)))) and progress[-1][0] == progress[-1][1]
        n1 = len(server.requests)
        assert n1 == len(segments_of(make_items(6)))
        res = translate_items(make_items(10), tr, SegmentCache(store, tr.identity()), QE)
        new = server.ok_texts()[n1:]
    assert sorted(new) == sorted(set(segments_of(make_items(10))) - set(segments_of(make_items(6))))
    assert len(res) == 10 and all(r.verdict == "ok" for r in res)
    # every flush is a new shard; nothing was rewritten
    shards = list((tmp_path / "cache" / "mt").rglob("*.jsonl"))
    assert len(shards) == 2
    assert json.loads((shards[0].parent.parent / "identity.json").read_text())["backend"] == "openai"


def test_configs_sharing_model_and_decoding_share_the_cache(tmp_path):
    served = [{"id": "tiny-llm", "object": "model", "root": "/models/tiny-llm-v1"}]
    with ChatServer(models=served) as s1, ChatServer(models=served) as s2:
        a = make_translator(openai_config(s1.url, max_concurrency=1, timeout_s=3))
        b = make_translator(openai_config(s2.url, max_concurrency=9, max_retries=0))
        c = make_translator(openai_config(s1.url, temperature=0.7))
        d = make_translator(openai_config(s1.url, tgt_lang="fi"))
        a.identity(), b.identity(), c.identity(), d.identity()  # the endpoints answer /models once each
    store = LocalStore(tmp_path)
    ca, cb = SegmentCache(store, a.identity()), SegmentCache(store, b.identity())
    assert ca.prefix == cb.prefix
    assert len({ca.prefix, SegmentCache(store, c.identity()).prefix, SegmentCache(store, d.identity()).prefix}) == 3
    ca.put_many([("Hello there.", "Tere.")])
    assert ca.flush() == 1 and ca.flush() == 0
    assert SegmentCache(store, b.identity()).get_many(["Hello there.", "Other."]) == {"Hello there.": "Tere."}
    assert segment_key("Hello there.") != segment_key("Hello there. ")
    assert os.listdir(tmp_path / "cache" / "mt" / ca.id / "shards")


def test_cache_and_model_folder_on_s3(s3_endpoint, tmp_path, monkeypatch):
    """The segment cache works on S3 (moto on loopback) as on a folder, and a model folder given as an
    s3:// URI is fetched once to a local cache for from_pretrained."""
    from llammas_core.instructions.translate.base import resolve_model_dir
    from llammas_core.store import S3Store

    store = S3Store("s3://llammas-test/mtcache", endpoint_url=s3_endpoint)
    ident = {"backend": "openai", "model": {"name": "m"}, "pair": "en-et"}
    c1 = SegmentCache(store, ident)
    c1.put_many({"One.": "Üks.", "Two.": "Kaks."})
    c1.flush()
    c1.put_many({"Three.": "Kolm."})
    c1.flush()
    c2 = SegmentCache(S3Store("s3://llammas-test/mtcache", endpoint_url=s3_endpoint), ident)
    assert c2.get_many(["One.", "Three.", "Four."]) == {"One.": "Üks.", "Three.": "Kolm."}
    assert len([k for k, _ in store.list(f"{c2.prefix}/shards")]) == 2
    assert store.read_json(f"{c2.prefix}/identity.json") == ident

    models = S3Store("s3://llammas-test/models", endpoint_url=s3_endpoint)
    with models.open_write("m1/config.json") as f:
        f.write(b'{"model_type": "marian"}')
    with models.open_write("m1/sub/vocab.json") as f:
        f.write(b"{}")
    local, is_local = resolve_model_dir("s3://llammas-test/models/m1", cache_root=tmp_path)
    assert is_local
    assert (Path(local) / "config.json").read_bytes() == b'{"model_type": "marian"}'
    assert (Path(local) / "sub" / "vocab.json").exists()
