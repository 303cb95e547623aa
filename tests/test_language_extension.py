"""A language defined in this test alone (register(Language(...)), no other code touched) goes through
corpus -> instructions -> evaluate: every fact the stages need comes from its registry entry.

The test language "qet" (ISO 639's private-use range) is written like Estonian, so the bundled Estonian
demo data serves it: lid.176 labels it `et` (its entry's lid176 label), datatrove splits its words as
Estonian (`words: et`), FLORES/Belebele files are read by its codes, and its XCOPA connectives and
translation templates are its own, so the checks below can tell them from Estonian's.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from llammas_core import languages as L
from llammas_core.languages.registry import QA, Corpus, Instructions, Lid, Xcopa
from llammas_core.store import LocalStore
from tests.conftest import REPO

QET = L.Language(
    code="qet", name="Testish", native="testi keel", iso639_3="qet", script="Latn",
    flores="est_Latn", belebele="est_Latn",
    lid=Lid(lid176="et", lid176_threshold=0.5),
    words="et", sentences="et",
    corpus=Corpus(filters={"gopher_quality": {"max_avg_word_length": 13, "stop_words": ["ja", "on", "ning", "et"],
                                              "min_stop_words": 1}},
                  extra_stops=["…"], closers=["“", "»"]),
    xcopa=Xcopa(code="et", cause="kuna", effect="niisiis"),
    qa=QA(rule="mlqa"),
    instructions=Instructions(
        names={"en": "ingliskeelse", "qet": "testikeelse"},
        translate_input=["Testitõlge {src} tekstist {tgt} tekstiks."],
        translate_inline=["Testitõlge {tgt} tekstiks: {text}"],
        prompts={"input": [("TEST {instruction} || {input}", 1.0)], "plain": [("TEST {instruction}", 1.0)]}),
)


def _parquet_rows(store, manifest: dict) -> list[dict]:
    return [r for f in manifest["files"] if f["path"].startswith("data/") and f["path"].endswith(".parquet")
            for r in pq.read_table(store.local_path(f"{manifest['id']}/{f['path']}")).to_pylist()]


@pytest.fixture
def qet():
    L.register(QET)
    yield QET
    L.reload()


def test_a_language_from_the_test_alone_runs_corpus_instructions_evaluate(qet, tmp_path, tiny_eval_model):
    from llammas_core.corpus.config import CorpusConfig
    from llammas_core.corpus.stage import run_corpus
    from llammas_core.evaluate.config import EvaluateConfig
    from llammas_core.evaluate.stage import run_evaluate
    from llammas_core.instructions.config import InstructionsConfig
    from llammas_core.instructions.stage import run_instructions

    store = LocalStore(tmp_path / "store")
    log = lambda _: None  # noqa: E731

    # corpus: LID keeps the Estonian-written demo documents as qet through the entry's lid.176 label
    cfg = CorpusConfig.model_validate({
        "language": "qet", "sources": [{"name": "web", "kind": "jsonl", "paths": [str(REPO / "demo/web/docs.jsonl")]}],
        "dedup": {"exact": False, "minhash": False}, "pii": {"enabled": False}, "executor": {"tasks": 1, "workers": 1}})
    assert cfg.resolved_filters().gopher_quality.stop_words == ["ja", "on", "ning", "et"]  # the entry's defaults
    corpus = run_corpus(store, cfg, tmp_path / "work-corpus")
    docs = _parquet_rows(store, corpus.manifest)
    assert len(docs) >= 50 and {d["language"] for d in docs} == {"qet"}

    # instructions: translation tasks en -> qet from the demo bitext, all in the entry's own templates
    icfg = InstructionsConfig.model_validate({
        "name": "qet-mix", "language": "qet", "source_language": "en",
        "bitext": [{"name": "demo", "format": "moses", "paths": [str(REPO / "demo/instructions/bitext/demo.en"),
                                                                 str(REPO / "demo/instructions/bitext/demo.et")]}],
        "templates": {"p_target_instruction": 1.0, "p_has_input": 0.5},
        "decontamination": {"enabled": False},
        "mixture": {"seed": 1, "components": [{"name": "translation", "pool": "bitext"}]}})
    inst = run_instructions(store, icfg, tmp_path / "work-instructions", log=log)
    records = _parquet_rows(store, inst.manifest)
    assert len(records) >= 50  # the bitext survived cleaning: the script and LID checks know qet
    assert {r["instruction_language"] for r in records} == {"qet"}
    users = [r["messages"][0]["content"] for r in records]
    assert all(u.startswith("TEST ") for u in users)  # the entry's prompt templates
    assert any(u.startswith("TEST Testitõlge ingliskeelse tekstist testikeelse tekstiks. || ") for u in users)
    assert any(u.startswith("TEST Testitõlge testikeelse tekstiks: ") for u in users)

    # evaluate: XCOPA with the entry's connectives, Belebele and FLORES by its codes
    ecfg = EvaluateConfig.model_validate({
        "name": "qet", "models": [{"name": "tiny", "path": str(tiny_eval_model), "chat": False, "batch_size": 8}],
        "tasks": [
            {"name": "xcopa_qet", "kind": "xcopa", "data": str(REPO / "demo/eval/xcopa_et"), "language": "qet",
             "limit": 6},
            {"name": "belebele_qet", "kind": "belebele", "data": str(REPO / "demo/eval/belebele"), "language": "qet",
             "limit": 4},
            {"name": "flores_en-qet", "kind": "flores", "data": str(REPO / "demo/eval/flores/flores_demo.jsonl"),
             "direction": "en-qet", "limit": 3, "max_new_tokens": 4}],
        "bootstrap": {"samples": 50, "seed": 1}, "contamination": {"enabled": False}})
    report = run_evaluate(store, ecfg, tmp_path / "work-eval", log=log)
    scored = {(r["task"], r["metric"]) for r in report.manifest["rows"]}
    assert {("xcopa_qet", "acc"), ("belebele_qet", "acc"), ("flores_en-qet", "chrf")} <= scored
    by_task = {e["task"]: e["id"] for e in report.manifest["evals"]}
    samples = [json.loads(x) for x in store.local_path(f"{by_task['xcopa_qet']}/samples.jsonl")
               .read_text(encoding="utf-8").splitlines()]
    assert samples and all(s["prompt"].endswith((" kuna", " niisiis")) for s in samples)
    flores = json.loads(store.local_path(f"{by_task['flores_en-qet']}/samples.jsonl").read_text(encoding="utf-8")
                        .splitlines()[0])
    assert flores["prompt"].startswith("English: ") and "\nTestish:" in flores["prompt"]  # its English name
