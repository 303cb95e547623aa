"""Instruction-set readers: Alpaca / chat / ShareGPT from JSON, JSONL and Parquet; bad input quarantined."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llammas_core.errors import InputError
from llammas_core.instructions.sources import parse_record, read_source, record_texts, with_texts
from tests.conftest import shared_data


def _jsonl(path, lines):
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines))
    return path


def test_alpaca_json_list(tmp_path):
    data = [{"instruction": "Name a colour.", "input": "", "output": "Blue"},
            {"instruction": "Add.", "input": "2 + 2", "output": "4", "id": "r7"}]
    (tmp_path / "a.json").write_text(json.dumps(data))
    records, stats = read_source("alp", [str(tmp_path / "a.json")])
    assert [r["kind"] for r in records] == ["alpaca", "alpaca"]
    assert records[1] == {"id": "alp:r7", "source": "alp", "language": "en", "kind": "alpaca",
                          "instruction": "Add.", "input": "2 + 2", "output": "4"}
    assert records[0]["id"] == "alp:1"
    assert stats.read == 2 and stats.valid == 2 and not stats.quarantined


def test_bad_jsonl_lines_are_quarantined_with_reasons(tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [
        '{"instruction": "ok", "input": "", "output": "fine"}',
        '{"instruction": "cut off", "outp',
        b'{"instruction": "caf\xe9", "output": "x"}',  # Latin-1 byte: not UTF-8
        '{"instruction": "no output"}',
        '{"instruction": "empty", "output": "  "}',
        '{"instruction": 5, "output": "x"}',
        '{"instruction": "", "output": "x"}',
        '[1, 2]',
        '{"text": "neither alpaca nor chat"}',
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "alien", "content": "?"}]}',
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 3}]}',
        '{"messages": [{"role": "user", "content": "hi"}]}',
        '',
        '{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}',
    ])
    records, stats = read_source("s", [str(path)], keep_examples=3)
    assert stats.quarantined == {
        "malformed_json": 1, "invalid_utf8": 1, "missing_field:output": 1, "empty_output": 2,
        "non_string_field:instruction": 1, "empty_instruction": 1, "not_an_object": 1, "unknown_format": 1,
        "bad_role": 1, "non_string_field:content": 1,
    }
    assert len(records) == 2 and records[1]["messages"][1] == {"role": "assistant", "content": "Hello!"}
    assert stats.read == 13 == stats.valid + stats.n_quarantined  # the blank line is not a record
    assert len(stats.examples) == 3  # bounded, but every bad record is counted
    assert stats.examples[0]["reason"] == "malformed_json" and stats.examples[0]["where"].endswith("bad.jsonl:2")


def test_forced_format_reports_missing_field():
    assert parse_record({"instruction": "x", "output": "y"}, "chat") == (None, "missing_field:messages")
    assert parse_record({"messages": []}, "sharegpt") == (None, "missing_field:conversations")
    assert parse_record({"messages": "nope"}, "chat") == (None, "bad_messages")


def test_parquet_chat_and_max_records(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(5)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    records, stats = read_source("chat", [str(tmp_path)], max_records=3)  # a folder
    assert [r["messages"][0]["content"] for r in records] == ["q0", "q1", "q2"]
    assert stats.valid == 3


def test_missing_path_and_broken_json_file_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_source("x", [str(tmp_path / "nope.json")])
    (tmp_path / "broken.json").write_text('[{"instruction": "a", ')
    with pytest.raises(InputError, match="broken.json"):
        read_source("x", [str(tmp_path / "broken.json")])


def test_texts_round_trip():
    rec = {"id": "a", "source": "s", "language": "en", "kind": "chat",
           "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                        {"role": "assistant", "content": "A"}]}
    assert record_texts(rec) == ["S", "U", "A"]
    out = with_texts(rec, ["s", "u", "a"], language="et")
    assert out["messages"][2] == {"role": "assistant", "content": "a"} and out["language"] == "et"
    assert rec["messages"][2]["content"] == "A"


def test_real_alpaca_5000():
    path = shared_data("alpaca", "alpaca_5000.json")
    records, stats = read_source("alpaca", [str(path)])
    assert stats.read == 5000
    assert stats.valid + stats.n_quarantined == 5000
    assert sum(1 for r in records if r["input"]) >= 1900
