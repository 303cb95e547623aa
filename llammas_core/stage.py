"""Content-addressed stages with a manifest written last.

A stage's output lives at `<store>/<stage>/<key>/`, the key a hash of the stage config, the ids
of its input manifests and the code that shapes it (llammas_core.code_identity: its family's source
files by AST, the library versions that change its bytes; training stages warn and reuse instead). `manifest.json` is the commit marker: a
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
from llammas_core.code_identity import SOFT_STAGES, CodeIdentity, code_identity
from llammas_core.errors import InputError, LeaseBusy
from llammas_core.lease import StageLease
from llammas_core.store import CHUNK, Store, check_digest, open_uri

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
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


_verified: dict[tuple, bool] = {}  # (path, size, mtime_ns, sha256) already checked in this process


def committed_file(store: Store, manifest: dict, rel: str, cache_dir: Path | None = None) -> Path:
    """A local path holding file `rel` of a committed stage, its size and sha256 checked against the
    manifest: the file itself in a local store, else a verified download under cache_dir. A mismatch
    is an IntegrityError naming the file."""
    entry = next((f for f in manifest["files"] if f["path"] == rel), None)
    if entry is None:
        raise InputError(f"{manifest['id']} has no committed file {rel}")
    key = f"{manifest['id']}/{rel}"
    local = store.local_path(key)
    if local is None:
        if cache_dir is None:
            raise InputError(f"{store.url(key)} is remote: a cache folder is needed to read it")
        local = Path(cache_dir) / manifest["id"] / rel
        if not _is_verified(local, entry) and not _intact(local, entry):  # a copy another process made
            store.get_file(key, local, size=entry["bytes"], sha256=entry["sha256"])
        _remember(local, entry)
        return local
    if not local.is_file():
        raise InputError(f"{store.url(key)} is listed in its manifest but missing from the store")
    if not _is_verified(local, entry):
        check_digest(store.url(key), local.stat().st_size, sha256_file(local), entry["bytes"], entry["sha256"])
        _remember(local, entry)
    return local


def committed_files(store: Store, manifest: dict, prefix: str = "", cache_dir: Path | None = None) -> list[Path]:
    """Every committed file of a stage whose relative path starts with `prefix`, verified (see committed_file)."""
    return [committed_file(store, manifest, f["path"], cache_dir) for f in manifest["files"] if f["path"].startswith(prefix)]


def _intact(path: Path, entry: dict) -> bool:
    return path.is_file() and path.stat().st_size == entry["bytes"] and sha256_file(path) == entry["sha256"]


def _identity(path: Path, entry: dict) -> tuple | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns, entry["sha256"])


def _is_verified(path: Path, entry: dict) -> bool:
    ident = _identity(path, entry)
    return ident is not None and ident in _verified


def _remember(path: Path, entry: dict) -> None:
    ident = _identity(path, entry)
    if ident is not None:
        _verified[ident] = True


def verify_stage(uri: str, endpoint_url: str | None = None) -> dict:
    """Check every file of a committed stage (size and sha256, streamed); report what is wrong.

    Returns {"id", "files", "bytes", "problems": [...]}; problems is empty when the stage is intact."""
    store, key = open_uri(uri, endpoint_url)
    if not key.endswith(MANIFEST):
        key = f"{key.rstrip('/')}/{MANIFEST}"
    if not store.exists(key):
        raise InputError(f"no committed manifest at {store.url(key)}")
    manifest = store.read_json(key)
    root = key[: -len(MANIFEST)]
    problems, total = [], 0
    for entry in manifest.get("files", []):
        url = store.url(root + entry["path"])
        if not store.exists(root + entry["path"]):
            problems.append(f"{url}: missing")
            continue
        digest, n = hashlib.sha256(), 0
        with store.open_read(root + entry["path"]) as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                digest.update(chunk)
                n += len(chunk)
        total += n
        try:
            check_digest(url, n, digest.hexdigest(), entry["bytes"], entry["sha256"])
        except InputError as e:
            problems.append(str(e))
    return {"id": manifest.get("id"), "files": len(manifest.get("files", [])), "bytes": total, "problems": problems}


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
    code_changes: list[str] | None = None  # a training stage reused although its code changed: what changed


def is_manifest_ref(source: str) -> bool:
    """A manifest URI/path, or a local stage folder holding one (vs a plain data file or folder)."""
    s = source.rstrip("/")
    if s.endswith("/" + MANIFEST) or s == MANIFEST:
        return True
    return "://" not in s and Path(s).expanduser().is_dir() and (Path(s).expanduser() / MANIFEST).is_file()


def manifest_folder(uri: str) -> str:
    """The stage folder of a manifest URI/path (the URI itself when it names the folder)."""
    folder = uri.rstrip("/")
    return folder[: -len(MANIFEST)].rstrip("/") if folder.endswith("/" + MANIFEST) or folder == MANIFEST else folder


def open_manifest(uri: str, endpoint_url: str | None = None) -> tuple[Store, dict]:
    """(the store that holds a committed stage, its manifest) for a manifest URI or stage folder:
    files of the stage are then `<manifest id>/<path>` in that store, wherever the store was moved."""
    from llammas_core.store import open_store

    manifest = read_manifest(uri, endpoint_url)
    folder = manifest_folder(uri)
    if "://" not in folder:
        folder = Path(folder).expanduser().resolve().as_uri()
    sid = manifest["id"]
    root = folder[: -len(sid) - 1] if folder.endswith("/" + sid) else folder.rsplit("/", 2)[0]
    return open_store(root, endpoint_url=endpoint_url), manifest


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
    log: Callable[[str], None] = print,
    recompute: bool = False,
) -> StageResult:
    """Run `body` unless this exact stage already committed; publish its outputs; write the manifest.

    `inputs` are the manifests (dicts) this stage reads; their ids enter the key. `extra_key`
    holds other identities that must change the key (e.g. a fingerprint of raw source files).
    `body` writes files under ctx.out_dir and returns extra manifest fields (counts, stats).
    One run computes a stage at a time (a lease in the store); another run of the same stage waits
    and then reuses it.

    The key covers the stage's code (code_identity) unless `version` is given explicitly (evaluation
    keys on its own engine version). A training stage (SOFT_STAGES) whose code changed reuses the stage
    the same config and inputs committed under older code, with a warning naming what changed, unless
    `recompute` (`--recompute cpt`) asks for it to be computed under the current code.
    """
    code = code_identity(stage) if version == __version__ else None
    # a training stage keys on its inputs' content: an upstream stage recomputed for a code change that
    # left its data byte-identical (a log line in tokenize.py) must not retrain
    ident = content_id if stage in SOFT_STAGES else (lambda m: m["id"])
    input_ids = [ident(m) for m in inputs] + list(extra_key or [])
    key = stage_key(stage, config, input_ids, version if code is None else f"{version}+{code.digest}")
    prefix = f"{stage}/{key}"
    soft_ref = f"refs/code-soft/{stage}-{stage_key(stage, config, input_ids, version + '+soft')}.json"

    def committed() -> bool:
        return store.exists(f"{prefix}/{MANIFEST}")

    def reuse() -> StageResult:
        return StageResult(store.url(f"{prefix}/{MANIFEST}"), store.read_json(f"{prefix}/{MANIFEST}"), True)

    if committed():
        return reuse()
    if code is not None and stage in SOFT_STAGES and not recompute:
        legacy = stage_key(stage, config, [m["id"] for m in inputs] + list(extra_key or []), version)  # keys before code ids
        older = _older_soft_stage(store, soft_ref, legacy, stage)
        if older is not None:
            changes = code.changes_since(older.manifest.get("code"))
            log(f"WARNING: stage {stage} reused from {older.manifest['id']}, computed under other code "
                f"({'; '.join(changes[:8])}{' ...' if len(changes) > 8 else ''}). Rerun with `--recompute {stage}` "
                f"(train.recompute: [{stage}]) to compute it under the current code.")
            older.code_changes = changes
            return older
    lease = StageLease(store, prefix, log=log)
    if not lease.acquire(done=committed):
        return reuse()  # another run computed it while we waited
    try:
        if committed():
            return reuse()
        result = _compute(store, stage, key, config, inputs, body, work_root,
                          version if code is None else f"{version}+{code.digest}", extra_key, lease, code)
    finally:
        lease.release()
    if code is not None and stage in SOFT_STAGES:
        store.write_json(soft_ref, {"id": result.manifest["id"], "code": code.digest})
    return result


DATA_PREFIXES = ("data/", "blocks/", "model/", "adapter/", "tokenizer.json")  # what a downstream stage reads


def content_id(manifest: dict) -> str:
    """An input's identity by the content a downstream stage reads (its data files' sha256; not reports,
    metrics or timings); the manifest id when it lists no such file."""
    files = sorted((f["path"], f["sha256"]) for f in manifest.get("files", []) if f["path"].startswith(DATA_PREFIXES))
    if not files:
        return manifest["id"]
    return f"{manifest.get('stage', 'stage')}:content.{hashlib.sha256(canonical_json(files).encode()).hexdigest()[:20]}"


def _older_soft_stage(store: Store, soft_ref: str, legacy_key: str, stage: str) -> StageResult | None:
    """The stage this config and these inputs last committed under other code: by the soft ref, or at
    the key of llammas versions whose keys did not cover code (so an existing CPT is not retrained)."""
    prior = store.read_json(soft_ref)["id"] if store.exists(soft_ref) else f"{stage}/{legacy_key}"
    if not store.exists(f"{prior}/{MANIFEST}"):
        return None
    return StageResult(store.url(f"{prior}/{MANIFEST}"), store.read_json(f"{prior}/{MANIFEST}"), True)


def _publish(store: Store, path: Path, key: str) -> dict:
    """Copy a scratch file into the store, hashing the very bytes that are stored."""
    digest, n = hashlib.sha256(), 0
    with open(path, "rb") as src, store.open_write(key) as dst:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            digest.update(chunk)
            n += len(chunk)
            dst.write(chunk)
    return {"bytes": n, "sha256": digest.hexdigest()}


def _compute(store: Store, stage: str, key: str, config: Any, inputs: list[dict], body: Callable[[StageContext], dict],
             work_root: Path, version: str, extra_key: list[str] | None, lease: StageLease,
             code: CodeIdentity | None = None) -> StageResult:
    prefix = f"{stage}/{key}"
    work_dir = Path(work_root).expanduser().resolve() / stage / key
    out_dir = work_dir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(store, stage, key, work_dir, out_dir, inputs)
    started = time.time()
    extra = body(ctx) or {}

    files = []
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir).as_posix()
        files.append({"path": rel, **_publish(store, path, f"{prefix}/{rel}")})
    manifest = {
        "id": prefix,
        "stage": stage,
        "key": key,
        "uri": store.url(prefix),
        "code_version": version,
        **({"code": code.as_dict()} if code is not None else {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.time() - started, 3),
        "config": json.loads(canonical_json(config)),
        "inputs": [{"id": m["id"], "uri": m.get("uri")} for m in inputs] + [{"id": i} for i in extra_key or []],
        "files": files,
        **extra,
    }
    if not lease.held():  # paused past the ttl and taken over: the other run commits, not this one
        raise LeaseBusy(f"stage {prefix}: another run took over the lease while this one worked; not committed")
    store.write_json(f"{prefix}/{MANIFEST}", manifest)  # the commit marker, always last
    return StageResult(store.url(f"{prefix}/{MANIFEST}"), manifest, False)
