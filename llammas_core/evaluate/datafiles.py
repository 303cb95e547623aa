"""Evaluation data by path or store URI: resolve to local files, find the scored and few-shot splits.

Store URIs (file:// or s3://) are downloaded once to a local cache (`LLAMMAS_EVAL_CACHE`, default
~/.cache/llammas/eval/data/<sha of the URI>/) because lm-eval's `json`/`csv` loaders read local files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from llammas_core.errors import InputError


def _cache_root() -> Path:
    return Path(os.environ.get("LLAMMAS_EVAL_CACHE", Path.home() / ".cache" / "llammas" / "eval")) / "data"


def localize(uri: str) -> Path:
    """A local file/folder for a path or store URI (a folder URI downloads everything under it)."""
    if "://" not in uri or uri.startswith("file://"):
        p = Path(uri[len("file://"):] if uri.startswith("file://") else uri).expanduser()
        if not p.exists():
            raise InputError(f"evaluation data not found: {uri}")
        return p.resolve()
    from llammas_core.store import open_uri

    store, key = open_uri(uri)
    target = _cache_root() / hashlib.sha256(uri.encode()).hexdigest()[:16]
    done = target / ".complete"
    if done.is_file():
        return Path(done.read_text(encoding="utf-8"))
    if store.exists(key):
        local = target / Path(key).name
        store.get_file(key, local)
    else:
        names = list(store.list(key.rstrip("/") + "/"))
        if not names:
            raise InputError(f"evaluation data not found: {uri}")
        local = target / Path(key.rstrip("/")).name
        for k, _ in names:
            store.get_file(k, local / k[len(key.rstrip("/")) + 1:])
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(str(local), encoding="utf-8")
    return local


def pick_exact(folder: Path, names: list[str], what: str, required: bool = True) -> Path | None:
    """The file in `folder` whose whole name matches the first of `names` (regular expressions, e.g.
    `test\\.et\\.jsonl`) that matches a file. No loose glob: `test.et.gmt-en.jsonl` (the machine-translated
    English sibling) is never taken for `test.et.jsonl`."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for pattern in names:
        hits = [p for p in files if re.fullmatch(pattern, p.name)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise InputError(f"{folder}: several files are the {what}: {[h.name for h in hits]}; name the file itself")
    if required:
        present = [p.name for p in files if p.suffix in (".jsonl", ".json", ".csv")]
        raise InputError(f"{folder}: no file for {what} (its name must match {' or '.join(names)}; "
                         f"present: {present or 'none'})")
    return None


def read_records(path: Path) -> list[dict]:
    """Rows of a JSONL / JSON (list, or SQuAD {"data": [...]}) / CSV file; bad lines are input errors."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import csv

        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and '"data"' in stripped[:200] and "\n{" not in text):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, list):
            return obj
        if isinstance(obj, dict) and "data" in obj:
            return _flatten_squad(obj["data"])
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as e:
            raise InputError(f"{path}:{n}: not valid JSON ({e})") from e
    return rows


def _flatten_squad(data: list[dict]) -> list[dict]:
    """SQuAD v1.1 nesting (articles/paragraphs/qas) to flat SQuAD-format rows."""
    rows = []
    for article in data:
        for para in article.get("paragraphs", []):
            for qa in para.get("qas", []):
                rows.append({"id": qa.get("id"), "title": article.get("title", ""), "context": para["context"],
                             "question": qa["question"],
                             "answers": {"text": [a["text"] for a in qa.get("answers", [])],
                                         "answer_start": [a.get("answer_start", -1) for a in qa.get("answers", [])]}})
    return rows


def require_fields(rows: list[dict], fields: list[str], where: str) -> None:
    """InputError naming the first row that lacks a field (before any model loads)."""
    if not rows:
        raise InputError(f"{where}: no items (empty task)")
    bad = [(i, [f for f in fields if not isinstance(row, dict) or row.get(f) is None or row.get(f) == ""])
           for i, row in enumerate(rows)]
    bad = [(i, m) for i, m in bad if m]
    if bad:
        more = f"; {len(bad) - 1} more item(s) lack fields, e.g. {[i for i, _ in bad[1:6]]}" if len(bad) > 1 else ""
        raise InputError(f"{where}: item {bad[0][0]} lacks field(s) {bad[0][1]} (needs {fields}){more}")


def require_labels(rows: list[dict], field: str, allowed: set[str], where: str) -> None:
    """InputError naming the items whose label is out of range (a label 5 is not a wrong answer: it is bad data)."""
    bad = [i for i, r in enumerate(rows) if str(r.get(field)).strip() not in allowed]
    if bad:
        raise InputError(f"{where}: {field} must be one of {sorted(allowed)}; {len(bad)} item(s) are not, "
                         f"e.g. items {bad[:5]} ({field}={[rows[i].get(field) for i in bad[:5]]})")


__all__ = ["localize", "pick", "pick_exact", "read_records", "require_fields", "require_labels"]
