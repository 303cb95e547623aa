"""Quarantining readers: good records come out, every bad one is quarantined with its reason."""

import gzip
import io
import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from llammas_core.corpus.readers import (
    EXCERPT_CHARS,
    QuarantiningJsonlReader,
    QuarantiningParquetReader,
    quarantine_counts,
)
from llammas_core.corpus.warc_reader import QuarantiningWarcReader


def entries(qdir) -> list[dict]:
    return [json.loads(line) for path in sorted(qdir.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def stat(reader, name: str) -> int:
    metric = reader.stats.stats.get(name)
    return int(metric.total) if metric else 0


def jsonl(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def noise(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzõäöü ") for _ in range(n))


# -- JSONL ----------------------------------------------------------------------------------------


def test_jsonl_quarantines_each_bad_line(tmp_path):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    lines = [
        {"id": "a", "text": "Tere õhtust", "lang": "et"},  # 1
        {"text": "no id here"},  # 2
        b'{"text": "broken"',  # 3 malformed_json
        b'{"text": "bad \xff byte"}',  # 4 invalid_utf8
        {"id": "m", "body": "text under another key"},  # 5 missing_text
        {"id": "e", "text": "   "},  # 6 missing_text (blank)
        {"id": "n", "text": 5},  # 7 missing_text (not a string)
        [1, 2],  # 8 not_an_object
        b"",  # 9 blank line: not a record
        {"id": "big", "text": "x" * 2_000},  # 10 too_large (max_doc_bytes=1000)
        {"id": 7, "text": "numeric id", "metadata": {"url": "https://x.ee"}},  # 11
        b'{"text": "' + b"y" * 80_000 + b'"}',  # 12 too_large: over the line cap, cut while reading
        {"text": "after the giant line"},  # 13
    ]
    (src / "good.jsonl").write_bytes(jsonl(*lines))

    reader = QuarantiningJsonlReader(src, quarantine_folder=qdir, max_doc_bytes=1_000, source_name="test-src")
    docs = list(reader.run(rank=0, world_size=1))

    assert [d.id for d in docs] == ["a", "good.jsonl/2", "7", "good.jsonl/13"]
    first = docs[0]
    assert first.text == "Tere õhtust"
    assert first.metadata["lang"] == "et" and first.metadata["source"] == "test-src"
    assert first.metadata["file_path"].endswith("good.jsonl")
    assert docs[2].metadata["url"] == "https://x.ee"

    found = {e["position"]: e["reason"] for e in entries(qdir)}
    assert found == {
        3: "malformed_json",
        4: "invalid_utf8",
        5: "missing_text",
        6: "missing_text",
        7: "missing_text",
        8: "not_an_object",
        10: "too_large",
        12: "too_large",
    }
    bad_utf8 = next(e for e in entries(qdir) if e["reason"] == "invalid_utf8")
    assert bad_utf8["excerpt"] == '{"text": "bad \\xff byte"}'
    assert bad_utf8["file"].endswith("good.jsonl") and bad_utf8["source"] == "test-src" and bad_utf8["detail"]
    assert all(len(e["excerpt"]) <= EXCERPT_CHARS for e in entries(qdir))

    # nothing silently lost: every non-blank line is a document or a quarantine entry
    assert len(docs) + len(found) == 12
    assert quarantine_counts(qdir) == {
        "invalid_utf8": 1,
        "malformed_json": 1,
        "missing_text": 3,
        "not_an_object": 1,
        "too_large": 2,
    }
    assert stat(reader, "quarantined_missing_text") == 3 and stat(reader, "documents") == 4


def test_broken_files_do_not_stop_the_run(tmp_path, monkeypatch):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    rng = random.Random(0)
    (src / "a_empty.jsonl").write_bytes(b"")
    full = gzip.compress(jsonl(*({"text": noise(rng, 100)} for _ in range(300))))
    (src / "b_truncated.jsonl.gz").write_bytes(full[: len(full) * 6 // 10])
    (src / "c_not_gzip.jsonl.gz").write_bytes(jsonl({"text": "plain text behind a .gz name"}))
    (src / "d_unreadable.jsonl").write_bytes(jsonl({"text": "locked away"}))
    (src / "e_good.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(jsonl({"text": "one"}, {"text": "two"})))

    reader = QuarantiningJsonlReader(src, quarantine_folder=qdir)
    real_open = reader.data_folder.open

    def open_or_deny(path, *args, **kwargs):  # chmod 000 means nothing to root, so deny here
        if path.endswith("d_unreadable.jsonl"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(reader.data_folder, "open", open_or_deny)
    docs = list(reader.run(rank=0, world_size=1))

    by_reason = {e["reason"]: e for e in entries(qdir)}
    assert set(by_reason) == {"empty_file", "truncated_file", "corrupt_file", "unreadable_file"}
    assert by_reason["empty_file"]["file"].endswith("a_empty.jsonl")
    assert by_reason["corrupt_file"]["file"].endswith("c_not_gzip.jsonl.gz")
    assert "Permission denied" in by_reason["unreadable_file"]["detail"]

    # the truncated file keeps the lines before the break; its entry points at the last good line
    kept = [d for d in docs if d.id.startswith("b_truncated")]
    assert 0 < len(kept) < 300
    assert [d.id for d in kept] == [f"b_truncated.jsonl.gz/{i}" for i in range(1, len(kept) + 1)]
    assert by_reason["truncated_file"]["position"] == len(kept)

    # and the good file after all the broken ones is read
    assert [d.text for d in docs if d.id.startswith("e_good")] == ["one", "two"]
    assert stat(reader, "input_files") == 5


def test_rerun_replaces_the_ranks_quarantine(tmp_path):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    (src / "0.jsonl").write_bytes(jsonl(b"{nope", {"text": "ok"}))
    (src / "1.jsonl").write_bytes(jsonl([1]))

    for _ in range(2):
        for rank in (0, 1):
            list(QuarantiningJsonlReader(src, quarantine_folder=qdir).run(rank=rank, world_size=2))

    assert quarantine_counts(qdir) == {"malformed_json": 1, "not_an_object": 1}
    # one file per reason and rank; source_name defaults to the data folder's path
    (rank0,) = (qdir / "malformed_json").iterdir()
    (rank1,) = (qdir / "not_an_object").iterdir()
    assert rank0.name.endswith("_in-00000.jsonl") and rank1.name.endswith("_in-00001.jsonl")


def test_chained_readers_share_a_quarantine_folder(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "a.jsonl").write_bytes(jsonl(b"{nope", {"text": "from the web"}))
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "b.parquet").write_bytes(b"not parquet")
    (tmp_path / "books" / "c.jsonl").write_bytes(jsonl({"text": "from a book"}))
    qdir = tmp_path / "q"
    web = QuarantiningJsonlReader(tmp_path / "web", qdir, source_name="web")
    books = QuarantiningParquetReader(tmp_path / "books", qdir, source_name="books", glob_pattern="*.parquet")

    docs = list(books.run(web.run(rank=0, world_size=1), rank=0, world_size=1))  # as in one datatrove pipeline

    assert [d.metadata["source"] for d in docs] == ["web"]
    assert quarantine_counts(qdir) == {"corrupt_file": 1, "malformed_json": 1}
    assert sorted(p.name for p in qdir.rglob("*.jsonl")) == ["books-00000.jsonl", "web-00000.jsonl"]


# -- Parquet --------------------------------------------------------------------------------------


def test_parquet(tmp_path):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    rows = {
        "doc_id": ["p1", "p2", "p3", None, "p5"],
        "content": ["Esimene tekst", None, "", "teine tekst", "z" * 5_000],
        "lang": ["et", "et", "et", "et", "et"],
    }
    pq.write_table(pa.table(rows), src / "a_good.parquet")
    (src / "b_corrupt.parquet").write_bytes(b"this is not parquet at all")
    (src / "c_empty.parquet").write_bytes(b"")
    pq.write_table(pa.table({"text": ["wrong column"]}), src / "d_no_column.parquet")
    # four row groups of 100 rows, the third one's pages overwritten: rows before it survive
    rng = random.Random(3)
    table = pa.table({"content": [noise(rng, 300) for _ in range(400)]})
    pq.write_table(table, tmp_path / "e.parquet", row_group_size=100)
    damaged = bytearray((tmp_path / "e.parquet").read_bytes())
    middle = pq.ParquetFile(tmp_path / "e.parquet").metadata.row_group(2).column(0).data_page_offset + 50
    damaged[middle : middle + 500] = bytes(500)
    (src / "e_damaged.parquet").write_bytes(damaged)

    reader = QuarantiningParquetReader(
        src, qdir, text_key="content", id_key="doc_id", max_doc_bytes=1_000, source_name="pq", batch_size=100
    )
    docs = list(reader.run(rank=0, world_size=1))

    from_damaged = [d.id for d in docs if d.id.startswith("e_damaged")]
    assert from_damaged == [f"e_damaged.parquet/{row}" for row in range(200)]
    docs = [d for d in docs if not d.id.startswith("e_damaged")]
    assert [(d.id, d.text) for d in docs] == [("p1", "Esimene tekst"), ("a_good.parquet/3", "teine tekst")]
    assert docs[0].metadata["lang"] == "et" and docs[0].metadata["source"] == "pq"

    found = sorted((e["file"].rsplit("/", 1)[-1], e["position"], e["reason"]) for e in entries(qdir))
    assert found == [
        ("a_good.parquet", 1, "missing_text"),
        ("a_good.parquet", 2, "missing_text"),
        ("a_good.parquet", 4, "too_large"),
        ("b_corrupt.parquet", None, "corrupt_file"),
        ("c_empty.parquet", None, "empty_file"),
        ("d_no_column.parquet", None, "missing_text_column"),
        ("e_damaged.parquet", 199, "corrupt_file"),
    ]
    assert len(docs) + 3 == 5  # every row of the good file accounted for


# -- WARC / WET / ARC -----------------------------------------------------------------------------


DATE = "2024-05-03T12:00:00Z"


def write_warc(path, records):
    """records: (type, url, status, content_type, body); status None for records without HTTP.

    Record ids and dates are fixed, so the bytes (and where a cut lands) are the same every run."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i, (rec_type, url, status, content_type, body) in enumerate(records):
            http = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1") if status else None
            fixed = {"WARC-Record-ID": f"<urn:uuid:{i:08d}-0000-0000-0000-000000000000>", "WARC-Date": DATE}
            record = writer.create_warc_record(
                url, rec_type, io.BytesIO(body), http_headers=http, warc_content_type=content_type,
                warc_headers_dict=fixed,
            )
            writer.write_record(record)


def record_offsets(path) -> list[int]:
    """Where each gzip member (one record each) starts in the compressed file."""
    with open(path, "rb") as f:
        records = ArchiveIterator(f)
        return [records.get_record_offset() for _ in records]


HTML = "<html><head><title>Tere</title></head><body><p>Tere õhtust, Eesti!</p></body></html>"


def test_warc_responses(tmp_path):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    write_warc(
        src / "a.warc.gz",
        [
            ("warcinfo", None, None, "application/warc-fields", b"software: test\r\n"),
            ("request", "http://ex.ee/", None, "application/http; msgtype=request", b"GET / HTTP/1.1\r\n\r\n"),
            ("response", "http://ex.ee/", "200 OK", "text/html; charset=utf-8", HTML.encode()),
            ("response", "http://ex.ee/latin", "200 OK", "text/html; charset=iso-8859-1", HTML.encode("latin-1")),
            ("response", "http://ex.ee/meta", "200 OK", "text/html", b'<meta charset="windows-1257"><p>\xf5</p>'),
            ("response", "http://ex.ee/bad", "200 OK", "text/html", b"<p>T\xf5nu</p>"),  # undeclared, not UTF-8
            ("response", "http://ex.ee/logo.png", "200 OK", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
            ("response", "http://ex.ee/missing", "404 Not Found", "text/html", b"<p>not here</p>"),
            ("response", "http://ex.ee/moved", "301 Moved Permanently", "text/html", b""),
            ("response", "http://ex.ee/huge", "200 OK", "text/html", b"<p>" + b"x" * 5_000 + b"</p>"),
            ("response", "http://ex.ee/empty", "200 OK", "text/html", b""),
        ],
    )
    reader = QuarantiningWarcReader(src, quarantine_folder=qdir, max_doc_bytes=1_000, source_name="crawl")
    docs = list(reader.run(rank=0, world_size=1))

    assert [d.metadata["url"] for d in docs] == ["http://ex.ee/", "http://ex.ee/latin", "http://ex.ee/meta"]
    assert docs[0].text == HTML and docs[1].text == HTML and docs[2].text.endswith("<p>õ</p>")
    meta = docs[0].metadata
    assert docs[0].id == meta["warc_record_id"] and meta["warc_record_id"].startswith("<urn:uuid:")
    assert meta["content_type"] == "text/html" and meta["warc_date"] == DATE and meta["extracted"] is False
    assert meta["source"] == "crawl"

    found = {e["url"]: e["reason"] for e in entries(qdir)}
    assert found == {
        "http://ex.ee/bad": "invalid_utf8",
        "http://ex.ee/logo.png": "binary_payload",
        "http://ex.ee/huge": "too_large",
        "http://ex.ee/empty": "missing_text",
    }
    assert all(isinstance(e["position"], int) and e["warc_record_id"] for e in entries(qdir))
    # the 404 and 301 are counted, not quarantined; warcinfo/request carry no document
    assert stat(reader, "skipped_non_200") == 2 and stat(reader, "skipped_non_document_record") == 2
    assert len(docs) + len(found) + stat(reader, "skipped_non_200") == 9  # every response accounted for


def test_truncated_warc_keeps_records_before_the_break(tmp_path):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    rng = random.Random(1)
    pages = [("response", f"http://ex.ee/{i}", "200 OK", "text/html", noise(rng, 400).encode()) for i in range(20)]
    write_warc(tmp_path / "full.warc.gz", pages)
    full = (tmp_path / "full.warc.gz").read_bytes()
    (src / "a_cut.warc.gz").write_bytes(full[: record_offsets(tmp_path / "full.warc.gz")[12] + 100])
    (src / "b_cut.warc").write_bytes(gzip.decompress(full)[:-200])  # uncompressed, last record cut short
    (src / "c_garbage.warc").write_bytes(bytes(random.Random(2).randrange(256) for _ in range(3000)))

    reader = QuarantiningWarcReader(src, quarantine_folder=qdir)
    docs = list(reader.run(rank=0, world_size=1))

    from_gz = [d for d in docs if d.metadata["file_path"].endswith("a_cut.warc.gz")]
    from_plain = [d for d in docs if d.metadata["file_path"].endswith("b_cut.warc")]
    assert [d.metadata["url"] for d in from_gz] == [f"http://ex.ee/{i}" for i in range(12)]
    assert len(from_plain) == 19
    reasons = sorted((e["file"].rsplit("/", 1)[-1], e["reason"]) for e in entries(qdir))
    assert reasons == [
        ("a_cut.warc.gz", "truncated_file"),
        ("b_cut.warc", "truncated_file"),
        ("c_garbage.warc", "corrupt_file"),
    ]


def test_wet_conversion_records_are_extracted_text(tmp_path):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    write_warc(
        src / "a.warc.wet.gz",
        [
            ("warcinfo", None, None, "application/warc-fields", b"software: test\r\n"),
            ("conversion", "http://ex.ee/1", None, "text/plain", "Tere õhtust!\nTeine rida.".encode()),
            ("conversion", "http://ex.ee/2", None, "text/plain", b"T\xf5nu"),  # WET text must be UTF-8
        ],
    )
    reader = QuarantiningWarcReader(src, quarantine_folder=qdir)
    docs = list(reader.run(rank=0, world_size=1))

    assert [d.text for d in docs] == ["Tere õhtust!\nTeine rida."]
    assert docs[0].metadata["extracted"] is True and docs[0].metadata["content_type"] == "text/plain"
    assert docs[0].metadata["url"] == "http://ex.ee/1" and docs[0].id == docs[0].metadata["warc_record_id"]
    assert [(e["url"], e["reason"]) for e in entries(qdir)] == [("http://ex.ee/2", "invalid_utf8")]


def arc_file(records) -> bytes:
    """ARC v1, which warcio cannot write: a filedesc header record, then one record per page."""
    desc = b"1 0 Test\nURL IP-address Archive-date Content-type Archive-length\n"
    out = b"filedesc://test.arc 0.0.0.0 20240101000000 text/plain %d\n" % len(desc) + desc + b"\n"
    for url, content_type, http_body in records:
        out += b"%s 1.2.3.4 20240101000000 %s %d\n" % (url.encode(), content_type.encode(), len(http_body))
        out += http_body + b"\n"
    return out


def http_200(content_type: str, body: bytes) -> bytes:
    return b"HTTP/1.0 200 OK\r\nContent-Type: " + content_type.encode() + b"\r\n\r\n" + body


def test_arc_files(tmp_path):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    data = arc_file(
        [
            ("http://ex.ee/arc", "text/html", http_200("text/html; charset=iso-8859-1", b"<p>T\xf5nu</p>")),
            ("http://ex.ee/a.png", "image/png", http_200("image/png", b"\x89PNG\x00\x00")),
        ]
    )
    (src / "old.arc").write_bytes(data)
    (src / "old2.arc.gz").write_bytes(gzip.compress(data))

    reader = QuarantiningWarcReader(src, quarantine_folder=qdir)
    docs = list(reader.run(rank=0, world_size=1))

    assert [d.text for d in docs] == ["<p>Tõnu</p>", "<p>Tõnu</p>"]
    # warcio invents random record ids for ARC, so ids are file/offset and stable across runs
    assert docs[0].id.startswith("old.arc/") and docs[1].id == docs[0].id.replace("old.arc", "old2.arc.gz")
    assert "warc_record_id" not in docs[0].metadata and docs[0].metadata["url"] == "http://ex.ee/arc"
    assert quarantine_counts(qdir) == {"binary_payload": 2}


# -- bounded quarantine, source URIs, file names ----------------------------------------------------


def test_quarantine_is_bounded_per_reason_and_file_with_exact_counts(tmp_path):
    """A gzip of `{}` lines (a few hundred bytes expanding to 200,000 records) writes at most
    max_examples entries per reason and file, while the counts stay exact."""
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    bomb = gzip.compress(b"{}\n" * 200_000, 9)
    assert len(bomb) < 1_000
    (src / "a_bomb.jsonl.gz").write_bytes(bomb)
    (src / "b_mixed.jsonl").write_bytes(jsonl(*([b"{nope"] * 30 + [{"text": "hea tekst"}] + [{}] * 7)))

    reader = QuarantiningJsonlReader(src, quarantine_folder=qdir, max_examples=25, source_name="s")
    docs = list(reader.run(rank=0, world_size=1))

    assert [d.text for d in docs] == ["hea tekst"]
    assert quarantine_counts(qdir) == {"malformed_json": 30, "missing_text": 200_007}
    assert quarantine_counts(qdir, by_file=True)["missing_text"] == {
        str(src / "a_bomb.jsonl.gz"): 200_000, str(src / "b_mixed.jsonl"): 7}
    written = entries(qdir)
    per = {}
    for e in written:
        per[(e["reason"], e["file"].rsplit("/", 1)[-1])] = per.get((e["reason"], e["file"].rsplit("/", 1)[-1]), 0) + 1
    assert per == {("missing_text", "a_bomb.jsonl.gz"): 25, ("missing_text", "b_mixed.jsonl"): 7,
                   ("malformed_json", "b_mixed.jsonl"): 25}
    # the first ones are kept, in order
    assert [e["position"] for e in written if e["file"].endswith("a_bomb.jsonl.gz")] == list(range(1, 26))
    assert sum(p.stat().st_size for p in qdir.rglob("*") if p.is_file()) < 20_000
    assert stat(reader, "quarantined_missing_text") == 200_007  # stats count everything too
    # in = kept + quarantined
    assert len(docs) + sum(quarantine_counts(qdir).values()) == 200_000 + 38


def test_parquet_wrongly_typed_text_column_is_bounded(tmp_path):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    pq.write_table(pa.table({"text": list(range(5_000))}), src / "ints.parquet")

    reader = QuarantiningParquetReader(src, qdir, max_examples=10, source_name="pq")
    assert list(reader.run(rank=0, world_size=1)) == []

    assert quarantine_counts(qdir) == {"missing_text": 5_000}
    written = entries(qdir)
    assert len(written) == 10 and [e["position"] for e in written] == list(range(10))
    assert all("int" in e["detail"] for e in written)


def test_records_name_the_source_uri_not_the_scratch_link(tmp_path):
    """The corpus stage reads links in a scratch folder; records must carry the source URI so
    their bytes are the same in any work dir."""
    real = tmp_path / "data" / "docs.jsonl"
    real.parent.mkdir()
    real.write_bytes(jsonl({"text": "tere"}, b"{bad"))
    outs = []
    for work in ("w1", "w2"):
        folder = tmp_path / work / "sources"
        folder.mkdir(parents=True)
        (folder / "00000-docs.jsonl").symlink_to(real)
        qdir = tmp_path / work / "q"
        reader = QuarantiningJsonlReader(folder, qdir, source_name="web",
                                         file_uris={"00000-docs.jsonl": str(real)})
        docs = list(reader.run(rank=0, world_size=1))
        assert docs[0].metadata["file_path"] == str(real)
        outs.append((qdir / "malformed_json" / "web-00000.jsonl").read_bytes())
        assert quarantine_counts(qdir, by_file=True) == {"malformed_json": {str(real): 1}}
    assert outs[0] == outs[1] and str(real).encode() in outs[0]


def test_non_utf8_file_name_is_read_and_named(tmp_path):
    src, qdir = tmp_path / "in", tmp_path / "q"
    src.mkdir()
    name = os.fsdecode(b"t\xf5\xf5-\xff.jsonl")  # Latin-1 bytes: not UTF-8
    (src / name).write_bytes(jsonl({"text": "tekst"}, b"{bad"))

    reader = QuarantiningJsonlReader(src, qdir, source_name="x")
    docs = list(reader.run(rank=0, world_size=1))

    assert [d.text for d in docs] == ["tekst"]
    assert docs[0].id == "t\\xf5\\xf5-\\xff.jsonl/1" and docs[0].metadata["file_path"].endswith("t\\xf5\\xf5-\\xff.jsonl")
    docs[0].id.encode("utf-8"), docs[0].metadata["file_path"].encode("utf-8")  # writers can encode them
    (entry,) = entries(qdir)
    assert entry["reason"] == "malformed_json" and entry["file"].endswith("t\\xf5\\xf5-\\xff.jsonl")
