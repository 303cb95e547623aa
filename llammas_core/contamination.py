"""Evaluation-set contamination checks by normalised word n-gram overlap (shared by the
instruction-data stage and evaluation).

Stable API (other stages import it; keep it backwards compatible):

- `normalize(text) -> str`: NFKC, lower-cased, punctuation and symbols replaced by spaces,
  whitespace collapsed. "Hello,  World!" -> "hello world".
- `word_ngrams(text, n) -> list[tuple[str, ...]]`: the word n-grams of the normalised text. A text
  of fewer than n words (but at least `MIN_SHORT_WORDS`) gives one "n-gram": all of its words, so
  short evaluation items (an XCOPA premise) are matched when a training text equals them.
- `NgramIndex(n=8)`: a set of hashed n-grams.
  - `add(text)`, `add_many(texts)`, `add_file(path) -> int` (texts indexed, see `read_eval_texts`);
  - `overlap(text) -> float`: fraction of the text's n-grams found in the index (0.0 when the
    text has none);
  - `max_overlap(text) -> float`: the largest overlap of the whole text, any of its lines, or any
    sentence of a line (`split_pieces`);
  - `contaminated(text, threshold=0.5) -> bool`: `max_overlap(text) >= threshold`, so one
    evaluation sentence planted inside a long answer is still caught;
  - `len(index)`: number of distinct n-grams; `sources`: files added.
- `read_eval_texts(path) -> Iterator[str]`: the texts of an evaluation file: every string value of
  each JSON/JSONL record (FLORES jsonl with one column per language, XCOPA premise/choices, any
  SQuAD-style JSON), every cell of a CSV/TSV (Belebele passages, questions and answers, SIB-200),
  or every line of a plain text file (FLORES `dev.est_Latn`). A folder is read recursively.
- `iter_strings(value) -> Iterator[str]`: every string inside a JSON-like value (dicts/lists walked).
- `default_eval_files(root) -> list[Path]`: the FLORES, XCOPA and Belebele files under a data kit
  laid out like ../shared/data (empty when absent).

Why not a library: datatrove has no n-gram decontamination step for arbitrary eval files, and
lm-eval's decontamination works on its own task objects and 13-gram JSON indexes; this is ~150
lines over plain Python sets and fits both stages.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Iterable, Iterator

__all__ = [
    "MIN_SHORT_WORDS",
    "NgramIndex",
    "default_eval_files",
    "iter_strings",
    "normalize",
    "read_eval_texts",
    "split_pieces",
    "word_ngrams",
]

MIN_SHORT_WORDS = 3  # texts shorter than n words are matched whole from this many words on
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def normalize(text: str) -> str:
    """NFKC, lower case, punctuation/symbols -> spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    out = [" " if unicodedata.category(c)[0] in "PSZC" else c for c in text]
    return " ".join("".join(out).split())


def word_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    words = normalize(text).split()
    if len(words) < n:
        return [tuple(words)] if len(words) >= MIN_SHORT_WORDS else []
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def _h(gram: tuple[str, ...]) -> int:
    # stable across processes (Python's hash() is salted), 64 bits: collisions are negligible here
    return int.from_bytes(hashlib.blake2b("\x1f".join(gram).encode(), digest_size=8).digest(), "little")


def split_pieces(text: str) -> list[str]:
    """The lines of a text and the sentences of each line (a rough split at . ! ? …, so "2017. aasta"
    breaks: hence lines too); enough to localise a planted evaluation sentence."""
    lines = [line for line in text.splitlines() if line.strip()]
    pieces = list(lines)
    for line in lines:
        sentences = [p for p in _SENTENCE.split(line) if p.strip()]
        if len(sentences) > 1:
            pieces += sentences
    return pieces


class NgramIndex:
    """Hashed word n-grams of evaluation texts; `overlap` asks how much of a text they cover."""

    def __init__(self, n: int = 8):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n
        self._grams: set[int] = set()
        self.sources: list[str] = []
        self.texts = 0

    def __len__(self) -> int:
        return len(self._grams)

    def add(self, text: str) -> None:
        self.texts += 1
        self._grams.update(_h(g) for g in word_ngrams(text, self.n))

    def add_many(self, texts: Iterable[str]) -> None:
        for t in texts:
            self.add(t)

    def add_file(self, path: str | Path) -> int:
        """Index every text of an evaluation file or folder (see read_eval_texts); returns the count."""
        before = self.texts
        self.add_many(read_eval_texts(path))
        self.sources.append(str(path))
        return self.texts - before

    def overlap(self, text: str) -> float:
        grams = word_ngrams(text, self.n)
        if not grams:
            return 0.0
        return sum(_h(g) in self._grams for g in grams) / len(grams)

    def max_overlap(self, text: str) -> float:
        """The largest overlap of the whole text or any of its lines/sentences."""
        if not self._grams:
            return 0.0
        best = self.overlap(text)
        pieces = split_pieces(text)
        if len(pieces) > 1:
            best = max([best] + [self.overlap(p) for p in pieces])
        return best

    def contaminated(self, text: str, threshold: float = 0.5) -> bool:
        return self.max_overlap(text) >= threshold


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


iter_strings = _strings  # every string value inside a JSON-like value (dicts and lists walked), in order


def _is_json_lines(text: str) -> bool:
    try:
        json.loads(text)
        return False
    except json.JSONDecodeError as e:
        return e.msg == "Extra data"  # a first document, then more: JSON lines


def read_eval_texts(path: str | Path) -> Iterator[str]:
    """Texts of an evaluation file (JSON/JSONL string values, CSV/TSV cells, text lines) or folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file() and not q.name.startswith(".")
                        and q.suffix.lower() in (".jsonl", ".json", ".csv", ".tsv", ".txt", "")
                        and q.name.upper() not in ("LICENSE", "README", "NOTICE")):
            yield from read_eval_texts(p)
        return
    if not path.is_file():
        raise FileNotFoundError(f"evaluation file {path} not found")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8") if suffix == ".json" else ""
    if suffix == ".json" and not _is_json_lines(text):
        yield from _strings(json.loads(text))
    elif suffix in (".jsonl", ".json"):  # a .json file may hold JSON lines (as the QA tasks accept)
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield from _strings(json.loads(line))
    elif suffix in (".csv", ".tsv"):
        csv.field_size_limit(min(sys.maxsize, 1 << 30))
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.reader(f, delimiter="\t" if suffix == ".tsv" else ","):
                yield from (cell for cell in row if cell.strip())
    else:  # plain text: one text per line (FLORES dev.est_Latn)
        with open(path, encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f if line.strip())


def default_eval_files(root: str | Path) -> list[Path]:
    """FLORES (dev/devtest, all languages), XCOPA-et and Belebele files of a data kit like ../shared/data."""
    root = Path(root).expanduser()
    found: list[Path] = []
    for pattern in ("flores_sib200/flores200_sib_subset.jsonl", "flores_sib200/parallel/dev.*",
                    "flores_sib200/parallel/devtest.*", "xcopa_et/*.jsonl", "belebele/*.csv"):
        found += sorted(p for p in root.glob(pattern) if p.is_file() and not p.name.endswith(".ids"))
    return found
