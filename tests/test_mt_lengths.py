"""Lengths and truncation in MT (issue 13, defects 5 and 10): caps clamped to the model's positions,
long sentences split before MT, nothing cut passes (no EOS, finish_reason "length", an over-long
source), lines over spaCy's limit, and the per-record size cap. Real spaCy, a tiny Marian built here,
a loopback OpenAI-style server."""

from __future__ import annotations

import json

import pytest

from llammas_core.instructions.cache import SegmentCache
from llammas_core.instructions.mt import fit_layout, translate_items
from llammas_core.instructions.segment import split_sentences, split_text
from llammas_core.instructions.translate import TranslatorConfig, make_translator
from llammas_core.instructions.translate.config import QEConfig
from llammas_core.store import LocalStore
from tests.mt_fixtures import ALPACA, ENGLISH, ESTONIAN, ChatServer, FakeTranslator, openai_config

LENIENT = QEConfig.model_validate({"thresholds": {"default": {
    "lid_min_prob": None, "length_ratio_min": None, "length_ratio_max": None, "copy_max": None,
    "compression_ratio_max": None}}})


def _longest_alpaca(n: int) -> list[dict]:
    if not ALPACA.exists():
        pytest.skip("the data kit's alpaca_5000.json is not there")
    recs = json.loads(ALPACA.read_text())
    by_line = sorted(recs, key=lambda r: -max(len(x) for t in r.values() for x in t.splitlines() or [""]))[:12]
    return sorted(by_line, key=lambda r: -max(len(s) for t in r.values() for s in split_text(t).segments or [""]))[:n]


@pytest.fixture(scope="module")
def alpaca_marian(tmp_path_factory):
    """A 512-position tiny Marian (like the demo's builtin:tiny-marian) on the Alpaca records with the
    longest sentences, and those records."""
    from llammas_core.instructions.tiny_mt import build_tiny_marian

    recs = _longest_alpaca(3)
    # a small vocabulary from a few sentences: ~1 token per 1-2 characters, as with the demo's
    path = build_tiny_marian(ENGLISH * 3, ESTONIAN * 3, tmp_path_factory.mktemp("m") / "hf", vocab_size=300,
                             max_position=512)
    return path, recs


def test_alpaca_long_segments_on_a_512_position_marian(alpaca_marian, tmp_path):
    # before: a >251-token segment got max_new_tokens 2 x 512 + 10 > 512 positions: IndexError in generate
    path, recs = alpaca_marian
    tr = make_translator(TranslatorConfig(model=str(path), beams=1, threads=1, device="cpu"))  # ratio 2.0, 512 in
    items = [[r["instruction"], r["input"], r["output"]] for r in recs]
    lengths = tr.source_tokens([s for it in items for t in it for s in split_text(t).segments])
    assert max(lengths) > 251  # the subset has sentences whose 2.0 x cap passes the 512 positions
    res = translate_items(items, tr, SegmentCache(LocalStore(tmp_path), tr.identity()), LENIENT)
    assert tr.output_limit == 511 and tr.input_limit == 512
    # a smaller input limit: the long Alpaca sentences are split at clauses/spaces, never cut
    short = make_translator(TranslatorConfig(model=str(path), beams=1, threads=1, device="cpu", max_input_tokens=128))
    for it in items:
        for t in it:
            lay, problem = fit_layout(t, "en", short)
            assert problem is None and max(short.source_tokens(lay.segments) or [0]) <= 128
            assert lay.original() == t
    # the random model never emits EOS: each record is quarantined as truncated, none passes cut
    assert all(r.verdict == "quarantined" and "output_truncated" in r.reasons for r in res)


