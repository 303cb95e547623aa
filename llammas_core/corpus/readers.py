"""Input readers that quarantine bad input instead of dropping it.

datatrove's readers log and skip malformed records, drop documents without text with a single
warning, and let one corrupt file end a task. At corpus scale we need to know what was lost and
why, so these readers keep datatrove's machinery (file listing, sharding `files[rank::world_size]`,
compression inference, limit/skip, stats) and replace only the per-file parsing: every bad file or
record becomes one quarantine entry and the run goes on with the next record or file.

Quarantine layout: `<quarantine_folder>/<reason>/<source>-<rank:05d>.jsonl` (`source` is
source_name made filename-safe), one JSON object a line:

    {"reason", "detail", "source", "file", "position", "excerpt", ...}

`position` is a 1-based line number (JSONL), a 0-based row (Parquet) or a byte offset in the
decompressed stream (WARC/ARC/WET); null for whole-file problems. For "truncated_file" it is the
last complete record before the break. `excerpt` is at most EXCERPT_CHARS characters of the raw
input, undecodable bytes as backslash escapes. Readers may share a quarantine folder as long as
their source names differ: a reader removes its own old entries for a rank when it starts that
rank, so a rerun replaces them.

Bounded: at most `max_examples` entries (default 1,000) are written per reason and per source
file, so a hostile input (a 9 KB gzip of millions of `{}` lines) cannot flood the store. Exact
counts of everything quarantined, written or not, go to `<quarantine_folder>/_counts/<source>-<rank:05d>.json`
({reason: {file: count}}); `quarantine_counts` sums those, so in = kept + removed + quarantined holds.
`file` is the source URI when the reader is given `file_uris` (the corpus stage passes them, so the
bytes do not depend on the scratch folder), else the resolved path.

Large files are read in parts by several ranks when `split_bytes` is set (see `_plan_parts` and
`file_parts`); positions and default ids are those of the unsplit read.

Reasons (each also counted as datatrove stat `quarantined_<reason>`):
    unreadable_file, empty_file, truncated_file, corrupt_file, missing_text_column (Parquet),
    invalid_utf8, malformed_json, not_an_object, missing_text, too_large, binary_payload.
Not bad input, so only counted (stat `skipped_<why>`): WARC responses with a status other than
200, WARC records that carry no document (request, metadata, warcinfo, revisit...), and
non-HTTP responses (dns:...).

This module holds the shared base class and the JSONL and Parquet readers; the WARC/WET/ARC
reader is in `warc_reader`.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import os
import random
import re
import reprlib
import zlib

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFileLike, DataFolderLike, get_datafolder, get_shard_from_paths_file
from datatrove.pipeline.readers.base import BaseDiskReader

from llammas_core.corpus.file_parts import _bounded_lines, _compression_of, _Part, _seek_line_start

EXCERPT_CHARS = 2_000
DEFAULT_MAX_DOC_BYTES = 1_000_000
DEFAULT_MAX_EXAMPLES = 1_000
COUNTS_FOLDER = "_counts"
# whole-file problems: reported by the first part of a split file only
FILE_REASONS = {"unreadable_file", "empty_file", "truncated_file", "corrupt_file", "missing_text_column"}
# compressed JSONL read in parts: part i of n parses line blocks i, i+n, i+2n... of this many lines
LINE_BLOCK = 1_000

_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxdict, _repr.maxlist = 200, 200, 50, 20


def _excerpt(raw: bytes | str | object) -> str:
    if isinstance(raw, bytes):
        text = raw[: EXCERPT_CHARS * 4].decode("utf-8", "backslashreplace")
    elif isinstance(raw, str):
        text = raw[:EXCERPT_CHARS]
    else:
        text = _repr.repr(raw)
    return text[:EXCERPT_CHARS]


def _decompression_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (gzip.BadGzipFile, zlib.error, lzma.LZMAError)
    try:
        import zstandard

        errors += (zstandard.ZstdError,)
    except ImportError:
        pass
    return errors


def _datafolder(folder: DataFolderLike | os.PathLike):
    # datatrove accepts str but not pathlib.Path
    return get_datafolder(os.fspath(folder) if isinstance(folder, os.PathLike) else folder)


class _BadFile(Exception):
    """A whole-file problem found by a format parser; the base reader quarantines it."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class _Truncated(Exception):
    """The input ends inside a record. Not an EOFError: warcio takes those for a clean end."""


