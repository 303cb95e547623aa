"""QA answer normalisation per language: the registry's `qa` rule as a function.

squad: the official SQuAD v1.1 evaluate script (lower-case, drop ASCII punctuation, drop a/an/the, collapse
whitespace). mlqa: MLQA's evaluate script (mlqa_evaluation_v1.py): lower-case, drop every Unicode
punctuation character (category P*) and ASCII punctuation, drop the language's articles, then whitespace
tokens, or for Chinese "mixed segmentation" (each CJK character and punctuation mark a token of its own).
Languages MLQA does not cover get its punctuation rule with no articles, as MLQA does for hi and zh.
"""

from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata
from typing import Callable

from llammas_core.languages.registry import get

_ASCII_PUNCT = frozenset(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CJK = re.compile(r"[\u4e00-\u9fa5]")


@functools.lru_cache(maxsize=1)
def unicode_punctuation() -> frozenset[str]:
    """Every character of a Unicode punctuation category, plus string.punctuation (as MLQA's PUNCT)."""
    punct = (chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P"))
    return frozenset(punct) | _ASCII_PUNCT


def squad_normalize(s: str) -> str:
    s = "".join(ch for ch in s.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_SQUAD_ARTICLES.sub(" ", s).split())


def mixed_segmentation(text: str, punct: frozenset[str]) -> list[str]:
    out, run = [], ""
    for ch in text:
        if _CJK.search(ch) or ch in punct:
            out.extend(run.split())
            run = ""
            out.append(ch)
        else:
            run += ch
    out.extend(run.split())
    return out


def mlqa_normalizer(articles: str | None, segmentation: str) -> Callable[[str], str]:
    punct = unicode_punctuation()
    art = re.compile(articles) if articles else None

    def normalize(s: str) -> str:
        s = "".join(ch for ch in s.lower() if ch not in punct)
        if art is not None:
            s = art.sub(" ", s)
        tokens = mixed_segmentation(s, punct) if segmentation == "mixed" else s.split()
        return " ".join(t for t in tokens if t.strip())

    return normalize


def qa_normalizer(code: str) -> Callable[[str], str]:
    """The answer normaliser of a language (SQuAD v1.1 for English, MLQA's otherwise; see the registry)."""
    qa = get(code).qa
    if qa.rule == "squad":
        return squad_normalize
    return mlqa_normalizer(qa.articles, qa.segmentation)
