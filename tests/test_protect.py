"""Protected spans and layout: byte-identical round trips through a prose-translating backend,
code found without fences, quarantine when MT loses or garbles a span."""

from __future__ import annotations

import json
import re

import pytest

from llammas_core.instructions.cache import SegmentCache
from llammas_core.instructions.mt import translate_items
from llammas_core.instructions.protect import code_lines, is_code_line, mask, unmask
from llammas_core.instructions.segment import split_text
from llammas_core.instructions.translate.config import QEConfig, QEThresholds
from llammas_core.store import LocalStore
from tests.mt_fixtures import ALPACA, FakeTranslator, estonianish

NO_QE = QEConfig(thresholds={"default": QEThresholds(lid_min_prob=None, length_ratio_min=None,
                                                     length_ratio_max=None, copy_max=None,
                                                     compression_ratio_max=None)})

RECORD = (
    "## Setup\n"
    "1. Visit https://example.com/docs?id=3&x=y for details.\n"
    "2. Run `pip install llammas==0.1` and e-mail ops@example.org if it fails.\n"
    "   - It needs 16 GB of memory and 2.5 GHz.\n"
    "\n"
    "Use {name} or <user_name> in the template, and %s for the value.\n"
    "```python\n"
    "def greet(name):\n"
    "    return f\"Hello {name}!\"  # say hello\n"
    "```\n"
    "\n"
    "    indented = True\n"
    "    print(indented)\n"
    "\n"
    "That is all. Thanks!\n"
)
SPANS = ["https://example.com/docs?id=3&x=y", "`pip install llammas==0.1`", "ops@example.org", "16 GB", "2.5 GHz",
         "{name}", "<user_name>", "%s"]
CODE_LINES = ["```python\n", "def greet(name):\n", "    return f\"Hello {name}!\"  # say hello\n", "```\n",
              "    indented = True\n", "    print(indented)\n"]


def test_mask_unmask_round_trip():
    m = mask("See https://a.b/c, `x = 1`, 5 kg and {slot} or %d.")
    assert m.spans == ["https://a.b/c", "`x = 1`", "5 kg", "{slot}", "%d"]
    assert m.text == "See <x0>, <x1>, <x2> and <x3> or <x4>."
    back, problems = unmask(m.text, m.spans)
    assert back == "See https://a.b/c, `x = 1`, 5 kg and {slot} or %d." and problems == []
    # spacing variants MT produces are accepted; order may change
    assert unmask("Vaata < x1 > ja <X0>", ["A", "B"]) == ("Vaata B ja A", [])
    assert unmask("Vaata <x0>", ["A", "B"])[1] == ["protected_span_lost"]
    assert unmask("<x0> <x0> <x1>", ["A", "B"])[1] == ["protected_span_duplicated"]
    assert "protected_span_garbled" in unmask("<x0> <x7> <x1>", ["A", "B"])[1]
    assert "protected_span_garbled" in unmask("<x0> x1>", ["A", "B"])[1]
    # a text that already holds token-like strings keeps them exactly
    m = mask("literal <x0> here")
    assert unmask(m.text, m.spans) == ("literal <x0> here", [])


def test_layout_keeps_markdown_and_code_through_prose_translation(tmp_path):
    layout = split_text(RECORD)
    segs = layout.segments
    assert all("://" not in s and "@" not in s for s in segs)  # spans masked before MT
    assert not any("def greet" in s or "indented" in s for s in segs)  # code never sent
    out, problems = layout.join([estonianish(s) for s in segs])
    assert problems == []
    for span in SPANS:
        assert out.count(span) == RECORD.count(span), span
    for line in CODE_LINES + ["## ", "1. ", "2. ", "   - "]:
        assert line in out, line
    assert out.count("\n") == RECORD.count("\n")
    assert "Setup" not in out and "setupile" in out  # prose did change
    # the same through translate_items, with a segment cache in a store
    tr = FakeTranslator()
    cache = SegmentCache(LocalStore(tmp_path), tr.identity())
    [res] = translate_items([["Explain the code.", "", RECORD]], tr, cache, NO_QE)
    assert res.verdict == "ok" and res.reasons == []
    assert res.texts[1] == ""  # empty text passes through untranslated
    assert res.texts[2] == out and res.texts[0] == "explainile theile codeile."


def test_mostly_code_record_keeps_code_translates_prose(tmp_path):
    record = ("The following script prints the squares of 1 to 5:\n\n"
              "for i in range(1, 6):\n    print(i * i)\n\n"
              "x = [1, 2, 3]\nresult = sum(x)\n\n"
              "It uses a simple loop.")
    tr = FakeTranslator()
    [res] = translate_items([[record]], tr, SegmentCache(LocalStore(tmp_path), tr.identity()), NO_QE)
    out = res.texts[0]
    assert "for i in range(1, 6):\n    print(i * i)\n\nx = [1, 2, 3]\nresult = sum(x)\n\n" in out
    assert out.startswith("theile followingile scriptile printsile theile squaresile ofile ")
    assert out.endswith("itile usesile aile simpleile loopile.")
    assert not any("print(" in s or "range(" in s or "sum(" in s for s in tr.seen)


