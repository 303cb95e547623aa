"""Prefect's cache keys over committed stages: reused only while the stage is committed, and never a
stale URI when the same inputs committed another stage (e.g. after the store was wiped)."""

from __future__ import annotations

from llammas_core.config import StoreConfig
from llammas_core.stage import run_stage
from llammas_core.store import LocalStore
from tasks.common import _ref, verified_cache_key


def _commit(store, tmp_path, value: int) -> str:
    def body(ctx):
        (ctx.out_dir / "v.txt").write_text(str(value))
        return {}

    return run_stage(store, "demo", {"v": value}, [], body, tmp_path / "work", log=lambda m: None).manifest_uri


def test_key_names_the_committed_stage(tmp_path):
    cfg = StoreConfig(uri=(tmp_path / "store").as_uri(), work_dir=str(tmp_path / "work"))
    store = LocalStore(tmp_path / "store")
    assert verified_cache_key(cfg, lambda: "ident").startswith("llammas-unverified-")  # nothing committed yet
    first = _commit(store, tmp_path, 1)
    store.write_json(_ref("ident"), {"manifest_uri": first})
    k1 = verified_cache_key(cfg, lambda: "ident")
    assert k1.startswith("ident-") and verified_cache_key(cfg, lambda: "ident") == k1
    second = _commit(store, tmp_path, 2)  # the same identity later committed another stage
    store.write_json(_ref("ident"), {"manifest_uri": second})
    k2 = verified_cache_key(cfg, lambda: "ident")
    assert k2.startswith("ident-") and k2 != k1
    store.delete_prefix(second.split("/store/", 1)[1].rsplit("/", 1)[0])  # pruned: recompute
    assert verified_cache_key(cfg, lambda: "ident").startswith("llammas-unverified-")
    assert not (tmp_path / "store" / "demo" / second.rsplit("/", 2)[1]).exists(), "looking made no folder"
