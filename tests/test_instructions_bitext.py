"""Bitext readers (Moses, TSV, JSONL) and OpusFilter-style cleaning with counts per filter."""

from __future__ import annotations

import json

import pytest

from llammas_core.errors import InputError
from llammas_core.instructions.bitext import (
    BitextStats,
    clean_bitext,
    numerals_score,
    read_bitext,
    script_ratio,
    terminal_punctuation_score,
)
from llammas_core.instructions.config import BitextSource, CleaningConfig
from tests.conftest import REPO

GOOD = [
    ("The library on the main square opens at nine o'clock every weekday morning.",
     "Peaväljaku raamatukogu avatakse igal tööpäeval kell üheksa hommikul."),
    ("My grandmother grows potatoes, carrots and onions in her small garden near the forest.",
     "Mu vanaema kasvatab oma väikeses aias metsa lähedal kartuleid, porgandeid ja sibulaid."),
    ("The children built a large snowman in the yard of the school.",
     "Lapsed ehitasid kooli õuele suure lumememme."),
]


def _moses(tmp_path, pairs, extra_tgt_lines=0):
    (tmp_path / "c.en").write_text("".join(a + "\n" for a, _ in pairs))
    (tmp_path / "c.et").write_text("".join(b + "\n" for _, b in pairs) + "Üks rida veel.\n" * extra_tgt_lines)
    return BitextSource(name="c", format="moses", paths=[str(tmp_path / "c.en"), str(tmp_path / "c.et")])


def test_moses_reader_and_empty_lines(tmp_path):
    src = _moses(tmp_path, GOOD + [("A line without a translation.", "")])
    stats = BitextStats()
    pairs = list(read_bitext(src, stats))
    assert [(p.src, p.tgt) for p in pairs] == GOOD
    assert stats.read == 4 and stats.quarantined == {"empty_line": 1}
    assert stats.examples[0]["where"].endswith("c.en:4")


def test_unequal_moses_files_name_both(tmp_path):
    src = _moses(tmp_path, GOOD, extra_tgt_lines=2)
    with pytest.raises(InputError) as err:
        list(read_bitext(src, BitextStats()))
    assert "c.en" in str(err.value) and "c.et" in str(err.value) and "3 lines" in str(err.value)