def test_code_lines_without_fences():
    lines = ["Here is the function:", "def add(a, b):", '    """Add two numbers.', "", "    Returns the sum.",
             '    """', "    return a + b", "", "It returns the sum."]
    assert code_lines(lines) == [False, True, True, True, True, True, True, False, False]
    for code in ["int n1=0,n2=1,n3;", "SELECT name FROM users WHERE id = 1;", "<div class=\"x\">", "}",
                 "console.log(x);", "import numpy as np", "a = [1, 2, 3]"]:
        assert is_code_line(code), code
    for prose in ["The _______ floated in the water.", "By chance, or nature's changing course, untrimmed;",
                  "1) Positive; 2) Neutral; 3) Negative", "Use the sorted() function (it is built in).",
                  "Dear [Friend],", "Avengers: Endgame ($2.797 billion)", "It costs 5 dollars."]:
        assert not is_code_line(prose), prose


@pytest.mark.skipif(not ALPACA.exists(), reason="shared Alpaca sample not present")
def test_alpaca_layout_round_trip_and_code_coverage():
    records = json.loads(ALPACA.read_text())
    code_records = 0
    fenced = 0
    for r in records:
        has_code = False
        for f in ("instruction", "input", "output"):
            layout = split_text(r[f])
            # identity "translation" gives the text back byte for byte
            assert layout.join(layout.segments) == (r[f], []), r[f][:80]
            has_code |= any(code_lines(r[f].split("\n")))
        code_records += has_code
        fenced += "```" in r["output"]
    # the issue counts ~237 code-looking records, only one with fences
    assert fenced == 1
    assert 200 <= code_records <= 320, code_records


def test_placeholder_dropped_gets_quarantined(tmp_path):
    def drop(seg):
        return re.sub(r"<x0>", "", estonianish(seg))

    def dup(seg):
        return estonianish(seg).replace("<x0>", "<x0> <x0>")

    items = [["Open https://example.com now.", "Say hello."], ["Plain text only here."]]
    for fn, reason in [(drop, "protected_span_lost"), (dup, "protected_span_duplicated")]:
        tr = FakeTranslator(fn, name=reason)
        res = translate_items(items, tr, SegmentCache(LocalStore(tmp_path), tr.identity()), NO_QE)
        assert res[0].verdict == "quarantined" and res[0].texts is None and res[0].reasons == [reason]
        assert res[0].qe["span_problems"] == [reason]
        assert res[1].verdict == "ok" and res[1].texts == ["plainile textile onlyile hereile."]


SHAPES = """Here is the style sheet for the page.
.card {
  color: #333;
  margin: 0 auto;
}
The settings file looks like this.
{
  "name": "Widget",
  "description": "A small blue widget for the kitchen",
  "price": 14.99
}
Add the button below.
<button
  class="btn btn-primary" id="submit">
  Send</button>
The query joins both tables.
SELECT name FROM users
INNER JOIN orders ON users.id = orders.user_id
LIMIT 10;
Run these commands first.
mkdir build && cd build
ls -la /home/user
The algorithm in pseudo-code.
SET total TO 0
FOR i = 1 TO n
  total := total + a[i]
END FOR
The area of a circle is $\\pi r^2$ and the roots are \\(x_1, x_2\\).
$$
x = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}
$$
That is all."""


def test_code_shapes_and_math_outside_fences_stay_verbatim():
    # before: CSS declarations, JSON keys, HTML continuation lines, SQL clauses, shell, pseudo-code
    # and math outside fences went to the translator
    layout = split_text(SHAPES)
    sent = "\n".join(layout.segments)
    for code in ("color", "margin", '"name"', '"description"', "btn-primary", "INNER JOIN", "LIMIT", "mkdir",
                 "ls -la", "SET total", "FOR i", "total :=", "END FOR", "\\pi", "x_1", "\\frac"):
        assert code not in sent, code
    prose = [line for line in SHAPES.splitlines() if line[:1].isupper() and line.endswith(".")
             and not line.startswith(("SELECT", "SET", "FOR", "END"))]
    assert len(layout.segments) == len(prose) == 8  # every prose line still goes to MT, math masked in it
    assert "<x0>" in layout.segments[-2] and "<x1>" in layout.segments[-2]
    assert layout.join(layout.segments) == (SHAPES, [])
