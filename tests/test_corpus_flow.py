"""The corpus stage end to end on the bundled demo inputs: what is kept, removed, masked and
quarantined; kill then resume; incremental refresh; S3 store and sources; the Ray executor."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from llammas_core.config import load_config
from llammas_core.corpus.stage import read_lineage, run_corpus
from llammas_core.errors import InputError
from llammas_core.store import LocalStore, S3Store

REPO = Path(__file__).resolve().parents[1]
DEMO_DOCS = REPO / "demo" / "web" / "docs.jsonl"


def demo_config(tmp_path: Path, **corpus_overrides):
    """configs/demo.yaml with absolute paths and a private store."""
    cfg = load_config(REPO / "configs" / "demo.yaml").corpus
    sources = [s.model_copy(update={"paths": [str(REPO / p) for p in s.paths]}) for s in cfg.sources]
    return cfg.model_copy(update={"sources": sources, **corpus_overrides})


def rows(store, manifest: dict) -> list[dict]:
    out = []
    for f in manifest["files"]:
        if f["path"].startswith("data/"):
            local = store.local_path(f"{manifest['id']}/{f['path']}")
            out += pq.read_table(local).to_pylist()
    return out


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    store = LocalStore(tmp / "store")
    result = run_corpus(store, demo_config(tmp), tmp / "work")
    return store, result, {r["id"]: r for r in rows(store, result.manifest)}


def test_demo_keeps_clean_estonian_only(demo_run):
    _, result, kept = demo_run
    originals = {f"et-{i:03d}" for i in range(1, 81)}
    assert originals <= set(kept), sorted(originals - set(kept))
    assert not [i for i in kept if i.startswith(("dup-", "near-", "junk-", "en-", "fi-", "lv-", "ru-"))]
    assert all(r["language"] == "et" and r["language_score"] >= 0.6 for r in kept.values())
    warc_pages = [r for r in kept.values() if r["source"] == "demo-warc"]
    assert warc_pages and all(r["url"].startswith("http") and "<" not in r["text"][:50] for r in warc_pages)
    assert result.manifest["records"] == len(kept)


def test_duplicates_removed_with_cluster_size(demo_run):
    _, result, kept = demo_run
    # dup-01..10 copy et-001, 005, ...; near-01..10 are near-copies of et-031..040
    for doc_id in ("et-001", "et-005", "et-031", "et-040"):
        assert kept[doc_id]["duplicate_cluster_size"] == 2, doc_id
    assert kept["et-002"]["duplicate_cluster_size"] == 1
    assert result.manifest["removed"]["exact_dedup"] == 10
    assert result.manifest["removed"]["minhash_dedup"] == 10


def test_pii_masked(demo_run):
    _, _, kept = demo_run
    text = " ".join(kept[i]["text"] for i in ("et-022", "et-023", "et-024", "et-025", "et-026", "et-045"))
    for secret in ("+372 5123 4567", "35501234784", "48805170276", "9.9.9.9"):
        assert secret not in text
    for token in ("<PHONE>", "<ID_CODE>", "<EMAIL>", "<IP>"):
        assert token in text
    assert "@" not in text


def test_nothing_silently_lost(demo_run):
    store, result, kept = demo_run
    m = result.manifest
    assert m["quarantined"] == {"binary_payload": 1, "invalid_utf8": 1, "malformed_json": 1, "missing_text": 2,
                                "not_an_object": 1}
    # every removed document is on disk, in its step's folder; filters also record why
    removed: dict[str, list[dict]] = {}
    for f in m["files"]:
        if f["path"].startswith("removed/"):
            with gzip.open(store.local_path(f"{m['id']}/{f['path']}"), "rt") as fh:
                removed.setdefault(f["path"].split("/")[1], []).extend(json.loads(line) for line in fh)
    assert {k: len(v) for k, v in removed.items()} == m["removed"]
    for step, docs in removed.items():
        if step not in ("exact_dedup", "minhash_dedup"):
            assert all(d["metadata"].get("filter_reason") for d in docs), step
    removed = [d for docs in removed.values() for d in docs]
    lid_removed = [r for r in removed if r["metadata"].get("filter_reason", "").startswith("lid:")]
    assert {r["id"][:3] for r in lid_removed} >= {"en-", "fi-", "lv-", "ru-"}
    # documents read == kept + removed (the HTTP 404 page never became a document: skipped, counted)
    total_in = sum(s["docs_out"] for s in m["steps"] if s["group"] == "filter" and "READER" in s["step"])
    assert total_in == len(kept) + len(removed)


def test_manifest_checksums_and_stats(demo_run):
    store, result, _ = demo_run
    import hashlib

    for f in result.manifest["files"]:
        data = store.local_path(f"{result.manifest['id']}/{f['path']}").read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
    steps = result.manifest["steps"]
    assert {s["group"] for s in steps} >= {"filter", "exact_signatures", "minhash_buckets", "write"}
    assert all(s["seconds"] >= 0 for s in steps)


def test_rerun_is_skipped(demo_run, tmp_path):
    store, result, _ = demo_run
    again = run_corpus(store, demo_config(tmp_path), tmp_path / "other-work")
    assert again.skipped and again.manifest_uri == result.manifest_uri
    assert len(read_lineage(store, "et")) == 1


def test_missing_source_is_a_clear_error(tmp_path):
    cfg = demo_config(tmp_path)
    bad = cfg.sources[0].model_copy(update={"paths": [str(tmp_path / "nope" / "*.jsonl")]})
    with pytest.raises(InputError, match="demo-web.*matches no readable file"):
        run_corpus(LocalStore(tmp_path / "s"), cfg.model_copy(update={"sources": [bad]}), tmp_path / "w")


RUNNER = """
import sys
from pathlib import Path
from llammas_core.corpus.config import CorpusConfig
from llammas_core.corpus.stage import run_corpus
from llammas_core.store import LocalStore
cfg = CorpusConfig.model_validate_json(Path(sys.argv[1]).read_text())
print(run_corpus(LocalStore(sys.argv[2]), cfg, Path(sys.argv[3])).manifest_uri)
"""


def test_kill_then_resume_gives_identical_output(tmp_path):
    cfg = demo_config(tmp_path, sources=demo_config(tmp_path).sources[:1])
    (tmp_path / "cfg.json").write_text(cfg.model_dump_json())
    reference = run_corpus(LocalStore(tmp_path / "ref-store"), cfg, tmp_path / "ref-work")

    work = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path / "cfg.json"), str(tmp_path / "store"),
                             str(work)], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    marker = None
    while time.time() < deadline and proc.poll() is None:  # kill once MinHash has started
        marker = next(work.glob("corpus/*/logs/minhash_signatures/completions/*"), None)
        if marker:
            break
        time.sleep(0.05)
    assert marker is not None, "the run ended before it could be killed mid-stage"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    store = LocalStore(tmp_path / "store")
    assert not list(store.list("corpus")), "a killed stage must not commit a manifest"

    resumed = run_corpus(store, cfg, work)
    assert resumed.manifest["key"] == reference.manifest["key"]
    assert rows(store, resumed.manifest) == rows(LocalStore(tmp_path / "ref-store"), reference.manifest)
    data = lambda m: [(f["path"], f["sha256"]) for f in m["files"] if f["path"].startswith("data/")]  # noqa: E731
    assert data(resumed.manifest) == data(reference.manifest)


def test_incremental_refresh_admits_only_new_documents(tmp_path):
    lines = DEMO_DOCS.read_text().splitlines()
    src = tmp_path / "dump"
    src.mkdir()
    (src / "part-000.jsonl").write_text("\n".join(lines[:40]) + "\n")
    cfg = demo_config(tmp_path)
    cfg = cfg.model_copy(update={"sources": [cfg.sources[0].model_copy(update={"paths": [str(src)]})]})
    store = LocalStore(tmp_path / "store")

    first = run_corpus(store, cfg, tmp_path / "work")
    (src / "part-001.jsonl").write_text("\n".join(lines[40:]) + "\n")  # the dump grows: dups of part 0 inside
    second = run_corpus(store, cfg, tmp_path / "work")
    third = run_corpus(store, cfg, tmp_path / "work")

    full = run_corpus(LocalStore(tmp_path / "full-store"), cfg, tmp_path / "full-work")
    old, new = rows(store, first.manifest), rows(store, second.manifest)
    assert new and not second.skipped and third.skipped and third.manifest_uri == second.manifest_uri
    assert not {r["text"] for r in old} & {r["text"] for r in new}
    copies_of_part0 = {f"dup-{i:02d}" for i in range(1, 11)} | {f"near-{i:02d}" for i in range(1, 11)}
    assert not {r["id"] for r in new} & copies_of_part0
    assert len(old) + len(new) == full.manifest["records"]
    assert [e["id"] for e in read_lineage(store, "et")] == [first.manifest["id"], second.manifest["id"]]


def test_s3_store_and_s3_sources(tmp_path, s3_endpoint, monkeypatch):
    prefix = uuid.uuid4().hex
    raw = S3Store(f"s3://llammas-test/{prefix}/raw", endpoint_url=s3_endpoint)
    raw.put_file(DEMO_DOCS, "web/docs.jsonl")
    cfg = demo_config(tmp_path)
    cfg = cfg.model_copy(update={"sources": [cfg.sources[0].model_copy(
        update={"paths": [f"s3://llammas-test/{prefix}/raw/web/"]})]})
    store = S3Store(f"s3://llammas-test/{prefix}/store", endpoint_url=s3_endpoint)

    result = run_corpus(store, cfg, tmp_path / "work", endpoint_url=s3_endpoint)
    assert result.manifest_uri.startswith(f"s3://llammas-test/{prefix}/store/corpus/")
    assert store.exists(f"{result.manifest['id']}/manifest.json")
    shard = next(f for f in result.manifest["files"] if f["path"].startswith("data/"))
    local = store.get_file(f"{result.manifest['id']}/{shard['path']}", tmp_path / "shard.parquet")
    kept = pq.read_table(local).column("id").to_pylist()
    assert "et-001" in kept and "dup-01" not in kept
    # the refresh index lives in S3 too: a fresh machine (empty work dir) dedups against it
    (tmp_path / "more.jsonl").write_text(DEMO_DOCS.read_text().splitlines()[0] + "\n")
    raw.put_file(tmp_path / "more.jsonl", "web/more.jsonl")
    shutil.rmtree(tmp_path / "work")
    second = run_corpus(store, cfg, tmp_path / "work2", endpoint_url=s3_endpoint)
    assert second.manifest["records"] == 0 and not second.skipped


def test_refuses_an_index_with_other_minhash_parameters(tmp_path):
    from llammas_core.corpus.stage import check_index_compatible
    from llammas_core.errors import ConfigError

    cfg = demo_config(tmp_path)
    same = {"id": "corpus/a", "config": {"dedup": cfg.dedup.model_dump()}}
    other = {"id": "corpus/b", "config": {"dedup": {**cfg.dedup.model_dump(), "num_buckets": 14}}}
    check_index_compatible(cfg, [same])
    with pytest.raises(ConfigError, match="corpus/b.*num_buckets.*against_previous"):
        check_index_compatible(cfg, [same, other])


# -- early validation, hostile inputs, same bytes in any work dir ---------------------------------


def small_config(paths: list[str], **overrides):
    """One JSONL source, no dedup or PII: the stage in a few seconds."""
    from llammas_core.corpus.config import CorpusConfig, DedupConfig, ExecutorConfig, PIIConfig, SourceConfig

    return CorpusConfig(sources=[SourceConfig(name="web", kind="jsonl", paths=paths)],
                        dedup=DedupConfig(exact=False, minhash=False), pii=PIIConfig(enabled=False),
                        executor=ExecutorConfig(tasks=1, workers=1), **overrides)


def test_unsupported_language_fails_before_any_work(tmp_path):
    from llammas_core.errors import ConfigError

    cfg = small_config([str(DEMO_DOCS)], language="xx")
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"language 'xx' is not supported.*supported: .*\bet\b.*\bfi\b"):
        run_corpus(LocalStore(tmp_path / "s"), cfg, tmp_path / "w")
    assert time.monotonic() - start < 10
    assert not (tmp_path / "w").exists() and not list((tmp_path / "s").rglob("*"))


def test_validate_corpus_lists_every_problem_with_its_field(tmp_path):
    from llammas_core.corpus.config import FiltersConfig, LidConfig
    from llammas_core.corpus.validate import validate_corpus
    from llammas_core.errors import ConfigError

    filters = FiltersConfig()
    filters.gopher_repetition.dup_line_frac = 1.5
    filters.gopher_quality.min_doc_words = 500
    filters.gopher_quality.max_doc_words = 100
    lid = LidConfig()
    lid.threshold = 2.0  # assigned after validation: the form would refuse it (below), validate_corpus too
    cfg = small_config([str(DEMO_DOCS)], lid=lid, filters=filters)
    cfg.executor.tasks = 0
    with pytest.raises(ConfigError) as err:
        validate_corpus(cfg)
    message = str(err.value)
    for field in ("corpus.lid.threshold: 2.0 is not in [0, 1]", "gopher_repetition.dup_line_frac: 1.5",
                  "min_doc_words (500) <= max_doc_words (100)", "corpus.executor.tasks: 0 < 1",
                  "gopher_quality.stop_words: empty means datatrove's English list"):
        assert field in message, (field, message)
    # a language without filter defaults needs its own filters
    with pytest.raises(ConfigError, match=r"no filter defaults for language 'fi' \(defaults exist for: en, et\)"):
        validate_corpus(small_config([str(DEMO_DOCS)], language="fi"))
    validate_corpus(small_config([str(DEMO_DOCS)]))  # the demo's settings pass
    # simple ranges are also in the model, so the UI form marks the field itself
    from pydantic import ValidationError

    from llammas_core.corpus.config import CorpusConfig

    with pytest.raises(ValidationError) as err:
        CorpusConfig.model_validate({"sources": [{"name": "a", "kind": "jsonl", "paths": ["x"]}],
                                     "executor": {"tasks": 0}, "lid": {"threshold": 2}})
    assert {e["loc"] for e in err.value.errors()} == {("executor", "tasks"), ("lid", "threshold")}
    with pytest.raises(InputError, match="source 'web'.*matches no readable file"):
        validate_corpus(small_config([str(tmp_path / "missing.jsonl")]))


def test_non_utf8_file_name_is_read_and_named(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    name = os.fsdecode(b"t\xf5\xf5-\xff.jsonl")  # Latin-1 bytes in a file name: not UTF-8
    lines = DEMO_DOCS.read_text(encoding="utf-8").splitlines()[:5] + ['{"text": 5}']
    (src / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = LocalStore(tmp_path / "s")
    result = run_corpus(store, small_config([str(src)]), tmp_path / "w", log=lambda m: None)
    m = result.manifest
    escaped = str(src / "t\\xf5\\xf5-\\xff.jsonl")
    assert m["source_files"] == {"web": [escaped]}
    assert m["quarantined"] == {"missing_text": 1} and m["records"] >= 3
    kept = rows(store, m)
    assert {json.loads(r["metadata"])["file_path"] for r in kept} == {escaped}
    (qfile,) = [f["path"] for f in m["files"] if f["path"].startswith("quarantine/missing_text/")]
    assert json.loads(store.local_path(f"{m['id']}/{qfile}").read_text())["file"] == escaped


def test_gzip_bomb_quarantine_is_bounded_and_counted(tmp_path):
    """200,000 `{}` lines in a few hundred bytes of gzip: the committed quarantine holds the first
    examples only, the manifest the exact count; in = kept + removed + quarantined."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "bomb.jsonl.gz").write_bytes(gzip.compress(b"{}\n" * 200_000, 9))
    shutil.copy(DEMO_DOCS, src / "docs.jsonl")
    store = LocalStore(tmp_path / "s")
    result = run_corpus(store, small_config([str(src)], quarantine_examples=100), tmp_path / "w", log=lambda m: None)
    m = result.manifest
    assert m["quarantined"] == {"missing_text": 200_000}
    qbytes = sum(f["bytes"] for f in m["files"] if f["path"].startswith("quarantine/"))
    assert qbytes < 60_000, qbytes
    read = sum(s["docs_out"] for s in m["steps"] if s["group"] == "filter" and "READER" in s["step"])
    lines = sum(1 for line in DEMO_DOCS.read_text().splitlines() if line.strip())
    assert read + m["quarantined"]["missing_text"] == lines + 200_000
    assert read == m["records"] + sum(m["removed"].values())


