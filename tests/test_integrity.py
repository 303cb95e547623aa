"""Committed data is verified: copies (never shared inodes with scratch), sha256/size checked by every
reader through committed_file(s), `llammas verify` over a whole stage, on local and S3 stores."""

from __future__ import annotations

import os
import uuid

import pytest

from flows.cli import main as cli
from llammas_core.errors import IntegrityError
from llammas_core.stage import committed_file, committed_files, run_stage
from llammas_core.store import LocalStore, S3Store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return S3Store(f"s3://llammas-test/{uuid.uuid4().hex}", endpoint_url=request.getfixturevalue("s3_endpoint"))


def _stage(store, tmp_path):
    def body(ctx):
        (ctx.out_dir / "data").mkdir()
        (ctx.out_dir / "data" / "0.bin").write_bytes(bytes(range(256)) * 64)
        (ctx.out_dir / "data" / "1.bin").write_bytes(b"second shard")
        return {}

    return run_stage(store, "shards", {"n": 2}, [], body, tmp_path / "work")


def _corrupt(store, key: str) -> None:
    with store.open_read(key) as f:
        data = bytearray(f.read())
    data[100] ^= 0x01  # one bit of one byte
    with store.open_write(key) as f:
        f.write(bytes(data))


def test_committed_files_are_copies_not_links(tmp_path):
    store = LocalStore(tmp_path / "store")
    result = _stage(store, tmp_path)
    committed = store.local_path(f"{result.manifest['id']}/data/0.bin")
    scratch = tmp_path / "work" / "shards" / result.manifest["key"] / "out" / "data" / "0.bin"
    assert committed.stat().st_ino != scratch.stat().st_ino
    scratch.write_bytes(b"a later write in the work dir")  # must not reach the store
    assert committed_file(store, result.manifest, "data/0.bin").read_bytes() == bytes(range(256)) * 64
    assert not [p for p in (tmp_path / "store").rglob(".*")], "no temp/link debris in the store"


def test_reader_detects_one_changed_byte(store, tmp_path):
    result = _stage(store, tmp_path)
    paths = committed_files(store, result.manifest, "data/", tmp_path / "cache")
    assert [p.name for p in paths] == ["0.bin", "1.bin"]
    _corrupt(store, f"{result.manifest['id']}/data/0.bin")
    with pytest.raises(IntegrityError, match=r"data/0\.bin.*sha256"):
        committed_file(store, result.manifest, "data/0.bin", tmp_path / "cache2")


def test_reader_detects_truncation(store, tmp_path):
    result = _stage(store, tmp_path)
    with store.open_write(f"{result.manifest['id']}/data/1.bin") as f:
        f.write(b"second")
    with pytest.raises(IntegrityError, match=r"data/1\.bin: 6 bytes, the manifest says 12"):
        committed_file(store, result.manifest, "data/1.bin", tmp_path / "cache")


def test_verify_command(store, tmp_path, capsys, request):
    result = _stage(store, tmp_path)
    args = ["verify", result.manifest_uri]
    if isinstance(store, S3Store):
        args += ["--endpoint-url", request.getfixturevalue("s3_endpoint")]
    assert cli(args) == 0
    assert "2 files" in capsys.readouterr().out
    _corrupt(store, f"{result.manifest['id']}/data/0.bin")
    assert cli(args) == 1
    captured = capsys.readouterr()
    assert "corrupt:" in captured.err and "data/0.bin" in captured.err and "1 problem" in captured.out


def test_verify_missing_manifest(tmp_path, capsys):
    assert cli(["verify", (tmp_path / "nothing" / "manifest.json").as_uri()]) == 1
    assert "no committed manifest" in capsys.readouterr().err


def test_verified_once_per_process_until_the_file_changes(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "store")
    result = _stage(store, tmp_path)
    calls = []
    import llammas_core.stage as stage_mod

    real = stage_mod.sha256_file
    monkeypatch.setattr(stage_mod, "sha256_file", lambda p: calls.append(p) or real(p))
    committed_file(store, result.manifest, "data/1.bin")
    committed_file(store, result.manifest, "data/1.bin")
    assert len(calls) == 1
    path = store.local_path(f"{result.manifest['id']}/data/1.bin")
    path.write_bytes(b"SECOND shard")  # same size, new mtime: checked again, and caught
    os.utime(path, ns=(1, 1))
    with pytest.raises(IntegrityError):
        committed_file(store, result.manifest, "data/1.bin")
