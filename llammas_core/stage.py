"""Content-addressed stages with a manifest written last.

A stage's output lives at `<store>/<stage>/<key>/`, the key a hash of the stage config, the ids
of its input manifests and the stage's code version. `manifest.json` is the commit marker: a
stage whose manifest exists is never recomputed, and a folder without one is debris from a
crashed attempt that nothing reads.

Work happens in a local scratch folder `<work_dir>/<stage>/<key>/`, stable across attempts, so
a killed attempt resumes where it stopped (datatrove skips its completed tasks there); only
when the work is done are the files published to the store and the manifest written.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from llammas_core import __version__
from llammas_core.errors import InputError
from llammas_core.store import Store, open_uri

MANIFEST = "manifest.json"


def canonical_json(obj: Any) -> str:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def stage_key(stage: str, config: Any, input_ids: list[str], version: str) -> str:
    payload = canonical_json({"stage": stage, "config": config, "inputs": sorted(input_ids), "version": version})
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class StageContext:
    """What a stage body gets: where to work, where to put outputs, and its inputs."""

    store: Store
    stage: str
    key: str
    work_dir: Path
    out_dir: Path
    inputs: list[dict] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"{self.stage}/{self.key}"


@dataclass
class StageResult:
    manifest_uri: str
    manifest: dict
    skipped: bool


def is_manifest_ref(source: str) -> bool:
    """A manifest URI/path, or a local stage folder holding one (vs a plain data file or folder)."""
    s = source.rstrip("/")
    if s.endswith("/" + MANIFEST) or s == MANIFEST:
        return True
    return "://" not in s and Path(s).expanduser().is_dir() and (Path(s).expanduser() / MANIFEST).is_file()


def read_manifest(uri: str, endpoint_url: str | None = None) -> dict:
    """Load a committed manifest by URI; anything else is an input error."""
    store, key = open_uri(uri, endpoint_url)
    if not key.endswith(MANIFEST):
        key = f"{key.rstrip('/')}/{MANIFEST}"
    if not store.exists(key):
        raise InputError(f"no committed manifest at {store.url(key)} (missing, or the stage never finished)")
    return store.read_json(key)


def run_stage(
    store: Store,
    stage: str,
    config: Any,
    inputs: list[dict],
    body: Callable[[StageContext], dict],
    work_root: Path,
    version: str = __version__,
    extra_key: list[str] | None = None,
) -> StageResult:
    """Run `body` unless this exact stage already committed; publish its outputs; write the manifest.

    `inputs` are the manifests (dicts) this stage reads; their ids enter the key. `extra_key`
    holds other identities that must change the key (e.g. a fingerprint of raw source files).
    `body` writes files under ctx.out_dir and returns extra manifest fields (counts, stats).
    """
    input_ids = [m["id"] for m in inputs] + list(extra_key or [])
    key = stage_key(stage, config, input_ids, version)
    prefix = f"{stage}/{key}"
    if store.exists(f"{prefix}/{MANIFEST}"):
        return StageResult(store.url(f"{prefix}/{MANIFEST}"), store.read_json(f"{prefix}/{MANIFEST}"), True)

    work_dir = Path(work_root).expanduser().resolve() / stage / key
    out_dir = work_dir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(store, stage, key, work_dir, out_dir, inputs)
    started = time.time()
    extra = body(ctx) or {}

    files = []
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir).as_posix()
        files.append({"path": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path)})
        store.put_file(path, f"{prefix}/{rel}")
    manifest = {
        "id": prefix,
        "stage": stage,
        "key": key,
        "uri": store.url(prefix),
        "code_version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.time() - started, 3),
        "config": json.loads(canonical_json(config)),
        "inputs": [{"id": m["id"], "uri": m.get("uri")} for m in inputs] + [{"id": i} for i in extra_key or []],
        "files": files,
        **extra,
    }
    store.write_json(f"{prefix}/{MANIFEST}", manifest)  # the commit marker, always last
    return StageResult(store.url(f"{prefix}/{MANIFEST}"), manifest, False)