def test_quarantine_and_removed_bytes_do_not_depend_on_the_work_dir(tmp_path):
    cfg = demo_config(tmp_path, sources=demo_config(tmp_path).sources[:1])
    outs = []
    for i in (1, 2):
        store = LocalStore(tmp_path / f"s{i}")
        m = run_corpus(store, cfg, tmp_path / f"work-{i}", log=lambda m: None).manifest
        outs.append({f["path"]: f["sha256"] for f in m["files"] if f["path"].startswith(("quarantine/", "removed/"))})
    assert outs[0] and outs[0] == outs[1], [p for p in outs[0] if outs[0][p] != outs[1].get(p)]


def test_step_table_reads_well(demo_run):
    import re
    import unicodedata

    from llammas_core.corpus.report import human_bytes, human_seconds, step_rows

    _, result, _ = demo_run
    steps = result.manifest["steps"]
    assert all(isinstance(s["docs_in"], int) and isinstance(s["seconds"], float | int) for s in steps)  # raw kept
    rows = step_rows(steps)
    names = [r["step"] for r in rows]
    assert "Read: Jsonl (quarantining)" in names and "Extract: trafilatura" in names
    assert "Filter: fastText LID" in names and "Write: Parquet" in names
    for name in names + [s["name"] for s in steps]:
        assert not any(unicodedata.category(c) == "So" for c in name), name  # no emoji
    assert all(re.fullmatch(r"\d+ ms|\d+\.\d s|\d+ min \d+ s|\d+ h \d+ min|-", r["time"]) for r in rows)
    assert all(re.fullmatch(r"[\d,]+( chars)?|\d+\.\d\d M( chars)?|-", r[k]) for r in rows
               for k in ("docs in", "docs out", "dropped", "text out"))
    assert human_bytes(12_345_678) == "12.3 MB" and human_bytes(999) == "999 B"
    assert human_seconds(1.234) == "1.2 s" and human_seconds(0.0123) == "12 ms" and human_seconds(125) == "2 min 5 s"


