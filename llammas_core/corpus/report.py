"""The corpus steps as people read them: step names without datatrove's emoji, numbers in human
units. The manifest keeps the raw numbers (`steps`); the UI shows `step_rows(manifest["steps"])`."""

from __future__ import annotations

import re
import unicodedata

# datatrove step types ("📖 - READER", "🔻 - FILTER", "🫂 - DEDUP"...) -> a verb
_TYPES = {"READER": "Read", "FILTER": "Filter", "WRITER": "Write", "DEDUP": "Dedup", "DEDUPS": "Dedup",
          "FORMAT": "Format", "EXTRAC": "Extract", "EXTRACTOR": "Extract", "STATS": "Stats", "TOKENIZER": "Tokenize"}


def _plain(text: str) -> str:
    """Text without pictographs, variation selectors and joiners, single-spaced."""
    kept = "".join(c for c in text if unicodedata.category(c) not in ("So", "Sk", "Cf", "Mn", "Co", "Cn")
                   and not 0xFE00 <= ord(c) <= 0xFE0F)
    return re.sub(r"\s+", " ", kept).strip(" -")


def readable_step_name(raw: str | None) -> str:
    """'📖 - READER: 🐿 Jsonl (quarantining)' -> 'Read: Jsonl (quarantining)'."""
    if not raw:
        return "?"
    kind, sep, name = raw.partition(":")
    if not sep:
        return _plain(raw)
    verb = _plain(kind).upper()
    return f"{_TYPES.get(verb, verb.capitalize())}: {_plain(name)}"


def human_bytes(n: float) -> str:
    """1234567 -> '1.2 MB' (powers of 1000, as file browsers show sizes)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_count(n: float) -> str:
    """1234567 -> '1.23 M', 12345 -> '12,345'."""
    if abs(n) >= 1_000_000:
        return f"{n / 1_000_000:.2f} M"
    return f"{int(n):,}"


def human_seconds(s: float) -> str:
    """0.004 -> '4 ms', 1.23 -> '1.2 s', 125 -> '2 min 5 s', 7300 -> '2 h 1 min'."""
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def step_rows(steps: list[dict]) -> list[dict]:
    """Rows for a table of the corpus steps (manifest["steps"]): readable names, human units."""
    rows = []
    for s in steps:
        name = s.get("name") or readable_step_name(s.get("step"))
        reader = name.startswith("Read:")  # readers add documents; datatrove times them in the next step
        rows.append({
            "group": s.get("group", ""),
            "step": name,
            "docs in": "-" if reader else human_count(s.get("docs_in", 0)),
            "docs out": human_count(s.get("docs_out", 0)),
            "dropped": human_count(s.get("docs_dropped", 0)),
            # datatrove's doc_len: characters of text, not bytes
            "text out": human_count(s.get("bytes_out", 0)) + " chars",
            "time": "-" if reader else human_seconds(float(s.get("seconds", 0))),
        })
    return rows
