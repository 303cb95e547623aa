r"""Protected spans: what machine translation must never touch, and the check that it did not.

Two levels:
- Lines: `code_lines(lines)` marks the lines of a text that are code, kept verbatim and never
  sent to MT: fenced blocks (``` / ~~~), indented blocks after a blank line when they look like
  code, and code-looking lines found by syntax (statement-ending `;` `{` `}`, keywords such as
  `def`/`return`/`import`/`SELECT`, assignments, calls, tags, comment lines inside code).
  Fences alone are not enough: in Alpaca most code has none. A code line pulls into its block
  the blank, comment and more-indented lines around it, so a mostly-code record keeps all of
  its code while the prose lines around it are still translated. Shapes without keywords count
  too: CSS declarations and selectors, JSON key/value lines, HTML attribute/continuation lines,
  SQL clauses, shell commands, upper-case pseudo-code (IF ... THEN, FOR ... TO, END WHILE) and
  display math ($$ ... $$, \[ ... \], \begin{...} ... \end{...}).
- Inline spans inside prose: inline code, inline math ($x^2$, \(...\)), URLs, e-mails, numbers with units, placeholders
  (`{name}`, `{{x}}`, `<...>`, `%s`, `%(name)s`, `$VAR`). `mask` replaces each by a token
  `<xN>` (N counts from 0 in each segment); `unmask` puts the original bytes back and reports
  any token the translation lost, duplicated or garbled. A record with such a problem is
  quarantined by the caller: nothing is silently altered.

Why `<xN>`: MT models copy XML-like tags (OPUS corpora are full of them: GNOME, KDE, Ubuntu
localisation files) and LLMs are told to keep them; a short ASCII token survives SentencePiece
vocabularies that lack brackets such as ⟦⟧. `unmask` accepts spacing variants (`< x0 >`).
Hand-written because no maintained library does placeholder masking for MT with verification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["code_lines", "is_code_line", "mask", "unmask", "has_translatable_text", "Masked", "TOKEN_RE"]

TOKEN_FMT = "<x{}>"
TOKEN_RE = re.compile(r"<\s*x\s*(\d+)\s*>", re.IGNORECASE)
# pieces of a token left after an MT mangled it ("<x", "x0>", "&lt;x0&gt;")
_GARBLED_RE = re.compile(r"<\s*x\s*\d*(?!\d|\s*>)|(?<![<\w])x\d+\s*>|&lt;\s*x\s*\d+", re.IGNORECASE)

_UNITS = (
    # no one-letter units that are also English words or endings ("fold 2 in half", "the 1990s", "5 A students")
    r"%|‰|°\s?[CFK]|°|kg|g|mg|µg|km|m|cm|mm|µm|nm|mi|ft|yd|lbs?|oz|mph|km/h|m/s|kWh|kW|W|MW|V|mV|mA|mAh|"
    r"Hz|kHz|MHz|GHz|KB|kB|MB|GB|TB|PB|bps|Mbps|Gbps|ml|mL|L|cl|dl|hrs?|min|ms|µs|ns|px|pt|dpi|"
    r"kcal|kJ|Pa|kPa|bar|psi|USD|EUR|GBP|€|£"
)
_INLINE_PATTERNS = [
    ("code", r"``[^`\n]+``|`[^`\n]+`"),
    # math: $$..$$, \(..\), \[..\], and $..$ that does not start with a digit or space ("$5 and $10" is money)
    ("math", r"\$\$[^$\n]+\$\$|\\\(.+?\\\)|\\\[.+?\\\]|(?<![\w$\\])\$(?=[^\s$\d])[^$\n]{1,200}?(?<=\S)\$(?![\w$])"),
    ("url", r"\b(?:https?|ftp)://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}]|\bwww\.[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}]"),
    ("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    ("placeholder", r"\{\{[^{}\n]{0,60}\}\}|\{[A-Za-z_][\w.\[\]]{0,40}\}|\{\d{0,2}\}|"
                    r"</?[A-Za-z][\w:-]{0,20}(?:\s[^<>\n]{0,80})?/?>|<[A-Za-z_][\w -]{0,30}>|"
                    r"%\(\w+\)[sdifr]|%[-+0 #]?\d*(?:\.\d+)?[sdifrx]\b|\$\{\w+\}|\$[A-Z_][A-Z0-9_]+\b"),
    ("number", rf"[$€£]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:{_UNITS})(?![\w])"),
]
_INLINE_RE = re.compile("|".join(f"(?P<{name}>{pat})" for name, pat in _INLINE_PATTERNS))
_MATH_RE = re.compile(dict(_INLINE_PATTERNS)["math"])


@dataclass
class Masked:
    text: str            # the text with each protected span replaced by <xN>
    spans: list[str]     # original bytes of span N
    kinds: list[str]     # "code", "url", "email", "placeholder", "number"


def mask(text: str) -> Masked:
    """Replace protected inline spans by <x0>, <x1>, ... (numbered in order of appearance).
    A text that already contains something token-like has it protected too, so unmask is exact."""
    spans: list[str] = []
    kinds: list[str] = []

    def repl(m: re.Match) -> str:
        spans.append(m.group(0))
        kinds.append(m.lastgroup or "span")
        return TOKEN_FMT.format(len(spans) - 1)

    # existing token-like strings first: they must not be confused with ours
    pre = TOKEN_RE.sub(lambda m: "\0" + m.group(0) + "\0", text)
    if "\0" in pre:
        parts = pre.split("\0")
        out = []
        for i, part in enumerate(parts):
            if i % 2:
                spans.append(part)
                kinds.append("placeholder")
                out.append(TOKEN_FMT.format(len(spans) - 1))
            else:
                out.append(_INLINE_RE.sub(repl, part))
        return Masked("".join(out), spans, kinds)
    return Masked(_INLINE_RE.sub(repl, text), spans, kinds)


def unmask(translated: str, spans: list[str]) -> tuple[str, list[str]]:
    """Restore spans into a translation of a masked text.

    Returns (text, problems); problems are "protected_span_lost" (a token missing),
    "protected_span_duplicated" (a token twice), "protected_span_garbled" (an unknown token number
    or a mangled token). The caller quarantines a record with any problem."""
    problems: list[str] = []
    seen: dict[int, int] = {}

    def repl(m: re.Match) -> str:
        i = int(m.group(1))
        seen[i] = seen.get(i, 0) + 1
        return spans[i] if i < len(spans) else m.group(0)

    out = TOKEN_RE.sub(repl, translated)
    if any(i >= len(spans) for i in seen):
        problems.append("protected_span_garbled")
    if any(seen.get(i, 0) == 0 for i in range(len(spans))):
        problems.append("protected_span_lost")
    if any(n > 1 for i, n in seen.items() if i < len(spans)):
        problems.append("protected_span_duplicated")
    if _GARBLED_RE.search(TOKEN_RE.sub(" ", translated)):
        problems.append("protected_span_garbled")
    return out, sorted(set(problems))


def has_translatable_text(masked: str) -> bool:
    """True when a masked segment has words left to translate (not only tokens, digits, symbols)."""
    rest = TOKEN_RE.sub(" ", masked)
    return sum(c.isalpha() for c in rest) >= 2


# ---------------------------------------------------------------- code lines

_FENCE_RE = re.compile(r"^\s{0,3}(```+|~~~+)")
_KEYWORD_RE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |return\b|elif\b|else\s*:|try\s*:|except\b|finally\s*:|"
    r"for \w+(?:,\s*\w+)* in \S.*:\s*$|while .*:\s*$|if .*:\s*$|with .*:\s*$|lambda\b|print\s*\(|"
    r"public |private |protected |static |void |int |float |double |char |bool |boolean |String\s|"
    r"#include|#define|#import|using namespace|package |function\b|var |let |const |func |fn |"
    r"console\.|System\.out|std::|end\b\s*$|begin\b|fi\s*$|done\s*$|echo |sudo |pip |npm |git |"
    r"SELECT\b|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(?:TABLE|DATABASE|INDEX|VIEW)|"
    r"DROP\s+TABLE|ALTER\s+TABLE|FROM\s+\w+|WHERE\b|GROUP\s+BY|ORDER\s+BY|VALUES\s*\(|"
    r"<!DOCTYPE|<\?xml|<\?php|\$\s)"
)
# shapes of code without keywords
_SHAPE_RES = [
    re.compile(r"^\s*[-a-z]+\s*:\s*[^;{}]+;\s*(?:/\*.*\*/)?\s*$"),                          # CSS: color: #333;
    re.compile(r"^\s*(?:[.#]?[A-Za-z][\w-]*(?:[\s>+~,:.#]+[\w-]+)*|\*|@media[^{]*)\s*\{\s*$"),   # CSS/JS: body {
    re.compile(r'^\s*"[^"\n]{1,80}"\s*:\s*(?:"(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null|[\[{])\s*,?\s*$'),  # JSON
    re.compile(r'^\s*(?:[A-Za-z_:][-\w:.]*="[^"]*"\s*)+/?>?\s*$'),                           # HTML attributes
    re.compile(r"^\s*</?[A-Za-z][\w-]*[^<>]*>.*</[A-Za-z][\w-]*>\s*$"),                        # <li>...</li>
    re.compile(r"^\s*<[A-Za-z][\w-]*(?:\s[^<>]*)?$|^[^<>]*</[A-Za-z][\w-]*>\s*$"),               # <tag ... / ...</tag>
    re.compile(r"^\s*(?:(?:LEFT|RIGHT|INNER|OUTER|FULL|CROSS)\s+)*JOIN\s|^\s*(?:ON|AND|OR|HAVING|LIMIT|"
               r"OFFSET|UNION(?:\s+ALL)?|SET|INTO|RETURNING)\s+[\w(*'\"]"),                      # SQL clauses
    re.compile(r"^\s*(?:cd|ls|mkdir|rm|cp|mv|cat|chmod|chown|curl|wget|grep|find|tar|export|source|python3?|"
               r"node|docker|kubectl|apt(?:-get)?|brew|conda|make|ssh|scp|touch|head|tail|awk|sed|java|javac|gcc)"
               r"\s+(?=.*(?:\s-{1,2}\w|/|\||&&|>|=|\.\w{1,4}\b))[^.?!]*$"),                     # shell
    re.compile(r"^\s*(?:IF\b.*\bTHEN\b|ELSE(?:\s*IF\b.*)?|END\s*(?:IF|FOR|WHILE|FUNCTION|PROCEDURE)\b|ENDIF|"
               r"ENDFOR|ENDWHILE|FOR\b.*\b(?:TO|IN|DO)\b|WHILE\b.*\bDO\b|REPEAT|UNTIL\b|RETURN\b|PRINT\b|"
               r"INPUT\b|OUTPUT\b|DISPLAY\b|SET\b.*\bTO\b|(?:PROCEDURE|FUNCTION|ALGORITHM)\s+\w|BEGIN|END)\b.*$|"
               r"^\s*\w+(?:\[[^\]]*\])?\s*(?:←|<-|:=)\s*\S"),                                 # pseudo-code
]
_MATH_OPEN_RE = re.compile(r"^\s*(\$\$|\\\[|\\begin\{(\w+\*?)\})")

_CODE_END_RE = re.compile(r"(?:[;{}]|\)\s*:|=>|\)\s*\{)\s*$")
# ends with a call "f(x)" / "obj.m(a, b);" (no space before "(": prose writes "word (aside)")
_CALL_END_RE = re.compile(r"[\w\]]\([^()]*\)\s*[;,]?\s*$")
_LIST_LITERAL_RE = re.compile(r"^\s*\[[^\[\]]*,[^\[\]]*\]\s*[,;]?\s*$|^\s*\[\s*\[.*\]\s*\]\s*[,;]?\s*$")
_ASSIGN_RE = re.compile(r"^\s*[A-Za-z_][\w.\[\]'\"]*\s*(?:[-+*/%|&^]|//|\*\*)?=\s*\S")
_CALL_RE = re.compile(r"^\s*[A-Za-z_][\w.]*\([^()]*\)\s*;?\s*$")
_TAG_LINE_RE = re.compile(r"^\s*</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>.*$")
_COMMENT_RE = re.compile(r"^\s*(?://|/\*|\*/|\*\s|--\s|#(?!#*\s+[A-Z][^=;{}()]*$))")
_SYNTAX = set("{}[]()=;<>+*/\\_$#@|&^%~`\"'")
_STRICT_SYNTAX = set("{}[]()=;<>+*/\\_$|&^~")
_NOT_SYNTAX_RE = re.compile(r"_{2,}|\b\d+\)|(?<=\w)'(?=\w)")


def is_code_line(line: str) -> bool:
    """A line that looks like source code on its own (syntax, keywords, assignments, tags)."""
    s = line.rstrip("\r\n")
    t = s.strip()
    if not t:
        return False
    if _FENCE_RE.match(s) or _KEYWORD_RE.match(s) or _ASSIGN_RE.match(s) or _CALL_RE.match(s):
        return True
    if _TAG_LINE_RE.match(s) or _LIST_LITERAL_RE.match(s) or t.startswith(('"""', "'''")):
        return True
    if any(rx.match(s) for rx in _SHAPE_RES):
        return True
    words = t.split()
    letters = sum(c.isalpha() for c in t)
    # fill-in blanks "____" and list markers "1)" are prose; quotes and apostrophes are weak signs
    bare = _NOT_SYNTAX_RE.sub(" ", _MATH_RE.sub(" ", t))  # inline math in prose is masked, not code
    syntax = sum(c in _SYNTAX for c in bare)
    strict = sum(c in _STRICT_SYNTAX for c in bare)
    if _CODE_END_RE.search(t) and (strict >= 2 or len(words) <= 2):
        return True
    if _CALL_END_RE.search(t) and (len(words) <= 3 or syntax >= 4):
        return True
    return syntax >= 4 and syntax >= 0.25 * max(letters, 1)


