"""The instructions stage end to end with a tiny random-init Marian: Parquet that datasets and the
SFT reader open, exact accounting, reuse, segment cache on a grown source, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llammas_core.instructions.config import InstructionsConfig
from llammas_core.instructions.stage import run_instructions
from llammas_core.store import LocalStore
from tests.conftest import REPO

RECORDS = [
    {"instruction": "Give three tips for staying healthy.", "input": "",
     "output": "Eat vegetables every day. Sleep at least seven hours. Walk outside for half an hour."},
    {"instruction": "Write a Python function that doubles a number.", "input": "",
     "output": "Here it is:\n\n```python\ndef double(x):\n    return 2 * x\n```"},
    {"instruction": "Fill in the template.", "input": "Hello {name}, your order {order_id} has shipped!",
     "output": "Hello {name}, your order {order_id} is on its way!"},
    {"instruction": "Where is the documentation?", "input": "", "output": "See https://example.com/docs for details."},
    {"instruction": "Summarise the sentence.", "input": "The river freezes every winter and people skate on it.",
     "output": "People skate on the frozen river in winter."},
    # planted evaluation sentence: removed by decontamination
    {"instruction": "Repeat the sentence.", "input": "",
     "output": "The committee of independent auditors published its final verdict on the northern railway project."},
    {"instruction": "Name a colour.", "input": "", "output": "Blue"},
]
EVAL_SENTENCE = RECORDS[5]["output"]


def _config(tmp_path: Path, records: list[dict]) -> InstructionsConfig:
    (tmp_path / "alpaca.json").write_text(json.dumps(records))
    (tmp_path / "bad.jsonl").write_text('{"instruction": "x", "outp\n{"instruction": "y", "output": ""}\n')
    (tmp_path / "eval.jsonl").write_text(json.dumps({"sentence": EVAL_SENTENCE}) + "\n")
    bitext = REPO / "demo" / "instructions" / "bitext"
    return InstructionsConfig.model_validate({
        "name": "test-mix",
        "sources": [
            {"name": "alp", "paths": [str(tmp_path / "alpaca.json")], "translate": True, "licence": "CC0-1.0"},
            {"name": "bad", "paths": [str(tmp_path / "bad.jsonl")]},
        ],
        "translator": {"backend": "hf_seq2seq", "model": "builtin:tiny-marian", "beams": 1, "device": "cpu", "threads": 1,
                       "max_ratio": 1.0, "max_extra_tokens": 2},
        "tiny_mt": {"vocab_size": 300, "max_texts": 300},
        # lenient QE so that some random "translations" survive and the et component is exercised
        "qe": {"thresholds": {"default": {"lid_min_prob": None, "length_ratio_min": None, "length_ratio_max": None,
                                          "copy_max": None, "compression_ratio_max": None}}},
        "bitext": [{"name": "demo", "format": "moses", "paths": [str(bitext / "demo.en"), str(bitext / "demo.et")]}],
        "decontamination": {"eval_files": [str(tmp_path / "eval.jsonl")]},
        "mixture": {"seed": 1, "total": 20, "components": [
            {"name": "alpaca_en", "pool": "alp"},
            {"name": "alpaca_et", "pool": "alp@et"},
            {"name": "translation", "pool": "bitext", "weight": 1.0}]},
    })


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("instr")
    store = LocalStore(tmp / "store")
    cfg = _config(tmp, RECORDS)
    logs: list[str] = []
    result = run_instructions(store, cfg, tmp / "work", logs.append)
    return tmp, store, cfg, result, logs


def test_manifest_accounting_and_layout(built):
    tmp, store, cfg, result, logs = built
    m = result.manifest
    assert not result.skipped and m["stage"] == "instructions" and m["format"] == "chat-parquet"
    c = m["counts"]
    assert c["in"] == c["kept"] + c["removed"] + c["quarantined"]
    for pool, a in m["pools"].items():
        assert a["in"] == a["kept"] + sum(a["removed"].values()) + sum(a["quarantined"].values()), pool
    assert m["pools"]["alp"]["in"] == 7 and m["pools"]["bad"]["quarantined"] == {
        "source:malformed_json": 1, "source:empty_output": 1}
    assert m["pools"]["bad"]["kept"] == 0 and not m["pools"]["bad"]["removed"]  # no valid record, no component
    # the planted evaluation sentence: not translated, and not in the English component
    assert m["pools"]["alp@et"]["removed"].get("source:contaminated") == 1
    assert m["pools"]["alp"]["removed"].get("mixture:contaminated") == 1
    # components as configured: all English (6 clean), translation = total - capped/whole components
    comps = m["components"]
    assert comps["alpaca_en"] == 6 and comps["alpaca_et"] == m["pools"]["alp@et"]["kept"]
    folder = Path(result.manifest_uri.removeprefix("file://")).parent
    planned = json.loads((folder / "stats.json").read_text())["components"]
    # whole-pool components plan their pool; the weighted one gets the rest of `total` and fills it
    assert planned["translation"]["planned"] == 20 - 7 - planned["alpaca_et"]["available"] == comps["translation"]
    paths = {f["path"] for f in m["files"]}
    assert {"README.md", "stats.json", "data/part-00000.parquet"} <= paths
    assert any(p.startswith("quarantine/") for p in paths) and any(p.startswith("removed/") for p in paths)
    assert any("[translate] step" in line for line in logs)


def test_parquet_opens_with_datasets_and_sft_reader(built):
    tmp, store, cfg, result, _ = built
    import datasets

    folder = Path(result.manifest_uri.removeprefix("file://")).parent
    ds = datasets.load_dataset("parquet", data_files=str(folder / "data" / "*.parquet"), split="train")
    assert len(ds) == result.manifest["records"]
    assert {"messages", "component", "language", "direction", "origin", "qe"} <= set(ds.column_names)
    row = ds[0]
    assert row["messages"][-1]["role"] == "assistant" and isinstance(row["messages"][0]["content"], str)
    tt = [r for r in ds if r["component"] == "translation"]
    assert tt and all(r["direction"] in ("en-et", "et-en") and r["origin"] == "translation_task" for r in tt)
    mt = [r for r in ds if r["component"] == "alpaca_et"]
    assert all(r["language"] == "et" and r["origin"] == "machine_translated" and json.loads(r["qe"]) for r in mt)

    from llammas_core.train.sft_data import load_chat_records

    chats = list(load_chat_records(result.manifest_uri))
    assert len(chats) == result.manifest["records"]
    # protected spans survive into the translated records byte for byte
    for r in mt:
        text = "\n".join(m["content"] for m in r["messages"])
        if "def double" in text:
            assert "def double(x):\n    return 2 * x" in text
    card = (folder / "README.md").read_text()
    assert "alpaca_en" in card and "CC0-1.0" in card and "meaningless" in card


def test_rerun_reuses_and_grown_source_hits_the_cache(built):
    tmp, store, cfg, result, _ = built
    again = run_instructions(store, cfg, tmp / "work", lambda s: None)
    assert again.skipped and again.manifest_uri == result.manifest_uri
    grown_dir = tmp / "grown"
    grown_dir.mkdir()
    extra = {"instruction": "Describe the sea in winter.", "input": "", "output": "Grey, cold and quiet."}
    grown = run_instructions(store, _config(grown_dir, RECORDS + [extra]), tmp / "work", lambda s: None)
    assert not grown.skipped
    cache = grown.manifest["translation"]["cache"]
    first = result.manifest["translation"]["cache"]
    # only the new record's segments are translated; every earlier one comes from the cache
    assert cache["segment_misses"] == 2 and cache["segment_hits"] == first["segment_misses"]


def test_s3_sources_and_store(tmp_path, s3_endpoint, monkeypatch):
    """Sources, bitext and the output all in S3 (moto on loopback); no MT, so it is quick."""
    import uuid

    from llammas_core.store import S3Store
    from llammas_core.train.sft_data import load_chat_records

    prefix = uuid.uuid4().hex
    raw = S3Store(f"s3://llammas-test/{prefix}/raw", endpoint_url=s3_endpoint)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS) + "{broken\n")
    raw.put_file(tmp_path / "a.jsonl", "instr/a.jsonl")
    bitext = REPO / "demo" / "instructions" / "bitext"
    raw.put_file(bitext / "demo.en", "bitext/demo.en")
    raw.put_file(bitext / "demo.et", "bitext/demo.et")
    cfg = InstructionsConfig.model_validate({
        "sources": [{"name": "alp", "paths": [f"s3://llammas-test/{prefix}/raw/instr/"]}],
        "bitext": [{"name": "demo", "format": "moses", "paths": [f"s3://llammas-test/{prefix}/raw/bitext/demo.en",
                                                                 f"s3://llammas-test/{prefix}/raw/bitext/demo.et"]}],
        "decontamination": {"enabled": False},
        "mixture": {"components": [{"name": "en", "pool": "alp"}, {"name": "tt", "pool": "bitext", "max_records": 10}]},
    })
    store = S3Store(f"s3://llammas-test/{prefix}/store", endpoint_url=s3_endpoint)
    result = run_instructions(store, cfg, tmp_path / "work", lambda s: None)
    assert result.manifest_uri.startswith(f"s3://llammas-test/{prefix}/store/instructions/")
    m = result.manifest
    assert m["components"] == {"en": 7, "tt": 10} and m["quarantined"] == {"source:malformed_json": 1}
    assert len(list(load_chat_records(result.manifest_uri))) == 17
    assert run_instructions(store, cfg, tmp_path / "work2", lambda s: None).skipped


def test_unreachable_endpoint_fails_without_a_manifest(tmp_path):
    import socket

    from llammas_core.errors import TransientError

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = _config(tmp_path, RECORDS[:2]).model_dump()
    data["translator"] = {"backend": "openai", "model": "mt", "base_url": f"http://127.0.0.1:{port}/v1",
                          "max_retries": 1, "backoff_s": 0.0, "timeout_s": 2.0, "api_key_env": None}
    store = LocalStore(tmp_path / "store")
    with pytest.raises(TransientError, match=str(port)):
        run_instructions(store, InstructionsConfig.model_validate(data), tmp_path / "work", lambda s: None)
    assert not list(store.list("instructions"))  # nothing committed, not even a partial folder


@pytest.mark.slow
def test_cli_runs_the_demo(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "instructions", "--config", "configs/demo.yaml",
         "--set", f"store.uri=file://{tmp_path}/store", "--set", f"store.work_dir={tmp_path}/work",
         "--set", "instructions.sources.0.max_records=10"],  # fewer records to translate: a faster test
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "PREFECT_HOME": str(tmp_path / "prefect")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f"output: file://{tmp_path}/store/instructions/")
    m = json.loads(Path(last.removeprefix("output: file://")).read_text())
    assert m["records"] > 0 and m["components"]["alpaca_en"] == 10 and m["components"]["translation"] == 60
    assert m["counts"]["in"] == m["counts"]["kept"] + m["counts"]["removed"] + m["counts"]["quarantined"]
    # the artifacts the UI shows, read from the run's Prefect database
    import sqlite3

    with sqlite3.connect(tmp_path / "prefect" / "prefect.db") as db:
        arts = dict(db.execute("select key, type from artifact where key like '%llammas-demo-instructions%'").fetchall())
    assert arts == {"llammas-demo-instructions-components": "table", "llammas-demo-instructions-reasons": "table",
                    "llammas-demo-instructions-pools": "table", "llammas-demo-instructions-qe": "markdown",
                    "llammas-demo-instructions-translation": "progress",
                    "instructions-llammas-demo-instructions-summary": "markdown",
                    "instructions-llammas-demo-instructions-steps": "table"}, arts