def test_a_model_that_stops_is_not_truncated(alpaca_marian, tmp_path):
    import torch

    path, _ = alpaca_marian
    tr = make_translator(TranslatorConfig(model=str(path), beams=1, threads=1, device="cpu"))
    with torch.no_grad():  # EOS always wins: an (empty) complete translation
        tr.model.final_logits_bias[0, tr.model.generation_config.eos_token_id] = 1e4
    assert [p for _, p in tr.translate_checked(ENGLISH[:3])] == [None] * 3
    long = " ".join(ENGLISH) * 8  # > 512 tokens without fit_layout's splitting: cut, and said so
    assert tr.translate_checked([long])[0][1] == "source_truncated"


def test_openai_length_finish_and_long_sources(tmp_path):
    # before: finish_reason "length" was taken as a translation, and long sources went whole
    clauses = ", ".join(f"then the {w} walked slowly along the river bank" for w in
                        ["farmer", "teacher", "doctor", "child", "painter", "sailor", "baker", "miner"])
    long_text = f"In the morning {clauses}. Short one."
    # a "model" that runs out of tokens on "cut here" and on the whole `retry` sentence
    retry = "The old mill by the river, which nobody had used for years, was finally repaired."
    finish = lambda text: "length" if "cut here" in text or text == retry else "stop"  # noqa: E731
    with ChatServer(finish=finish) as srv:
        tr = make_translator(openai_config(srv.url, max_input_tokens=40))  # ~120 characters a segment
        items = [["Please cut here now.", ""], [long_text, ""], ["Name a colour.", "Blue"], [retry, ""]]
        res = translate_items(items, tr, SegmentCache(LocalStore(tmp_path), tr.identity()), LENIENT)
        sent = srv.ok_texts()
    assert res[0].verdict == "quarantined" and res[0].reasons == ["output_truncated"]
    assert res[1].verdict == "ok" and res[2].verdict == "ok"
    # a cut answer for a long segment: translated again in pieces (clauses) that all finish
    halves = [t for t in sent if t in retry and t != retry]
    assert res[3].verdict == "ok" and retry in sent and len(halves) == 3, halves  # its clauses
    assert res[3].texts[0].count(",") == 2
    assert max(len(t) for t in sent) <= 120 and sum(t.startswith("In the morning") for t in sent) == 1
    assert res[1].texts[0].count(",") == long_text.count(",")  # split at clauses, joined with the same marks


def test_unsplittable_source_is_quarantined_not_cut(tmp_path):
    class Greedy(FakeTranslator):
        def max_source_tokens(self):
            return 4

        def source_tokens(self, segments):
            return [10_000 for _ in segments]  # never fits

    tr = Greedy()
    res = translate_items([["A sentence that never fits.", ""]], tr, SegmentCache(LocalStore(tmp_path), {"x": 1}),
                          LENIENT)
    assert res[0].verdict == "quarantined" and res[0].reasons == ["source_too_long"] and not tr.seen


def test_line_over_spacy_limit_is_split_first():
    # before: spaCy's E088 "Text of length 1200000 exceeds maximum of 1000000"
    line = "The sea is grey and the wind is cold today. " * 28_000
    assert len(line) > 1_000_000
    sents = split_sentences(line)
    assert "".join(sents) == line and len(sents) == 28_000


def _stage(tmp_path, records, translate, **extra):
    from llammas_core.instructions.config import InstructionsConfig
    from llammas_core.instructions.stage import run_instructions

    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    cfg = InstructionsConfig.model_validate({
        "sources": [{"name": "alp", "paths": [str(tmp_path / "a.jsonl")], "translate": translate}],
        "decontamination": {"enabled": False}, "qe": LENIENT.model_dump(), **extra})
    return run_instructions(LocalStore(tmp_path / "store"), cfg, tmp_path / "work", lambda s: None).manifest