def _math_close(line: str, opener: str, env: str | None) -> bool:
    """Does `line` close the display-math block opened by `opener`?"""
    if opener == "$$":
        return line.count("$$") % 2 == 1
    if opener == "\\[":
        return "\\]" in line
    return f"\\end{{{env}}}" in line


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def code_lines(lines: list[str]) -> list[bool]:
    """Which lines (with or without line ends) are code, to keep verbatim.

    Fenced blocks are code whole (fence lines included). Outside fences a code-looking line is
    code, and the block grows over neighbouring blank lines, comment lines, closing brackets and
    lines indented deeper than the block's first line, while the next non-blank line is code too.
    """
    n = len(lines)
    code = [False] * n
    in_fence: str | None = None
    in_math: tuple[str, str | None] | None = None
    for i, line in enumerate(lines):
        if in_math is not None:  # display math is kept whole, like a fence
            code[i] = True
            if _math_close(line, *in_math):
                in_math = None
            continue
        mm = _MATH_OPEN_RE.match(line)
        if mm and in_fence is None:
            code[i] = True
            rest = line[mm.end():]
            if not _math_close(rest, mm.group(1) if mm.group(1) in ("$$", "\\[") else "env", mm.group(2)):
                in_math = (mm.group(1) if mm.group(1) in ("$$", "\\[") else "env", mm.group(2))
            continue
        m = _FENCE_RE.match(line)
        if in_fence is not None:
            code[i] = True
            if m and m.group(1)[0] == in_fence[0] and len(m.group(1)) >= len(in_fence):
                in_fence = None
            continue
        if m:
            in_fence = m.group(1)
            code[i] = True
            continue
        code[i] = is_code_line(line)
    # python triple-quoted strings opened on a code line stay code to their end
    i = 0
    while i < n:
        if code[i] and lines[i].count('"""') % 2 == 1 or code[i] and lines[i].count("'''") % 2 == 1:
            quote = '"""' if lines[i].count('"""') % 2 == 1 else "'''"
            j = i + 1
            while j < n and lines[j].count(quote) % 2 == 0:
                code[j] = True
                j += 1
            if j < n:
                code[j] = True
            i = j + 1
        else:
            i += 1
    # indented code block after a blank line (markdown), when it looks like code somewhere
    i = 0
    while i < n:
        if (i == 0 or not lines[i - 1].strip()) and _indent(lines[i]) >= 4 and lines[i].strip():
            j = i
            while j < n and (not lines[j].strip() or _indent(lines[j]) >= 4):
                j += 1
            if any(code[i:j]):
                for k in range(i, j):
                    code[k] = code[k] or bool(lines[k].strip())
            i = j
        else:
            i += 1
    # grow blocks: lines between/inside code that are comments, deeper-indented, or brackets
    for _ in range(2):
        for i in range(n):
            if code[i] or not lines[i].strip():
                continue
            prev = next((k for k in range(i - 1, -1, -1) if lines[k].strip()), None)
            nxt = next((k for k in range(i + 1, n) if lines[k].strip()), None)
            prev_code = prev is not None and code[prev]
            next_code = nxt is not None and code[nxt]
            s = lines[i]
            if prev_code and next_code and (_COMMENT_RE.match(s) or _indent(s) > 0 or len(s.split()) <= 2):
                code[i] = True
            elif prev_code and _indent(s) > _indent(lines[prev]):
                code[i] = True
            elif (prev_code or next_code) and _COMMENT_RE.match(s) and not s.lstrip().startswith("# "):
                code[i] = True
            elif (prev_code or next_code) and s.strip() in {"}", "};", ")", "]", "end", "fi", "done", "*/"}:
                code[i] = True
            elif prev_code and next_code and s.lstrip().startswith("#"):
                code[i] = True
    return code
