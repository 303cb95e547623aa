"""Resolve configured sources to concrete files, fingerprint them, and stage them locally.

The fingerprint (path, size, modification stamp of every file) enters the corpus stage key, so
a refresh over a grown dump is a new stage while an unchanged one is skipped.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

from llammas_core.corpus.config import SourceConfig
from llammas_core.errors import InputError
from llammas_core.store import S3Store

ARCHIVE_GLOB = {"warc": "*.warc*", "wet": "*.wet*", "arc": "*.arc*", "jsonl": "*.jsonl*", "parquet": "*.parquet"}


@dataclass(frozen=True)
class SourceFile:
    uri: str
    size: int
    stamp: str  # mtime for local files, ETag for S3 objects


def _local_files(pattern: str, kind: str) -> list[SourceFile]:
    path = Path(pattern).expanduser()
    if path.is_dir():
        matches = [str(p) for p in sorted(path.rglob(ARCHIVE_GLOB.get(kind, "*"))) if p.is_file()]
    else:
        matches = sorted(p for p in glob.glob(str(path), recursive=True) if os.path.isfile(p))
    out = []
    for m in matches:
        st = os.stat(m)
        out.append(SourceFile(str(Path(m).resolve()), st.st_size, str(int(st.st_mtime))))
    return out


def _s3_files(pattern: str, kind: str, endpoint_url: str | None) -> list[SourceFile]:
    parsed = urlparse(pattern)
    key = parsed.path.lstrip("/")
    has_glob = any(c in key for c in "*?[")
    prefix = key.split("*")[0].split("?")[0].split("[")[0] if has_glob else key
    store = S3Store(f"s3://{parsed.netloc}", endpoint_url=endpoint_url)
    out = []
    paginator = store.client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=parsed.netloc, Prefix=prefix):
        for obj in page.get("Contents", []):
            k = obj["Key"]
            if has_glob and not fnmatch.fnmatch(k, key):
                continue
            if not has_glob and k != key and not fnmatch.fnmatch(os.path.basename(k), ARCHIVE_GLOB.get(kind, "*")):
                continue
            out.append(SourceFile(f"s3://{parsed.netloc}/{k}", obj["Size"], obj["ETag"].strip('"')))
    return out


def resolve(source: SourceConfig, endpoint_url: str | None = None) -> list[SourceFile]:
    """Every file of a source; a source that matches nothing is a clear error naming it."""
    files: list[SourceFile] = []
    for pattern in source.paths:
        try:
            found = (_s3_files(pattern, source.kind, endpoint_url) if pattern.startswith("s3://")
                     else _local_files(pattern, source.kind))
        except OSError as e:
            raise InputError(f"source {source.name!r}: cannot open {pattern}: {e}") from e
        if not found:
            raise InputError(f"source {source.name!r}: {pattern} matches no readable file")
        files.extend(found)
    return files


def fingerprint(name: str, files: list[SourceFile]) -> str:
    digest = hashlib.sha256(name.encode())
    for f in sorted(files, key=lambda f: f.uri):
        # surrogateescape: a file name that is not UTF-8 keeps its bytes instead of failing here
        digest.update(f"{f.uri}\t{f.size}\t{f.stamp}\n".encode("utf-8", "surrogateescape"))
    return f"source:{name}:{digest.hexdigest()[:20]}"


def safe_name(name: str) -> str:
    """A file name as UTF-8 text, undecodable bytes percent-encoded (b"\\xff" -> "%FF")."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return quote(name.encode("utf-8", "surrogateescape"), safe=" !#$&'()+,;=@[]^`{}~")


def stage_locally(files: list[SourceFile], dest: Path, endpoint_url: str | None = None) -> dict[str, str]:
    """A folder holding the source's files in a stable order: links to local files, downloads of S3
    objects (streamed to disk; skipped when already complete from an earlier attempt).
    Returns {name in the folder: source URI}; names are UTF-8 even where the source's are not."""
    dest.mkdir(parents=True, exist_ok=True)
    names = {}
    for i, f in enumerate(sorted(files, key=lambda f: f.uri)):
        name = f"{i:05d}-{safe_name(os.path.basename(urlparse(f.uri).path))}"
        names[name] = f.uri
        target = dest / name
        if target.exists() or target.is_symlink():
            if target.is_symlink() or target.stat().st_size == f.size:
                continue
        if f.uri.startswith("s3://"):
            parsed = urlparse(f.uri)
            S3Store(f"s3://{parsed.netloc}", endpoint_url=endpoint_url).get_file(parsed.path.lstrip("/"), target)
        else:
            os.symlink(f.uri, target)
    return names