def quarantine_counts(quarantine_folder: DataFolderLike | os.PathLike, by_file: bool = False) -> dict:
    """Exact number of quarantined items per reason (or {reason: {file: n}} with by_file), from
    the readers' count files: entries beyond the example limit are counted but not written."""
    folder = _datafolder(quarantine_folder)
    counts: dict[str, dict[str, int]] = {}
    for path in folder.glob(f"{COUNTS_FOLDER}/*.json"):
        with folder.open(path, "rb") as f:
            for reason, files in json.loads(f.read()).items():
                for file, n in files.items():
                    per_file = counts.setdefault(reason, {})
                    per_file[file] = per_file.get(file, 0) + n
    if by_file:
        return {r: dict(sorted(files.items())) for r, files in sorted(counts.items())}
    return {r: sum(files.values()) for r, files in sorted(counts.items())}


def display_path(path: str) -> str:
    """A file name as printable text: bytes that are not UTF-8 (held by Python as lone
    surrogates) become backslash escapes instead of failing every later encode()."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        try:
            raw = path.encode("utf-8", "surrogateescape")  # how os.listdir() holds undecodable bytes
        except UnicodeEncodeError:
            raw = path.encode("utf-8", "backslashreplace")
        return raw.decode("utf-8", "backslashreplace")


class QuarantiningReader(BaseDiskReader):
    """File-level robustness shared by the format readers.

    Subclasses implement `_read_records(f, filepath)`, yielding `(position, Document | None)` for
    every record they consume (None once they have quarantined or skipped it). This class opens the
    file and turns unreadable, empty, truncated and corrupt files into quarantine entries.
    """

    compression: str | None = None
    position_kind = "record"
    # Errors that mean "this file is broken"; anything else propagates, and so do connection
    # errors and timeouts (OSError subclasses), so the orchestrator can retry the task.
    corrupt_errors: tuple[type[BaseException], ...] = _decompression_errors()

    def __init__(
        self,
        data_folder: DataFolderLike | os.PathLike,
        quarantine_folder: DataFolderLike | os.PathLike,
        glob_pattern: str | None = None,
        text_key: str = "text",
        id_key: str = "id",
        max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
        source_name: str | None = None,
        paths_file: DataFileLike | None = None,
        limit: int = -1,
        skip: int = 0,
        file_progress: bool = False,
        doc_progress: bool = False,
        default_metadata: dict | None = None,
        recursive: bool = True,
        shuffle_files: bool = False,
        max_examples: int = DEFAULT_MAX_EXAMPLES,
        file_uris: dict[str, str] | None = None,
        split_bytes: int = 0,
    ):
        super().__init__(
            _datafolder(data_folder),
            paths_file=paths_file,
            limit=limit,
            skip=skip,
            file_progress=file_progress,
            doc_progress=doc_progress,
            text_key=text_key,
            id_key=id_key,
            default_metadata=default_metadata,
            recursive=recursive,
            glob_pattern=glob_pattern,
            shuffle_files=shuffle_files,
        )
        self.quarantine_folder = _datafolder(quarantine_folder)
        self.max_doc_bytes = max_doc_bytes
        self.source_name = source_name or self.data_folder.path
        self._file_tag = re.sub(r"[^A-Za-z0-9._-]+", "_", self.source_name).strip("_") or "source"
        self._quarantine_out = None  # set inside run() only, so the step still pickles to workers
        self._rank = 0
        self.max_examples = max_examples
        self.file_uris = {k: display_path(v) for k, v in (file_uris or {}).items()}
        self.split_bytes = split_bytes
        self._counts: dict[str, dict[str, int]] = {}
        self._part: _Part | None = None

    # -- quarantine ---------------------------------------------------------------------------

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._rank = rank
        self._counts = {}
        counts_file = f"{COUNTS_FOLDER}/{self._file_tag}-{rank:05d}.json"
        for old in self.quarantine_folder.glob(f"*/{self._quarantine_file(rank)}"):
            self.quarantine_folder.rm(old)
        if self.quarantine_folder.exists(counts_file):
            self.quarantine_folder.rm(counts_file)
        with self.quarantine_folder.get_output_file_manager(mode="wb", compression=None) as out:
            self._quarantine_out = out
            try:
                if data:
                    yield from data
                yield from self._run_shard(rank, world_size)
            finally:
                self._quarantine_out = None
            if self._counts:
                counts = {r: dict(sorted(files.items())) for r, files in sorted(self._counts.items())}
                out.write(counts_file, json.dumps(counts, ensure_ascii=False, indent=1).encode("utf-8", "backslashreplace"))

    def _run_shard(self, rank: int, world_size: int) -> DocumentsPipeline:
        """datatrove's BaseDiskReader.run, over parts of files: files[rank::world_size] when no
        file is split, else the same round-robin over the list of (file, part)."""
        if self.paths_file:
            files = list(get_shard_from_paths_file(self.paths_file, 0, 1))
        else:
            files = self.data_folder.list_files(recursive=self.recursive, glob_pattern=self.glob_pattern)
        if not files:
            raise RuntimeError(f"source {self.source_name!r}: no files found in {self.data_folder.path}")
        units = self._plan_parts(files, world_size) if self.split_bytes > 0 and world_size > 1 else files
        shard = units[rank::world_size]
        self._log_limit_scope(rank, world_size)
        if self.shuffle_files:
            random.shuffle(shard)
        for doc in self.read_files_shard(shard):
            self.update_doc_stats(doc)
            yield doc

    def _plan_parts(self, files: list[str], world_size: int) -> list[str]:
        """Files at most split_bytes big stay whole; bigger ones become up to world_size parts."""
        units: list[str] = []
        for path in files:
            size = self.data_folder.size(path)
            n = min(world_size, -(-size // self.split_bytes))
            units.extend(self._split(path, size, n) if n > 1 else [path])
        return units

    def _split(self, path: str, size: int, n: int) -> list[str]:
        return [path]  # formats that can be split override this

    def _file_uri(self, filepath: str) -> str:
        uri = self.file_uris.get(str(filepath))
        return uri if uri is not None else display_path(self.data_folder.resolve_paths(str(filepath)))

    def quarantine(self, reason: str, detail: str, filepath: str, position=None, raw=b"", **extra) -> None:
        if self._quarantine_out is None:
            raise RuntimeError("quarantine() is only available inside run()")
        part = filepath if isinstance(filepath, _Part) else None
        if part is not None and part.index > 0 and reason in FILE_REASONS:
            return  # the first part reports it
        file = self._file_uri(filepath)
        self.stat_update(f"quarantined_{reason}")
        per_file = self._counts.setdefault(reason, {})
        n = per_file[file] = per_file.get(file, 0) + 1
        limit = -(-self.max_examples // part.count) if part is not None else self.max_examples
        if n > limit:
            return  # counted, not written: bounded however many bad records a file holds
        entry = {
            "reason": reason,
            "detail": detail,
            "source": self.source_name,
            "file": file,
            "position": position,
            "excerpt": _excerpt(raw),
            **extra,
        }
        # backslashreplace: ids/excerpts may hold lone surrogates, which strict UTF-8 refuses
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        path = f"{reason}/{self._quarantine_file(self._rank)}"
        self._quarantine_out.write(path, line.encode("utf-8", "backslashreplace"))

    def _quarantine_file(self, rank: int) -> str:
        return f"{self._file_tag}-{rank:05d}.jsonl"

    # -- files ----------------------------------------------------------------------------------

    def read_file(self, filepath: str) -> DocumentsPipeline:
        part = filepath if isinstance(filepath, _Part) else None
        # byte ranges are read from the raw file; every other part streams the decompressed file
        compression = None if part is not None and part.kind == "bytes" else self.compression
        try:
            f = self.data_folder.open(str(filepath), "rb", compression=compression)
        except OSError as e:
            if isinstance(e, (ConnectionError, TimeoutError)):
                raise  # transient: let the task be retried rather than quarantine good data
            self.quarantine("unreadable_file", f"{type(e).__name__}: {e}", filepath)
            return
        position, seen = None, False
        with f:
            try:
                for position, document in self._read_records(f, filepath):
                    seen = True
                    if document is not None:
                        yield document
            except _BadFile as e:
                self.quarantine(e.reason, e.detail, filepath, position)
            except (EOFError, _Truncated, *self.corrupt_errors) as e:
                if isinstance(e, (ConnectionError, TimeoutError)):
                    raise
                truncated = isinstance(e, (EOFError, _Truncated))
                where = f"after {self.position_kind} {position}" if seen else "before the first record"
                what = "input ends early" if truncated else type(e).__name__
                detail = f"{what} {where}, rest of file lost: {e}"
                self.quarantine("truncated_file" if truncated else "corrupt_file", detail, filepath, position)
            else:
                if not seen and part is None:
                    self.quarantine("empty_file", "file holds no records", filepath)

    def _read_records(self, f, filepath: str):
        raise NotImplementedError

    # -- records --------------------------------------------------------------------------------

    def _make_document(self, text: str, doc_id: str, metadata: dict, filepath: str) -> Document:
        metadata = (self.default_metadata or {}) | metadata
        metadata["source"] = self.source_name
        metadata.setdefault("file_path", self._file_uri(filepath))
        return Document(text=text, id=display_path(doc_id), metadata=metadata)

    def _document_from_dict(self, record: dict, filepath: str, position: int, raw) -> Document | None:
        """JSONL/Parquet record -> Document, or None after quarantining it (datatrove drops these)."""
        text = record.pop(self.text_key, None)
        if not isinstance(text, str) or not text.strip():
            problem = "missing or null" if text is None else "empty" if isinstance(text, str) else type(text).__name__
            self.quarantine("missing_text", f"text field {self.text_key!r}: {problem}", filepath, position, raw)
            return None
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as e:
            self.quarantine("invalid_utf8", f"text is not valid Unicode: {e}", filepath, position, raw)
            return None
        if size > self.max_doc_bytes:
            self.quarantine("too_large", f"text is {size} bytes > {self.max_doc_bytes}", filepath, position, raw)
            return None
        doc_id = record.pop(self.id_key, None)
        doc_id = f"{display_path(str(filepath))}/{position}" if doc_id in (None, "") else str(doc_id)
        metadata = record.pop("metadata", None)
        if not isinstance(metadata, dict):
            metadata = {} if metadata is None else {"metadata": metadata}
        return self._make_document(text, doc_id, metadata | record, filepath)


class QuarantiningJsonlReader(QuarantiningReader):
    """JSONL (plain, .gz, .zst: compression inferred from the name), one document a line.

    Lines are read as bytes and decoded one by one, so an invalid UTF-8 line costs that line, not
    the rest of the file (datatrove decodes the whole stream and gives up on the first bad byte).
    Blank lines are not records and are ignored.
    """

    name = "🐿 Jsonl (quarantining)"
    _requires_dependencies = ["orjson"]
    position_kind = "line"

    def __init__(self, data_folder, quarantine_folder, compression: str | None = "infer",
                 line_block: int = LINE_BLOCK, **kwargs):
        super().__init__(data_folder, quarantine_folder, **kwargs)
        self.compression = compression
        self.line_block = line_block
        # JSON escapes inflate text up to 6x ("\u0000"); lines beyond that cannot hold an acceptable
        # document and are cut while reading, so one giant line cannot exhaust memory.
        self.max_line_bytes = 6 * self.max_doc_bytes + 65_536

    def _split(self, path: str, size: int, n: int) -> list[str]:
        compressed = self.compression == "infer" and _compression_of(path) or self.compression not in (None, "infer")
        if compressed:  # cannot seek into the stream: each part parses every n-th block of lines
            return [_Part(path, "blocks", i, n) for i in range(n)]
        bounds = [size * i // n for i in range(n + 1)]
        return [_Part(path, "bytes", i, n, bounds[i], bounds[i + 1]) for i in range(n)]

    def _read_records(self, f, filepath: str):
        import orjson

        if not isinstance(f, io.BufferedIOBase):
            f = io.BufferedReader(f)  # e.g. zstandard's reader has no readline()
        part = filepath if isinstance(filepath, _Part) else None
        if part is not None and part.kind == "bytes":
            first, end = _seek_line_start(f, part.start), part.end
        else:
            first, end = 1, None
        for lineno, raw, complete in _bounded_lines(f, self.max_line_bytes, first, end):
            if part is not None and part.kind == "blocks" and (lineno - 1) // self.line_block % part.count != part.index:
                yield lineno, None  # another part's line: only its position is tracked here
                continue
            if not raw.strip():
                continue
            yield lineno, self._parse_line(orjson, raw, complete, filepath, lineno)

    def _parse_line(self, orjson, raw: bytes, complete: bool, filepath: str, lineno: int) -> Document | None:
        raw = raw.rstrip(b"\r\n")
        if not complete:
            self.quarantine("too_large", f"line longer than {self.max_line_bytes} bytes", filepath, lineno, raw)
            return None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.quarantine("invalid_utf8", str(e), filepath, lineno, raw)
            return None
        if lineno == 1:
            line = line.removeprefix("\ufeff")
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            self.quarantine("malformed_json", str(e), filepath, lineno, raw)
            return None
        if not isinstance(record, dict):
            self.quarantine("not_an_object", f"JSON {type(record).__name__}, not an object", filepath, lineno, raw)
            return None
        return self._document_from_dict(record, filepath, lineno, raw)


class QuarantiningParquetReader(QuarantiningReader):
    """Parquet files, one document a row; other columns go to metadata.

    A file without the text column is one "missing_text_column" entry, not one entry per row:
    that is a schema (or text_key) problem, and per-row entries would copy the whole file.
    """

    name = "📒 Parquet (quarantining)"
    _requires_dependencies = ["pyarrow"]
    position_kind = "row"

    def __init__(self, data_folder, quarantine_folder, batch_size: int = 1000, **kwargs):
        super().__init__(data_folder, quarantine_folder, **kwargs)
        self.batch_size = batch_size
        import pyarrow

        # pyarrow reports corrupt pages as plain OSError, invalid UTF-8 in a string column as
        # UnicodeDecodeError; either way the rest of the file is unreadable
        self.corrupt_errors = self.corrupt_errors + (pyarrow.ArrowException, OSError, UnicodeDecodeError)

    def _read_records(self, f, filepath: str):
        import pyarrow
        import pyarrow.parquet as pq

        try:
            pqf = pq.ParquetFile(f)
        except pyarrow.ArrowInvalid:
            if f.seek(0, io.SEEK_END) == 0:
                return  # zero bytes: reported as empty_file
            raise
        with pqf:
            columns = pqf.schema_arrow.names
            if self.text_key not in columns:
                raise _BadFile("missing_text_column", f"no column {self.text_key!r}; columns: {columns}")
            part = filepath if isinstance(filepath, _Part) else None
            groups = range(part.start, part.end) if part is not None else range(pqf.num_row_groups)
            row = part.first if part is not None else 0
            if not groups:
                return
            for batch in pqf.iter_batches(batch_size=self.batch_size, row_groups=list(groups)):
                for record in batch.to_pylist():
                    yield row, self._document_from_dict(record, filepath, row, dict(record))
                    row += 1

    def _split(self, path: str, size: int, n: int) -> list[str]:
        """Contiguous runs of row groups of about equal bytes; a file of one row group stays whole."""
        import pyarrow.parquet as pq

        try:
            with self.data_folder.open(path, "rb") as f:
                meta = pq.ParquetFile(f).metadata
        except Exception:  # unreadable here: read whole, where read_file reports it
            return [path]
        sizes = [meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)]
        rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        n = min(n, len(sizes))
        if n <= 1:
            return [path]
        prefix = [0]
        for b in sizes:
            prefix.append(prefix[-1] + b)
        cuts = [0]
        for k in range(1, n):  # the row-group boundary nearest to k/n of the bytes, strictly increasing
            best = min(range(cuts[-1] + 1, len(sizes)), key=lambda i: abs(prefix[i] - prefix[-1] * k / n))
            if best < len(sizes) - (n - k) + 1:
                cuts.append(best)
        cuts.append(len(sizes))
        return [_Part(path, "rows", k, len(cuts) - 1, cuts[k], cuts[k + 1], sum(rows[: cuts[k]]))
                for k in range(len(cuts) - 1)]