def test_tsv_and_jsonl_readers(tmp_path):
    (tmp_path / "p.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in GOOD) + "one column only\n")
    stats = BitextStats()
    pairs = list(read_bitext(BitextSource(name="t", format="tsv", paths=[str(tmp_path / "p.tsv")]), stats))
    assert len(pairs) == 3 and stats.quarantined == {"tsv_missing_column": 1}

    lines = [json.dumps({"en": GOOD[0][0], "et": GOOD[0][1]}),
             json.dumps({"translation": {"en": GOOD[1][0], "et": GOOD[1][1]}}),
             json.dumps({"en": "only English"}), "{broken", ""]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    stats = BitextStats()
    pairs = list(read_bitext(BitextSource(name="j", format="jsonl", paths=[str(tmp_path / "p.jsonl")]), stats))
    assert [(p.src, p.tgt) for p in pairs] == GOOD[:2]
    assert stats.quarantined == {"missing_field:et": 1, "malformed_json": 1, "empty_line": 1}


def test_filter_functions():
    assert terminal_punctuation_score("Hello.", "Tere.") == 0.0
    assert terminal_punctuation_score("Hello. Bye. Now!", "Tere") > -2 > terminal_punctuation_score("Hello. Bye. Now! Go.", "Tere")
    assert numerals_score("In 2019 we had 350.", "2019. aastal oli 350.") == 1.0
    assert numerals_score("In 2019 we had 350.", "2021 ja 120") < 0.5
    assert script_ratio("Кошка спит", "et") == 0.0 and script_ratio("Õun ja pirn", "et") == 1.0
    assert script_ratio("Кошка спит", "ru") == 1.0


def test_cleaning_counts_per_filter(tmp_path):
    planted = {
        "length_chars": ("Yes.", "Jah."),
        "length_words": ("Supercalifragilistic expialidocious", "Superkalifragilistiline"),
        "word_ratio": ("The train leaves at noon.",
                       "Rong väljub keskpäeval ja see on väga pikk lause, mis ei vasta üldse algsele lausele sest "
                       "tõlkija lisas siia palju sõnu."),
        "long_word": ("Please see www.example.com/a-really-long-path-that-never-ends-and-goes-on today.",
                      "Palun vaata täna www.example.com/a-really-long-path-that-never-ends-and-goes-on lehte."),
        "script": ("The cat is sleeping on the sofa.", "Кошка спит на диване весь день."),
        "numerals": ("The conference took place in 2019 and gathered 350 people.",
                     "Konverents toimus 2021. aastal ja kogus 120 osalejat."),
        "terminal_punctuation": ("Where is the pharmacy? Is it open? Is it far? Please tell me!",
                                 "Kus on apteek, kas see on avatud ja kaugel"),
        "lid_tgt": ("The weather is lovely today and we are going to the beach.",
                    "Sää on tänään ihana ja menemme rannalle uimaan."),
        "lid_src": ("Mu vanaema kasvatab oma väikeses aias metsa lähedal kartuleid.",
                    "Mu vanaema kasvatab oma väikeses aias metsa lähedal kartuleid."),
        "duplicate": GOOD[0],
    }
    src = _moses(tmp_path, GOOD + list(planted.values()))
    kept, stats = clean_bitext([src], CleaningConfig(), "en", "et")
    assert [(p.src, p.tgt) for p in kept] == GOOD
    assert stats.removed == {reason: 1 for reason in planted}
    assert stats.read == len(GOOD) + len(planted) == stats.kept + sum(stats.removed.values())
    # each filter can be relaxed
    kept, stats = clean_bitext([src], CleaningConfig(lid=False, dedup=False), "en", "et")
    assert "lid_tgt" not in stats.removed and "duplicate" not in stats.removed


def test_demo_bitext_mostly_kept():
    d = REPO / "demo" / "instructions" / "bitext"
    srcs = [BitextSource(name="demo", format="moses", paths=[str(d / "demo.en"), str(d / "demo.et")]),
            BitextSource(name="noisy", format="tsv", paths=[str(d / "noisy.tsv")])]
    kept, stats = clean_bitext(srcs, CleaningConfig(), "en", "et")
    assert stats.read == 122 and stats.quarantined == {"empty_line": 1, "tsv_missing_column": 1}
    assert len(kept) >= 100
    for reason in ("length_chars", "word_ratio", "long_word", "script", "numerals", "duplicate", "lid_tgt"):
        assert stats.removed.get(reason, 0) >= 1, reason


def test_invalid_utf8_lines_are_quarantined(tmp_path):
    # before: decoded with "replace" and kept (U+FFFD in the training data)
    bad = "Kass magab diivanil päev läbi.".encode("utf-8").replace("ä".encode(), b"\xe4")  # Latin-1 byte
    (tmp_path / "c.en").write_bytes(b"".join(a.encode() + b"\n" for a, _ in GOOD) + b"The cat sleeps all day.\n")
    (tmp_path / "c.et").write_bytes(b"".join(b.encode() + b"\n" for _, b in GOOD) + bad + b"\n")
    (tmp_path / "c.tsv").write_bytes(b"One more good line here.\t" + bad + b"\n" +
                                     f"{GOOD[0][0]}\t{GOOD[0][1]}\n".encode())
    for src in (BitextSource(name="m", format="moses", paths=[str(tmp_path / "c.en"), str(tmp_path / "c.et")]),
                BitextSource(name="t", format="tsv", paths=[str(tmp_path / "c.tsv")])):
        stats = BitextStats()
        pairs = list(read_bitext(src, stats))
        assert stats.quarantined == {"invalid_utf8": 1} and stats.read == len(pairs) + 1
        assert not any("\ufffd" in p.src + p.tgt for p in pairs)
        assert stats.examples[0]["reason"] == "invalid_utf8" and stats.examples[0]["where"].endswith(
            ":4" if src.format == "moses" else ":1")
