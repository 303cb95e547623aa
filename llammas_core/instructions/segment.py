"""Split a text into MT segments and put the translations back with the original layout.

`split_text(text)` returns a `Layout`: an ordered list of pieces that concatenate to the
original text byte for byte. A piece is either verbatim (newlines, indentation, list markers
and headings, code lines, whitespace between sentences, segments with nothing to translate)
or a segment for MT: one sentence of a prose line, with its protected inline spans masked as
`<xN>` tokens (see protect.py). `Layout.join(translations)` substitutes the translations,
restores the masked spans and reports span problems, so the reassembled text keeps the
original newlines, list markers, markdown and code exactly.

Granularity: a line is a paragraph (Alpaca and chat data do not hard-wrap prose), and a prose
line is split into sentences by spaCy's rule-based `sentencizer` on a blank pipeline of the
source language (no model download; spaCy's tokenizer exceptions keep "e.g.", "Mr." and
decimals intact).

Length: a line longer than spaCy's limit never reaches it whole: `split_long` first cuts it at
sentence ends (then clauses, then spaces) into pieces of at most 100k characters. A sentence
longer than `max_chars` (split_text's argument; the caller derives it from the model's input
limit) is cut the same way at clause boundaries (`, ; :` and dashes), then at spaces, so no
segment is truncated by the translator.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from llammas_core.instructions.protect import code_lines, has_translatable_text, mask, unmask
from llammas_core.languages import sentence_splitter

__all__ = ["Piece", "Layout", "split_text", "split_sentences", "split_long"]

# spaCy refuses texts over nlp.max_length (1M characters, E088); lines are cut well below it
SPACY_CHUNK = 100_000
# cut points, coarse to fine: after a sentence end, after a clause mark or before a dash/bracket, any space
_BREAKS = [re.compile(r"(?<=[.!?…])\s+"), re.compile(r"(?<=[,;:])\s+|\s+(?=[–—(])"), re.compile(r"\s+")]
_ATOM_RE = re.compile(r"<x\d+>|.", re.DOTALL)  # a mask token is never cut

# markdown/list prefixes kept verbatim: indentation, "- ", "* ", "+ ", "• ", "1. ", "1) ", "a) ",
# headings "## ", quotes "> ", task boxes "- [ ] ", emphasis wrappers around a whole line are left to MT
_PREFIX_RE = re.compile(
    r"^(?P<p>[ \t]*(?:>[ \t]?)*(?:#{1,6}[ \t]+|(?:[-*+•·–][ \t]+(?:\[[ xX]\][ \t]+)?)|"
    r"(?:\(?\d{1,3}[.)][ \t]+)|(?:\(?[a-zA-Z][.)][ \t]+(?=\S)))?)"
)
_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


@dataclass
class Piece:
    text: str                      # verbatim text, or the masked segment sent to MT
    translate: bool = False
    spans: list[str] = field(default_factory=list)   # protected spans of a segment, by token number


@dataclass
class Layout:
    pieces: list[Piece]

    @property
    def segments(self) -> list[str]:
        """The masked segments to translate, in order."""
        return [p.text for p in self.pieces if p.translate]

    @property
    def n_spans(self) -> int:
        return sum(len(p.spans) for p in self.pieces if p.translate)

    def original(self) -> str:
        return "".join(p.text if not p.translate else unmask(p.text, p.spans)[0] for p in self.pieces)

    def join(self, translations: list[str]) -> tuple[str, list[str]]:
        """Reassemble with `translations` (one per segment). Returns (text, problems); problems
        are protected-span problems from unmask (the caller quarantines the record)."""
        segs = [p for p in self.pieces if p.translate]
        if len(translations) != len(segs):
            raise ValueError(f"{len(segs)} segments but {len(translations)} translations")
        out, problems = [], set()
        it = iter(translations)
        for p in self.pieces:
            if not p.translate:
                out.append(p.text)
                continue
            text, probs = unmask(next(it).strip(), p.spans)
            problems.update(probs)
            out.append(text)
        return "".join(out), sorted(problems)


@functools.lru_cache(maxsize=8)
def _nlp(lang: str):
    import spacy

    try:
        nlp = spacy.blank(lang)
    except Exception:  # a language spaCy does not know: its multilingual tokenizer
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    return nlp


def split_long(text: str, max_chars: int, level: int = 0) -> list[str]:
    """Pieces of at most max_chars characters that concatenate to `text`: cut at sentence ends
    first, then at clause boundaries, then at spaces; only a longer word is cut inside (never a
    <xN> token). Each piece keeps its trailing whitespace."""
    if len(text) <= max_chars:
        return [text]
    if level == len(_BREAKS):
        out, cur = [], ""
        for atom in _ATOM_RE.findall(text):
            if cur and len(cur) + len(atom) > max_chars:
                out.append(cur)
                cur = ""
            cur += atom
        return out + [cur] if cur else out
    cuts = [m.end() for m in _BREAKS[level].finditer(text) if 0 < m.end() < len(text)]
    packed, cur = [], ""
    for a, b in zip([0] + cuts, cuts + [len(text)]):
        if cur and len(cur) + (b - a) > max_chars:
            packed.append(cur)
            cur = ""
        cur += text[a:b]
    packed.append(cur)
    return [p for piece in packed for p in split_long(piece, max_chars, level + 1)]


def split_sentences(text: str, lang: str = "en") -> list[str]:
    """Sentences of one line, each with its trailing whitespace ("".join gives the text back)."""
    if not text.strip():
        return [text] if text else []
    if len(text) > SPACY_CHUNK:  # never hand spaCy more than it accepts (E088)
        return [s for chunk in split_long(text, SPACY_CHUNK) for s in split_sentences(chunk, lang)]
    doc = _nlp(sentence_splitter(lang))(text)
    out = [s.text_with_ws for s in doc.sents]
    if "".join(out) != text:  # never lose a byte: fall back to the whole line
        return [text]
    return out


def _add_prose(pieces: list[Piece], content: str, lang: str, max_chars: int | None) -> None:
    m = mask(content)
    # split the masked line: tokens are not sentence ends; spans travel with their sentence
    sents = split_sentences(m.text, lang)
    if max_chars:
        sents = [p for sent in sents for p in split_long(sent, max_chars)]
    for sent in sents:
        core = sent.strip()
        if not core:
            pieces.append(Piece(sent))
            continue
        lead = sent[: len(sent) - len(sent.lstrip())]
        trail = sent[len(sent.rstrip()):]
        if lead:
            pieces.append(Piece(lead))
        ids = [int(x) for x in re.findall(r"<x(\d+)>", core)]
        local = {old: new for new, old in enumerate(ids)}
        renum = re.sub(r"<x(\d+)>", lambda mm: f"<x{local[int(mm.group(1))]}>", core)
        spans = [m.spans[i] for i in ids]
        if has_translatable_text(renum):
            pieces.append(Piece(renum, True, spans))
        else:
            pieces.append(Piece(unmask(renum, spans)[0]))
        if trail:
            pieces.append(Piece(trail))


def split_text(text: str, lang: str = "en", max_chars: int | None = None) -> Layout:
    """The Layout of one text field (instruction, input, output or a message); no segment is
    longer than max_chars (when given; see split_long)."""
    pieces: list[Piece] = []
    lines = text.splitlines(keepends=True)
    is_code = code_lines(lines)
    for line, code in zip(lines, is_code):
        body = line.rstrip("\r\n")
        end = line[len(body):]
        if code or not body.strip() or _TABLE_RULE_RE.match(body):
            pieces.append(Piece(line))
            continue
        if body.lstrip().startswith("|") and body.rstrip().endswith("|"):
            # a markdown table row: translate the cells, keep the pipes
            for cell in re.split(r"(\|)", body):
                if cell == "|" or not cell.strip():
                    pieces.append(Piece(cell))
                else:
                    lead = cell[: len(cell) - len(cell.lstrip())]
                    trail = cell[len(cell.rstrip()):]
                    if lead:
                        pieces.append(Piece(lead))
                    _add_prose(pieces, cell.strip(), lang, max_chars)
                    if trail:
                        pieces.append(Piece(trail))
        else:
            prefix = _PREFIX_RE.match(body).group("p")
            if prefix:
                pieces.append(Piece(prefix))
            _add_prose(pieces, body[len(prefix):], lang, max_chars)
        if end:
            pieces.append(Piece(end))
    # merge adjacent verbatim pieces (fewer objects, same text)
    merged: list[Piece] = []
    for p in pieces:
        if merged and not p.translate and not merged[-1].translate:
            merged[-1] = Piece(merged[-1].text + p.text)
        else:
            merged.append(p)
    return Layout(merged)
