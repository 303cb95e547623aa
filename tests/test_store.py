"""The artifact store: local folder and S3 (moto's real HTTP server) behave the same, and a stage
commits by writing its manifest last."""

from __future__ import annotations

import uuid

import pytest

from llammas_core.errors import InputError
from llammas_core.stage import read_manifest, run_stage, stage_key
from llammas_core.store import LocalStore, S3Store, open_store, open_uri


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3Store(f"s3://llammas-test/{uuid.uuid4().hex}", endpoint_url=endpoint)


def test_roundtrip_list_delete(store, tmp_path):
    store.write_json("a/b.json", {"x": 1})
    with store.open_write("a/c/big.bin") as f:
        for _ in range(20):  # streamed in chunks, 20 MiB in all
            f.write(b"\0" * (1 << 20))
    assert store.exists("a/b.json") and not store.exists("a/missing")
    assert store.read_json("a/b.json") == {"x": 1}
    assert [k for k, _ in store.list("a")] == ["a/b.json", "a/c/big.bin"]
    assert dict(store.list("a"))["a/c/big.bin"] == 20 << 20
    local = store.get_file("a/c/big.bin", tmp_path / "dl" / "big.bin")
    assert local.stat().st_size == 20 << 20
    with pytest.raises(InputError):
        with store.open_read("a/missing"):
            pass
    store.delete_prefix("a")
    assert list(store.list("a")) == []


def test_failed_write_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        with store.open_write("x/partial.txt") as f:
            f.write(b"half")
            raise RuntimeError("crash mid-write")
    assert not store.exists("x/partial.txt")


def test_stage_commits_last_and_skips_when_done(store, tmp_path):
    calls = []

    def body(ctx):
        calls.append(ctx.key)
        (ctx.out_dir / "data").mkdir()
        (ctx.out_dir / "data" / "part.txt").write_text("hello")
        return {"records": 1}

    first = run_stage(store, "demo", {"a": 1}, [], body, tmp_path / "work")
    again = run_stage(store, "demo", {"a": 1}, [], body, tmp_path / "work")
    other = run_stage(store, "demo", {"a": 2}, [], body, tmp_path / "work")
    assert not first.skipped and again.skipped and not other.skipped
    assert len(calls) == 2 and first.manifest["id"] != other.manifest["id"]
    m = read_manifest(first.manifest_uri, getattr(store, "client", None) and store.client.meta.endpoint_url)
    assert m["files"] == [{"path": "data/part.txt", "bytes": 5,
                           "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}]
    assert m["records"] == 1 and m["key"] == stage_key("demo", {"a": 1}, [], m["code_version"])


def test_crashed_stage_is_not_read_and_reruns(store, tmp_path):
    def crash(ctx):
        (ctx.out_dir / "data.txt").write_text("partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        run_stage(store, "demo", {"a": 3}, [], crash, tmp_path / "work")
    key = stage_key("demo", {"a": 3}, [], "0.1.0")
    with pytest.raises(InputError, match="no committed manifest"):
        read_manifest(store.url(f"demo/{key}/manifest.json"),
                      getattr(store, "client", None) and store.client.meta.endpoint_url)
    done = run_stage(store, "demo", {"a": 3}, [], lambda ctx: {"records": 0}, tmp_path / "work")
    assert not done.skipped


def test_inputs_change_the_key(tmp_path):
    store = LocalStore(tmp_path / "s")
    up = run_stage(store, "up", {}, [], lambda ctx: {}, tmp_path / "w")
    a = run_stage(store, "down", {}, [up.manifest], lambda ctx: {}, tmp_path / "w")
    b = run_stage(store, "down", {}, [], lambda ctx: {}, tmp_path / "w")
    assert a.manifest["key"] != b.manifest["key"]
    assert a.manifest["inputs"] == [{"id": up.manifest["id"], "uri": up.manifest["uri"]}]


def test_open_store_and_uri(tmp_path):
    assert isinstance(open_store(f"file://{tmp_path}/x"), LocalStore)
    assert isinstance(open_store(str(tmp_path / "y")), LocalStore)
    store, key = open_uri(f"file://{tmp_path}/x/manifest.json")
    assert key == "manifest.json" and store.uri.endswith("/x")
    with pytest.raises(Exception, match="unsupported"):
        open_store("ftp://host/x")


def test_s3_credentials_never_in_uris(s3_endpoint):
    store = S3Store("s3://llammas-test/p", endpoint_url=s3_endpoint)
    assert "testing" not in store.uri and "testing" not in store.url("k")


def test_committed_files_and_folders_are_readable_by_the_team(tmp_path):
    """Even under a private process umask (077), a local store's committed files are 0644 and its
    folders 0755 by default; `store.umask: "077"` keeps them private."""
    import os
    import stat

    from llammas_core.config import StoreConfig

    def body(ctx):
        (ctx.out_dir / "data").mkdir()
        (ctx.out_dir / "data" / "part.txt").write_text("hello")
        return {}

    old = os.umask(0o077)
    try:
        for umask, file_mode, dir_mode in (("022", 0o644, 0o755), ("077", 0o600, 0o700)):
            root = tmp_path / f"store-{umask}"
            store = StoreConfig(uri=root.as_uri(), umask=umask).open()
            result = run_stage(store, "demo", {"a": 1}, [], body, tmp_path / f"work-{umask}")
            folder = root / result.manifest["id"]
            store.put_if_absent("locks/x.json", b"{}")
            for path in (folder / "manifest.json", folder / "data" / "part.txt", root / "locks" / "x.json"):
                assert stat.S_IMODE(path.stat().st_mode) == file_mode, path
            for path in (root, root / "demo", folder, folder / "data"):
                assert stat.S_IMODE(path.stat().st_mode) == dir_mode, path
    finally:
        os.umask(old)
