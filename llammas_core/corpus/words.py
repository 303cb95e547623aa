"""Word splitting for the corpus filters and MinHash: datatrove's tokens, computed faster.

datatrove splits words with spaCy (`SpaCyTokenizer`) inside `memory_zone()`, so spaCy's lexeme
cache never holds and every document pays ~4 ms of lexeme creation, twice (filters, MinHash).
spaCy splits text on whitespace first and then tokenizes each whitespace-separated piece on its
own (prefixes, suffixes, infixes, special cases), so a piece's tokens do not depend on its
neighbours. `CachedWordTokenizer` uses that:
- a piece of letters only is one token (spaCy splits nothing off it);
- letters between plain opening and closing marks (`„Tulen`, `homme.“`, `(vt`, `tekst,`) split
  as spaCy's prefix and suffix rules do (one token per mark), except where a special case or a
  lookbehind rule could apply (`a.`, `A.`, `..`, apostrophes), which go to spaCy;
- every other piece goes to spaCy once (batched per document, inside memory_zone so the
  vocabulary does not grow) and its tokens are remembered in a bounded per-process cache.
The tokens equal datatrove's (tests/test_words.py checks every distinct piece of UD Estonian
and FLORES). It is a datatrove `WordTokenizer`: pass it as the `language` of datatrove's
filters and MinHash steps, which accept a tokenizer there.
"""

from __future__ import annotations

import re

from datatrove.utils.word_tokenizers import SpaCyTokenizer, WordTokenizer, load_word_tokenizer

# Languages whose datatrove tokenizer is spaCy's rule-based one with its default punctuation rules
# on space-separated text, for which the shortcuts hold (checked by tests/test_words.py). A
# language registry may later say this per language; others get datatrove's tokenizer.
FAST_SPLIT_LANGUAGES = {"et", "en"}

_OPEN = "„“\"«(["  # each is a spaCy prefix of its own
_CLOSE = ",:;!?)]\"“”»"  # each is a spaCy suffix of its own; "." is one only after some characters
_SIMPLE = re.compile(rf"([{re.escape(_OPEN)}]*)([^\W\d_]+)([{re.escape(_CLOSE)}.]*)")
_MARKS = _OPEN + _CLOSE + "."
_CACHE_SIZE = 200_000


def word_splitter(language: str) -> WordTokenizer:
    """The word tokenizer the corpus steps use for `language`: the cached one where spaCy splits
    on whitespace, else datatrove's own."""
    return CachedWordTokenizer(language) if language in FAST_SPLIT_LANGUAGES else load_word_tokenizer(language)


class CachedWordTokenizer(WordTokenizer):
    """datatrove's spaCy word tokens for `language`, with shortcuts and a cache (module docstring)."""

    def __init__(self, language: str):
        super().__init__(language)
        self._base: SpaCyTokenizer | None = None
        self._special: frozenset[str] = frozenset()
        self._mark_specials: tuple[str, ...] = ()
        self._cache: dict[str, tuple[str, ...]] = {}

    # equal per language, so datatrove's split_into_words cache (keyed by the tokenizer) is shared
    # by every step of a pipeline even after each was unpickled on its own
    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.language == self.language

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.language))

    def __getstate__(self) -> dict:
        return {"language": self.language}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["language"])

    @property
    def base(self) -> SpaCyTokenizer:
        if self._base is None:
            self._base = load_word_tokenizer(self.language)
            # letters that are (the core of) a special case, such as English "cannot" or "Mr.": spaCy decides
            rules = self._base.tokenizer.tokenizer.rules or {}
            self._special = frozenset(c for c in (k.strip(_MARKS) for k in rules) if c.isalpha())
            # emoticons of marks only, such as ":)" or "):", are special cases too: spaCy decides
            self._mark_specials = tuple(k for k in rules if len(k) > 1 and all(c in _MARKS for c in k))
        return self._base

    def word_tokenize(self, text: str) -> list[str]:
        pieces = text.split()
        self.base  # noqa: B018  # loads spaCy and its special cases
        special = self._special
        cache, missing = self._cache, []
        if len(cache) > _CACHE_SIZE:  # bounded: a long task's memory stays flat (refilled as needed)
            cache.clear()
        for piece in pieces:
            if (piece.isalpha() and piece not in special) or piece in cache:
                continue
            tokens = _simple(piece)
            if tokens is not None and piece.strip(_MARKS) not in special and (  # stripped: the letters
                    len(tokens) < 3 or not any(k in piece for k in self._mark_specials)):
                cache[piece] = tokens
            else:
                missing.append(piece)
        if missing:
            self._tokenize_with_spacy(missing)
        out: list[str] = []
        for piece in pieces:
            if piece.isalpha() and piece not in special:
                out.append(piece)
            else:
                out.extend(cache[piece])
        return out

    def _tokenize_with_spacy(self, pieces: list[str]) -> None:
        """Tokenize unseen pieces in one spaCy call and remember their tokens."""
        pieces = list(dict.fromkeys(pieces))
        nlp = self.base.tokenizer
        starts, pos = [], 0
        for p in pieces:
            starts.append(pos)
            pos += len(p) + 1
        found: list[list[str]] = [[] for _ in pieces]
        with nlp.memory_zone():
            doc = nlp.tokenizer(" ".join(pieces))
            i = 0
            for tok in doc:
                while i + 1 < len(starts) and tok.idx >= starts[i + 1]:
                    i += 1
                if text := tok.text.strip():
                    found[i].append(text)
        self._cache.update(zip(pieces, map(tuple, found)))

    def sent_tokenize(self, text: str) -> list[str]:
        return self.base.sent_tokenize(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return self.base.span_tokenize(text)


def _simple(piece: str) -> tuple[str, ...] | None:
    """Tokens of `piece` if it is 2+ letters between plain opening and closing marks, else None
    (spaCy decides). A "." is split off only where spaCy's suffix rules split it: after a lowercase
    letter or a closing mark, or after two uppercase letters; ".." is an ellipsis; one letter +
    "." is a special case (`a.`, `(o:`)."""
    m = _SIMPLE.fullmatch(piece)
    if m is None:
        return None
    opening, word, closing = m.groups()
    if len(word) < 2:
        return None
    before, prev = word[-2], word[-1]
    for i, c in enumerate(closing):
        if c == "." and (closing[i + 1:i + 2] == "." or not (
                prev.islower() or prev in _CLOSE or (prev.isupper() and before.isupper()))):
            return None
        before, prev = prev, c
    return (*opening, word, *closing)
