"""Instruction-set readers: Alpaca, chat (`messages`) and ShareGPT records from JSON lists, JSONL
and Parquet (local paths, store URIs, folders, committed stage manifests).

Every record comes out in one internal shape, `Record` (a dict):
    {"id", "source", "language", "kind": "alpaca", "instruction", "input", "output"}
    {"id", "source", "language", "kind": "chat", "messages": [{"role", "content"}, ...]}
Bad records are never dropped silently: each is counted by reason in `ReadStats.quarantined`
(malformed_json, invalid_utf8, not_an_object, unknown_format, missing_field:<f>,
non_string_field:<f>, empty_instruction, empty_output, bad_role, bad_messages, field_too_long) and the first
`keep_examples` of them are kept with their reason and location for `quarantine/`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from llammas_core.errors import InputError
from llammas_core.stage import is_manifest_ref, read_manifest
from llammas_core.store import Store, local_copy

EXTS = (".json", ".jsonl", ".jsonl.gz", ".parquet")
ROLES = {
    "human": "user", "user": "user", "prompter": "user",
    "gpt": "assistant", "assistant": "assistant", "bot": "assistant", "model": "assistant", "chatgpt": "assistant",
    "system": "system",
}
EXCERPT = 2000

Record = dict


@dataclass
class ReadStats:
    read: int = 0
    valid: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)
    keep_examples: int = 1000

    def bad(self, reason: str, where: str, raw) -> None:
        self.quarantined[reason] = self.quarantined.get(reason, 0) + 1
        if len(self.examples) < self.keep_examples:
            text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
            self.examples.append({"reason": reason, "where": where, "raw": text[:EXCERPT]})

    @property
    def n_quarantined(self) -> int:
        return sum(self.quarantined.values())


# --------------------------------------------------------------------------- files


def resolve(paths: list[str]) -> list[tuple[Store, str]]:
    """(store, key) of every readable file behind the paths (manifests: their data/ shards)."""
    from llammas_core.train.cpt_data import resolve_files

    out = []
    for p in paths:
        out += resolve_files(p, EXTS)
    return out


def resolve_files_any(path: str) -> list[tuple[Store, str]]:
    """(store, key) of a file of any type, or of every file below a folder / S3 prefix (sorted)."""
    from urllib.parse import urlparse

    from llammas_core.store import LocalStore, open_uri

    parsed = urlparse(path)
    if parsed.scheme == "s3":
        store, key = open_uri(path)
        if store.exists(key):
            return [(store, key)]
        found = [(store, k) for k, _ in store.list(key.rstrip("/") + "/")]
    else:
        local = Path(parsed.path if parsed.scheme == "file" else path).expanduser()
        if local.is_file():
            return [(LocalStore(local.parent), local.name)]
        if not local.is_dir():
            raise InputError(f"{path} does not exist")
        store = LocalStore(local)
        found = [(store, k) for k, _ in store.list("")]
    if not found:
        raise InputError(f"no files in {path}")
    return found


def fingerprint(paths: list[str]) -> tuple[list[dict], list[str]]:
    """(input manifests, fingerprints) of a source's paths: manifests by id, local files by content
    (sha256), other store objects by key and size."""
    manifests, prints = [], []
    for p in paths:
        if is_manifest_ref(p):
            manifests.append(read_manifest(p))
            continue
        digest = hashlib.sha256()
        for store, key in resolve([p]):
            local = store.local_path(key)
            if local is not None:
                with open(local, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        digest.update(chunk)
                digest.update(f"\0{Path(key).name}\n".encode())
            else:
                size = next((s for k, s in store.list(key) if k == key), -1)
                digest.update(f"{store.url(key)}\0{size}\n".encode())
        prints.append(f"src:{p}:{digest.hexdigest()[:20]}")
    return manifests, prints


def _iter_raw(store: Store, key: str, stats: ReadStats) -> Iterator[tuple[str, object]]:
    """(location, raw record) of one file; undecodable lines are quarantined here."""
    url = store.url(key)
    low = key.lower()
    with local_copy(store, key) as path:
        if low.endswith(".parquet"):
            import pyarrow.parquet as pq

            try:
                pf = pq.ParquetFile(path)
            except Exception as e:
                raise InputError(f"{url}: not a readable Parquet file ({e})") from None
            row = 0
            for batch in pf.iter_batches(batch_size=1024):
                for rec in batch.to_pylist():
                    row += 1
                    yield f"{url}#{row}", rec
        elif low.endswith((".jsonl", ".jsonl.gz")):
            opener = gzip.open if low.endswith(".gz") else open
            with opener(path, "rb") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    where = f"{url}:{lineno}"
                    try:
                        text = line.decode("utf-8")
                    except UnicodeDecodeError:
                        stats.read += 1
                        stats.bad("invalid_utf8", where, line.decode("utf-8", "replace"))
                        continue
                    try:
                        yield where, json.loads(text)
                    except json.JSONDecodeError:
                        stats.read += 1
                        stats.bad("malformed_json", where, text)
        else:
            try:
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise InputError(f"{url}: not valid JSON ({e}); use JSONL to have bad lines quarantined instead") from None
            if not isinstance(data, list):
                raise InputError(f"{url}: expected a JSON list of records, got {type(data).__name__}")
            for i, rec in enumerate(data):
                yield f"{url}#{i}", rec


# --------------------------------------------------------------------------- records


def _detect(rec: dict) -> str | None:
    if "messages" in rec:
        return "chat"
    if "conversations" in rec:
        return "sharegpt"
    if "instruction" in rec or "output" in rec:
        return "alpaca"
    return None


def _alpaca(rec: dict) -> tuple[dict | None, str | None]:
    for name in ("instruction", "output"):
        if name not in rec:
            return None, f"missing_field:{name}"
    for name in ("instruction", "input", "output"):
        value = rec.get(name)
        if value is not None and not isinstance(value, str):
            return None, f"non_string_field:{name}"
    instruction, inp, output = rec["instruction"] or "", rec.get("input") or "", rec["output"] or ""
    if not instruction.strip():
        return None, "empty_instruction"
    if not output.strip():
        return None, "empty_output"
    return {"kind": "alpaca", "instruction": instruction, "input": inp, "output": output}, None


def _chat(rec: dict, key: str, role_key: str, content_key: str) -> tuple[dict | None, str | None]:
    raw = rec.get(key)
    if not isinstance(raw, list) or not raw:
        return None, "bad_messages"
    messages = []
    for m in raw:
        if not isinstance(m, dict):
            return None, "bad_messages"
        if role_key not in m or content_key not in m:
            return None, f"missing_field:{content_key if role_key in m else role_key}"
        role = ROLES.get(str(m[role_key]).lower())
        if role is None:
            return None, "bad_role"
        if not isinstance(m[content_key], str):
            return None, f"non_string_field:{content_key}"
        messages.append({"role": role, "content": m[content_key]})
    if not any(m["role"] == "user" and m["content"].strip() for m in messages):
        return None, "empty_instruction"
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        return None, "empty_output"
    return {"kind": "chat", "messages": messages}, None


def parse_record(raw, fmt: str = "auto") -> tuple[dict | None, str | None]:
    """(record fields, None) or (None, quarantine reason) for one raw record."""
    if not isinstance(raw, dict):
        return None, "not_an_object"
    kind = _detect(raw) if fmt == "auto" else fmt
    if kind == "alpaca":
        return _alpaca(raw)
    if kind == "chat":
        return _chat(raw, "messages", "role", "content") if "messages" in raw else (None, "missing_field:messages")
    if kind == "sharegpt":
        return _chat(raw, "conversations", "from", "value") if "conversations" in raw else (None, "missing_field:conversations")
    return None, "unknown_format"


def read_source(name: str, paths: list[str], fmt: str = "auto", language: str = "en", max_records: int | None = None,
                keep_examples: int = 1000, max_field_chars: int | None = None) -> tuple[list[Record], ReadStats]:
    """Every valid record of a source (in file order, ids `<name>:<n>`), plus counts and bad examples.
    A record with a text field over max_field_chars is quarantined (`field_too_long`)."""
    stats = ReadStats(keep_examples=keep_examples)
    records: list[Record] = []
    for store, key in resolve(paths):
        for where, raw in _iter_raw(store, key, stats):
            if max_records is not None and stats.valid >= max_records:
                return records, stats
            stats.read += 1
            rec, reason = parse_record(raw, fmt)
            if rec is not None and max_field_chars is not None and any(
                    len(t) > max_field_chars for t in record_texts(rec)):
                rec, reason = None, "field_too_long"
            if rec is None:
                stats.bad(reason, where, raw)
                continue
            stats.valid += 1
            rid = raw.get("id") if isinstance(raw.get("id"), (str, int)) else None
            records.append({"id": f"{name}:{rid if rid is not None else stats.valid}", "source": name,
                            "language": language, **rec})
    return records, stats


# --------------------------------------------------------------------------- texts in and out


def record_texts(rec: Record) -> list[str]:
    """The translatable texts of a record, in a fixed order (see with_texts)."""
    if rec["kind"] == "alpaca":
        return [rec["instruction"], rec["input"], rec["output"]]
    return [m["content"] for m in rec["messages"]]


def with_texts(rec: Record, texts: list[str], **extra) -> Record:
    """A copy of `rec` with its texts replaced (the inverse of record_texts)."""
    out = {k: v for k, v in rec.items() if k not in ("instruction", "input", "output", "messages")}
    if rec["kind"] == "alpaca":
        out.update(instruction=texts[0], input=texts[1], output=texts[2])
    else:
        out["messages"] = [{"role": m["role"], "content": t} for m, t in zip(rec["messages"], texts)]
    out.update(extra)
    return out
