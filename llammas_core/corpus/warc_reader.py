"""The quarantining reader of web archives: WARC, WET and ARC files via warcio.

Documents come from 200 HTML/plain-text `response` records and from WET `conversion` records;
bad records and files become quarantine entries through the shared base class in `readers`,
whose docstring describes the quarantine layout and reasons.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from datatrove.data import Document

from llammas_core.corpus.readers import EXCERPT_CHARS, QuarantiningReader, _BadFile, _Truncated

_DOCUMENT_TYPES = {"text/html", "application/xhtml+xml", "text/plain"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class _RaiseOnTruncation:
    """File wrapper for warcio.

    warcio reads EOFError as a clean end of archive, so a truncated .gz would silently lose every
    record in the last read block. Re-raise it as _Truncated, and read with read1() so the
    records decompressed before the break still come through.
    """

    def __init__(self, f):
        self._f = f
        self._read = getattr(f, "read1", f.read)

    def read(self, size: int = -1) -> bytes:
        try:
            return self._read(size)
        except EOFError as e:
            raise _Truncated(str(e)) from e

    def tell(self) -> int:
        return self._f.tell()


class QuarantiningWarcReader(QuarantiningReader):
    """WARC, WET and ARC files (gzip/zstd inferred from the name), via warcio with arc2warc=True.

    Documents come from 200 `response` records with an HTML/plain-text payload (text is the
    decoded raw HTML; extraction happens later, metadata["extracted"] = False) and from WET
    `conversion` records (already plain text, metadata["extracted"] = True). Ids are the
    WARC-Record-ID, except for ARC files, whose ids warcio invents at random: there `<file>/<offset>`.
    text_key/id_key are not used.
    """

    name = "🕷 Warc (quarantining)"
    _requires_dependencies = ["warcio"]
    position_kind = "offset"

    def __init__(self, data_folder, quarantine_folder, compression: str | None = "infer", **kwargs):
        super().__init__(data_folder, quarantine_folder, **kwargs)
        self.compression = compression
        from warcio.exceptions import ArchiveLoadFailed
        from warcio.statusandheaders import StatusAndHeadersParserException

        self.corrupt_errors = self.corrupt_errors + (ArchiveLoadFailed, StatusAndHeadersParserException)

    def _read_records(self, f, filepath: str):
        from warcio.archiveiterator import ArchiveIterator

        is_arc = ".arc" in PurePosixPath(filepath).suffixes
        records = ArchiveIterator(_RaiseOnTruncation(f), arc2warc=True)
        for record in records:
            document = self._process(record, records, filepath, is_arc)
            yield _record_offset(record, records), document

    def _process(self, record, records, filepath: str, is_arc: bool) -> Document | None:
        headers = record.rec_headers
        if record.rec_type is None:  # warcio parses garbage leniently into a record without headers
            raise _BadFile("corrupt_file", "record without a WARC-Type: not a WARC/ARC file, or damaged")
        if record.rec_type == "conversion":
            payload_type, extracted = "text/plain", True
        elif record.rec_type != "response":
            self.stat_update("skipped_non_document_record")
            return None
        elif record.http_headers is None:
            self.stat_update("skipped_non_http_response")
            return None
        elif record.http_headers.get_statuscode() != "200":
            self.stat_update("skipped_non_200")  # redirects, 404s...: not bad input, just no document
            return None
        else:
            payload_type, extracted = record.http_headers.get_header("Content-Type") or "", False

        url = headers.get_header("WARC-Target-URI")
        record_id = None if is_arc else headers.get_header("WARC-Record-ID")

        def bad(reason, detail, raw):
            offset = _record_offset(record, records)
            self.quarantine(reason, detail, filepath, offset, raw, url=url, warc_record_id=record_id)

        mime, _, params = payload_type.partition(";")
        mime = mime.strip().lower()
        stream = record.content_stream()
        if mime and mime not in _DOCUMENT_TYPES:
            bad("binary_payload", f"content type {payload_type!r} is not HTML/text", stream.read(EXCERPT_CHARS))
            return None
        payload = stream.read(self.max_doc_bytes + 1)
        if len(payload) > self.max_doc_bytes:
            bad("too_large", f"payload over {self.max_doc_bytes} bytes", payload[:EXCERPT_CHARS])
            return None
        if not payload.strip():
            bad("missing_text", "empty payload", payload)
            return None
        if not mime and b"\x00" in payload[:1024]:  # no declared type: NUL bytes mean binary
            bad("binary_payload", "no content type and payload looks binary", payload[:EXCERPT_CHARS])
            return None
        text = _decode(payload, _declared_charset(params, payload if mime != "text/plain" else b""))
        if text is None:
            detail = f"not decodable as its declared charset or UTF-8 ({payload_type!r})"
            bad("invalid_utf8", detail, payload[:EXCERPT_CHARS])
            return None

        offset = _record_offset(record, records)
        metadata = {
            "url": url,
            "content_type": mime or None,
            "warc_date": headers.get_header("WARC-Date"),
            "extracted": extracted,
        }
        if record_id:
            metadata["warc_record_id"] = record_id
        return self._make_document(text, record_id or f"{filepath}/{offset}", metadata, filepath)


def _record_offset(record, records) -> int:
    """Where `record` starts. Reads it to its end, so call it once the payload has been read;
    raises _Truncated for a record cut short (uncompressed files end without any error)."""
    offset = records.get_record_offset()
    if getattr(record.raw_stream, "limit", 0) > 0:
        raise _Truncated(f"record at offset {offset} is shorter than its Content-Length")
    return offset


def _declared_charset(content_type_params: str, html: bytes) -> str | None:
    """Charset from the Content-Type parameters, else from a <meta> tag near the top of the page."""
    for param in content_type_params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip(" \"'"):
            return value.strip(" \"'")
    if match := _META_CHARSET.search(html[:4096]):
        return match.group(1).decode("ascii")
    return None


def _decode(payload: bytes, charset: str | None) -> str | None:
    """Decode with the declared charset if it works, else strict UTF-8; None when neither does.

    No guessing (cchardet, cp1252 fallback): a wrong guess yields mojibake that passes every later
    filter, while a quarantined page can be looked at.
    """
    for encoding in (charset, "utf-8"):
        if encoding:
            try:
                return payload.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                pass
    return None