def test_reusing_names_the_current_uri_not_the_lineage_one(demo_run, tmp_path):
    """A store copied elsewhere: its lineage file still holds the old URIs; the log and the result
    must name where the corpus is now."""
    store, result, _ = demo_run
    moved = tmp_path / "moved-store"
    shutil.copytree(store.local_path(""), moved, symlinks=True)
    lines = []
    again = run_corpus(LocalStore(moved), demo_config(tmp_path), tmp_path / "w", log=lines.append)
    assert again.skipped
    (line,) = [line for line in lines if "reusing" in line]
    assert str(moved) in line and str(store.local_path("")) not in line, line
    assert again.manifest_uri.startswith(LocalStore(moved).url(""))


def test_nothing_kept_is_a_clear_error_not_a_datatrove_crash(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    english = [line for line in DEMO_DOCS.read_text(encoding="utf-8").splitlines() if '"en-' in line]
    (src / "en.jsonl").write_text("\n".join(english + ["[1]"]) + "\n", encoding="utf-8")
    store = LocalStore(tmp_path / "s")
    with pytest.raises(InputError, match=rf"corpus \(et\): no document passed the filters: {len(english)} read; "
                                         rf"removed: language {len(english)}; quarantined: not_an_object 1"):
        run_corpus(store, small_config([str(src)]), tmp_path / "w", log=lambda m: None)
    assert not list((tmp_path / "s").rglob("manifest.json"))


def test_removed_documents_can_be_bounded_too(tmp_path):
    """removed_examples: the first N removed documents per step, reason and file are written; the
    manifest's counts stay exact."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "tiny.jsonl.gz").write_bytes(gzip.compress(b'{"text": "Hello there"}\n' * 20_000, 9))
    shutil.copy(DEMO_DOCS, src / "docs.jsonl")
    store = LocalStore(tmp_path / "s")
    m = run_corpus(store, small_config([str(src)], removed_examples=50), tmp_path / "w", log=lambda m: None).manifest
    assert m["removed"]["language"] > 20_000
    written = {}
    for f in m["files"]:
        if f["path"].startswith("removed/language/"):
            with gzip.open(store.local_path(f"{m['id']}/{f['path']}"), "rt") as fh:
                for line in fh:
                    file = json.loads(line)["metadata"]["file_path"]
                    written[file.rsplit("/", 1)[-1]] = written.get(file.rsplit("/", 1)[-1], 0) + 1
    assert written["tiny.jsonl.gz"] == 50 and 0 < written["docs.jsonl"] <= 50
