"""Reading one large file in parts: the part descriptor and the line-level helpers.

`QuarantiningReader._plan_parts` cuts a file over `split_bytes` into `_Part`s that several ranks
read: Parquet by row groups, plain JSONL by byte ranges (each part starts at the first line
beginning in its range, its line numbers from a newline count of the bytes before it), compressed
JSONL by interleaved blocks of lines (every part streams the whole file and parses only its own
blocks). Positions and default ids are those of the unsplit read, so the documents are the same.
"""

from __future__ import annotations


class _Part(str):
    """One part of a file read in parts: a str (the file's relative path, so datatrove's shard
    handling and logging treat it as a file) that also says which part."""

    kind: str  # "rows" (Parquet row groups), "bytes" (plain JSONL), "blocks" (compressed JSONL)
    index: int
    count: int
    start: int  # first row group / byte offset
    end: int
    first: int  # first row / line number of the part

    def __new__(cls, path: str, kind: str, index: int, count: int, start: int = 0, end: int = 0, first: int = 0):
        obj = super().__new__(cls, path)
        obj.kind, obj.index, obj.count, obj.start, obj.end, obj.first = kind, index, count, start, end, first
        return obj

    def __reduce__(self):
        return _Part, (str(self), self.kind, self.index, self.count, self.start, self.end, self.first)


def _compression_of(path: str) -> bool:
    return path.endswith((".gz", ".zst", ".bz2", ".xz", ".lzma", ".zstd"))


def _bounded_lines(f, cap: int, first: int = 1, end: int | None = None):
    """Yield (line_number, bytes, complete) from line number `first` on; a line over `cap` bytes
    is cut and the rest skipped. With `end`, stop before the first line starting at or past that
    byte offset of a plain file (f positioned at a line start)."""
    lineno = first - 1
    offset = f.tell() if end is not None else 0
    while (end is None or offset < end) and (line := f.readline(cap + 1)):
        lineno += 1
        offset += len(line)
        complete = len(line) <= cap or line.endswith(b"\n")
        if not complete:
            while (rest := f.readline(cap)) and not rest.endswith(b"\n"):
                offset += len(rest)
            offset += len(rest)
        yield lineno, line, complete


def _seek_line_start(f, start: int, chunk: int = 1 << 24) -> int:
    """Position a plain file at the first line starting at or after byte `start`; return that
    line's number, counted from the newlines before it (a fast bytes.count, not a parse)."""
    f.seek(0)
    lines, pos = 1, 0
    while pos < start - 1:  # count the newlines in bytes [0, start - 1)
        block = f.read(min(chunk, start - 1 - pos))
        if not block:
            break
        lines += block.count(b"\n")
        pos += len(block)
    if start > 0:
        # the line holding byte start-1 belongs to the previous part unless that byte ends it
        while block := f.read(chunk):
            i = block.find(b"\n")
            if i >= 0:
                f.seek(pos + i + 1)
                return lines + 1
            pos += len(block)
        return lines
    f.seek(0)
    return lines