def test_oversize_record_quarantined_before_mt_and_mixture(tmp_path):
    # before: a 5 MB record went into the mixture as is (translate: false) and crashed MT otherwise
    big = {"instruction": "Summarise this.", "input": "word " * 40_000, "output": "Short."}
    small = {"instruction": "Name a colour.", "input": "", "output": "Blue is a colour."}
    m = _stage(tmp_path / "a", [big, small], False)
    assert m["pools"]["alp"]["quarantined"] == {"source:field_too_long": 1} and m["records"] == 1
    with ChatServer() as srv:
        m = _stage(tmp_path / "b", [big, small], True, translator=openai_config(srv.url).model_dump())
        assert all(len(t) < 1000 for t in srv.ok_texts())  # never sent to MT
    assert m["pools"]["alp"]["quarantined"] == {"source:field_too_long": 1}
    assert m["pools"]["alp@et"]["in"] == 1 and m["pools"]["alp@et"]["kept"] == 1
    m = _stage(tmp_path / "c", [big, small], False, max_field_chars=None)  # the cap is configurable
    assert m["records"] == 2


def test_roundtrip_check_runs_from_the_config(tmp_path):
    # before: nothing passed a reverse translator, so qe.roundtrip never ran
    import re

    back = lambda t: "Purple monkeys dance on the moon." if "zebraile" in t else re.sub(r"ile\b", "", t)  # noqa: E731
    records = [{"instruction": "Describe a quiet morning by the lake.", "input": "", "output": "Birds sing softly."},
               {"instruction": "Describe a zebra running across the plain.", "input": "", "output": "It runs fast."}]
    thresholds = {"default": {**LENIENT.thresholds["default"].model_dump(), "roundtrip_chrf_min": 50}}
    with ChatServer() as fwd, ChatServer(translate=back) as rev:
        qe = {"thresholds": thresholds, "roundtrip": True,
              "roundtrip_translator": openai_config(rev.url, src_lang="et", tgt_lang="en").model_dump()}
        m = _stage(tmp_path, records, True, translator=openai_config(fwd.url).model_dump(), qe=qe)
        assert rev.ok_texts()  # the reverse endpoint was called
    a = m["pools"]["alp@et"]
    assert a["kept"] == 1 and a["removed"] == {"mt:roundtrip_chrf": 1}, a
    assert m["translation"]["roundtrip_translator"]["model"]["name"] == "tiny-llm"


def test_cache_key_covers_dtype_device_snapshot_and_served_model(alpaca_marian, tmp_path, monkeypatch):
    # before: dtype, device and the resolved revision were not in the key (revision None matched any
    # snapshot), and an endpoint's key held the configured name only
    import huggingface_hub.constants as hf_constants

    from llammas_core.instructions.cache import identity_hash
    from llammas_core.instructions.translate.hf_seq2seq import resolve_revision

    path, _ = alpaca_marian
    ids = {identity_hash(make_translator(TranslatorConfig(model=str(path), beams=1, device="cpu", dtype=d)).identity())
           for d in ("float32", "bfloat16")}
    assert len(ids) == 2
    repo = tmp_path / "hub" / "models--org--mt"
    for commit in ("a" * 40, "b" * 40):
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    (repo / "refs" / "main").write_text("a" * 40)
    assert resolve_revision("org/mt", None) == "a" * 40
    (repo / "refs" / "main").write_text("b" * 40)  # a newer snapshot: a new key
    assert resolve_revision("org/mt", None) == "b" * 40

    def key(served, **kw):
        with ChatServer(models=served) as srv:
            return identity_hash(make_translator(openai_config(srv.url, **kw)).identity())

    v1 = [{"id": "tiny-llm", "root": "org/tiny-llm@v1"}]
    v2 = [{"id": "tiny-llm", "root": "org/tiny-llm@v2"}]
    assert key(v1) == key(v1) != key(v2)
    assert key(None) != key(None, model_revision="2026-12-01")  # TGI-like servers: the user's label counts


def test_roundtrip_without_a_reverse_translator_is_a_config_error():
    from llammas_core.instructions.config import InstructionsConfig

    with pytest.raises(ValueError, match="roundtrip_translator"):
        InstructionsConfig.model_validate({
            "sources": [{"name": "a", "paths": ["x.json"], "translate": True}],
            "translator": {"model": "m"}, "qe": {"roundtrip": True}})
