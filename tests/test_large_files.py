"""One large input file is read by several tasks in parts (Parquet row groups, JSONL byte ranges,
compressed JSONL line blocks) and the documents are the same as reading it whole."""

from __future__ import annotations

import gzip
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llammas_core.corpus.readers import QuarantiningJsonlReader, QuarantiningParquetReader, quarantine_counts


def words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice("abdeghijklmnoprstuvõäöü") for _ in range(rng.randint(2, 9)))
                    for _ in range(n))


def jsonl_lines(n: int, seed: int = 0) -> bytes:
    """Documents with and without ids, blank lines, bad lines and an over-long line."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.03:
            out.append(b"{broken")
        elif r < 0.05:
            out.append(b"")
        elif r < 0.07:
            out.append(json.dumps({"id": f"d{i}"}).encode())  # missing_text
        elif r < 0.5:
            out.append(json.dumps({"text": words(rng, rng.randint(3, 40)), "k": i}).encode())
        else:
            out.append(json.dumps({"id": f"d{i}", "text": words(rng, rng.randint(3, 40))}, ensure_ascii=False).encode())
    out[n // 2] = json.dumps({"text": "x" * 9_000}).encode()  # too_large, cut while reading
    return b"\n".join(out) + b"\n"


def read(reader_cls, src, qdir, world_size: int, **kw) -> tuple[list, dict, list[int]]:
    docs, per_rank = [], []
    for rank in range(world_size):
        reader = reader_cls(src, qdir / str(world_size), source_name="big", max_doc_bytes=1_000, **kw)
        got = [(d.id, d.text, json.dumps(d.metadata, sort_keys=True)) for d in reader.run(rank=rank, world_size=world_size)]
        per_rank.append(len(got))
        docs += got
    return sorted(docs), quarantine_counts(qdir / str(world_size), by_file=True), per_rank


@pytest.mark.parametrize("name", ["big.jsonl", "big.jsonl.gz"])
@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_one_jsonl_file_split_across_ranks(tmp_path, name, world_size):
    src = tmp_path / "in"
    src.mkdir()
    data = jsonl_lines(3_000)
    (src / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    whole, q_whole, _ = read(QuarantiningJsonlReader, src, tmp_path / "q", 1)
    split, q_split, per_rank = read(QuarantiningJsonlReader, src, tmp_path / "q", world_size, split_bytes=1_000,
                                    line_block=100)

    assert len(whole) > 2_000
    assert split == whole  # same ids (line numbers included), texts and metadata
    assert q_split == q_whole and set(q_whole) == {"malformed_json", "missing_text", "too_large"}
    assert all(n > len(whole) / world_size / 2 for n in per_rank), per_rank  # every rank did its share


def test_byte_ranges_cut_anywhere(tmp_path):
    """Part boundaries inside a line, on a newline, and right after one all give each line once."""
    src = tmp_path / "in"
    src.mkdir()
    lines = [json.dumps({"text": f"rida {i} " + "a" * (i % 7)}).encode() for i in range(40)]
    (src / "f.jsonl").write_bytes(b"\n".join(lines))  # no final newline
    whole, _, _ = read(QuarantiningJsonlReader, src, tmp_path / "q", 1)
    for world_size in range(2, 9):
        for split_bytes in (1, 17, 100):
            got, _, _ = read(QuarantiningJsonlReader, src, tmp_path / f"q{world_size}-{split_bytes}", world_size,
                             split_bytes=split_bytes)
            assert got == whole, (world_size, split_bytes)


def test_parquet_split_by_row_groups(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = random.Random(1)
    texts = [words(rng, 20) if i % 13 else None for i in range(2_000)]
    pq.write_table(pa.table({"text": texts, "n": list(range(2_000))}), src / "big.parquet", row_group_size=250)
    (src / "small.parquet").write_bytes(b"")  # whole-file problems still reported once

    whole, q_whole, _ = read(QuarantiningParquetReader, src, tmp_path / "q", 1)
    split, q_split, per_rank = read(QuarantiningParquetReader, src, tmp_path / "q", 4, split_bytes=10_000)

    assert split == whole and len(whole) == 2_000 - 154
    assert q_split == q_whole and q_whole["empty_file"] and q_whole["missing_text"]
    assert sorted(per_rank)[0] > 300, per_rank


def test_corpus_pipeline_output_identical_with_one_file_over_tasks(tmp_path):
    """The whole filter -> dedup -> write pipeline on a single file: tasks=1 vs tasks=2 (file split)."""
    from llammas_core.corpus.config import CorpusConfig, DedupConfig, ExecutorConfig, PIIConfig, SourceConfig
    from llammas_core.corpus.pipeline import run_corpus_pipeline

    ud = "/work/shared/data/ud_estonian/et_ud_pseudodocs.jsonl"
    import os

    if not os.path.exists(ud):
        pytest.skip("shared data kit not available")
    src = tmp_path / "in"
    src.mkdir()
    docs = [json.loads(line) for line in open(ud, encoding="utf-8")][:300]
    with open(src / "one.jsonl", "w", encoding="utf-8") as f:  # byte ranges (.gz: see the reader tests)
        for i, d in enumerate(docs + docs[:20]):  # 20 exact duplicates
            f.write(json.dumps({"id": f"u{i}", "text": d["text"]}, ensure_ascii=False) + "\n")
    results = {}
    for tasks in (1, 2):
        cfg = CorpusConfig(sources=[SourceConfig(name="one", kind="jsonl", paths=[str(src)])],
                           executor=ExecutorConfig(tasks=tasks, workers=tasks), split_bytes=1_000,
                           dedup=DedupConfig(against_previous=False), pii=PIIConfig(enabled=False))
        work, out = tmp_path / f"w{tasks}", tmp_path / f"o{tasks}"
        extra = run_corpus_pipeline(cfg, [("one", "jsonl", src, "text", "id")], work, out, "run-x", None,
                                    log=lambda m: None)
        rows = sorted((r for p in (out / "data").glob("*.parquet") for r in pq.read_table(p).to_pylist()),
                      key=lambda r: r["id"])
        filtered = sorted(work.glob("filtered/*.jsonl.gz"))
        results[tasks] = (rows, extra["removed"], extra["quarantined"],
                          [sum(1 for _ in gzip.open(f)) for f in filtered])
    assert results[1][0] and results[2][0] == results[1][0]
    assert results[2][1:3] == results[1][1:3]
    assert results[2][1]["exact_dedup"] > 10
    assert len(results[2][3]) == 2 and min(results[2][3]) > 50, results[2][3]  # both tasks read part of the file
