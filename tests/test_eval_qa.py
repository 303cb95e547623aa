"""Extractive QA: EM / F1 follow the SQuAD v1.1 evaluation script's rules for English and MLQA's (Unicode
punctuation) for other languages, answer-in-output follows x-LLM's lower-cased containment,
and a QA task runs end to end on a tiny model (kit's Finnish TyDi QA when present, demo files always).

Expected values below are worked out by hand from the v1.1 script: normalize_answer = lower-case, delete
every ASCII punctuation character (string.punctuation), replace the whole words a/an/the by a space, split
on whitespace; F1 = 2PR/(P+R) over the multiset of normalised tokens; max over the gold answers.
answer_in_output (x-LLM eval/xquad.match.py): gold.lower() is a substring of prediction.lower().
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, SHARED_DATA

# (prediction, gold answers, EM, F1, answer_in_output) — reasoning in the comment of each case
CASES = [
    ("The Cat!", ["cat"], 1.0, 1.0, 1.0),  # lower + '!' removed + article 'the' removed -> "cat"
    ("a cat sat", ["the cat"], 0.0, 2 * 0.5 * 1.0 / 1.5, 0.0),  # "cat sat" vs "cat": P=1/2, R=1 -> 2/3; "the cat" not inside
    ("an apple, an orange", ["apple orange pear"], 0.0, 0.8, 0.0),  # P=2/2, R=2/3 -> 0.8; "apple orange pear" not inside
    ("anthem", ["the anthem"], 1.0, 1.0, 0.0),  # articles only as whole words: 'anthem' survives
    ("U.S.", ["US"], 1.0, 1.0, 0.0),  # punctuation deleted without a space: "us" == "us"; "us" not in "u.s."
    ("„Tere“", ["Tere"], 0.0, 0.0, 1.0),  # „ and “ are not ASCII punctuation: token "„tere“" != "tere"
    ("Vastus on Kuressaare linn.", ["Kuressaare linn"], 0.0, 2 * 0.5 * 1.0 / 1.5, 1.0),  # P=2/4, R=1
    ("cat cat", ["cat"], 0.0, 2 * 0.5 * 1.0 / 1.5, 1.0),  # counts clipped: 1 common of 2 predicted
    ("", ["x"], 0.0, 0.0, 0.0),  # empty prediction
    ("1632", ["1632. aastal", "1632"], 1.0, 1.0, 1.0),  # max over gold answers
    ("the", ["the"], 1.0, 0.0, 1.0),  # both normalise to "": EM 1, but v1.1 F1 has no common token -> 0
    ("Tallinn  ja\tTartu", ["tallinn ja tartu"], 1.0, 1.0, 0.0),  # whitespace collapsed for EM, not for containment
]


@pytest.mark.parametrize("pred,golds,em,f1,aio", CASES)
def test_squad_v11_rules_for_english(pred, golds, em, f1, aio):
    from llammas_core.evaluate.qa import score

    got = score(pred, golds, "en")
    assert got["em"] == em
    assert got["f1"] == pytest.approx(f1, abs=1e-12)
    assert got["answer_in_output"] == aio


def test_normalize_answer_matches_v11_order():
    from llammas_core.evaluate.qa import normalize_answer

    # punctuation goes before articles: "the-end" -> "theend" (no article left to drop)
    assert normalize_answer("The-End") == "theend"
    assert normalize_answer("A  (the)  Test.") == "test"


# MLQA's rule (mlqa_evaluation_v1.py): every Unicode punctuation character goes, articles only where MLQA
# lists them (not Estonian, not English "the" in an Estonian answer)
MLQA_CASES = [
    ("„Kalevipoeg“", ["Kalevipoeg"], "et", 1.0, 1.0),  # „ “ are Unicode punctuation (Ps/Pf)
    ("«Kalevipoeg»", ["Kalevipoeg"], None, 1.0, 1.0),  # no language given: MLQA's language-neutral rule
    ("Kalevipoeg — eepos…", ["kalevipoeg eepos"], "est_Latn", 1.0, 1.0),  # — and … are punctuation too
    ("the Tartu", ["Tartu"], "et", 0.0, 2 * 0.5 * 1.0 / 1.5),  # English articles are not dropped in Estonian
    ("Das Haus", ["Haus"], "de", 1.0, 1.0),  # MLQA's German articles
]


@pytest.mark.parametrize("pred,golds,lang,em,f1", MLQA_CASES)
def test_mlqa_unicode_punctuation_rule_for_other_languages(pred, golds, lang, em, f1):
    from llammas_core.evaluate.qa import qa_rule, score

    assert qa_rule(lang) == "mlqa" and qa_rule("en") == qa_rule("eng_Latn") == "squad"
    got = score(pred, golds, lang)
    assert (got["em"], got["f1"]) == (em, pytest.approx(f1))


def test_kalevipoeg_scores_one_under_the_estonian_rule_and_zero_under_squad():
    from llammas_core.evaluate.qa import score

    assert score("„Kalevipoeg“", ["Kalevipoeg"]) == {"em": 1.0, "f1": 1.0, "answer_in_output": 1.0}
    assert score("„Kalevipoeg“", ["Kalevipoeg"], "en")["em"] == 0.0  # SQuAD v1.1 drops ASCII punctuation only


@pytest.fixture(scope="module")
def loaded(tiny_eval_model):
    from llammas_core.evaluate.models import load_model
    from llammas_core.evaluate.spec import ModelSpec

    return load_model(ModelSpec(name="tiny", path=str(tiny_eval_model), chat=False, batch_size=4, device="cpu"))


def _sources():
    out = [("demo", REPO / "demo" / "eval" / "qa")]
    kit = SHARED_DATA / "qa_tydiqa_fi"
    if kit.is_dir():
        out.append(("kit", kit))
    return out


@pytest.mark.parametrize("num_fewshot", [0, 2])
def test_qa_task_end_to_end(loaded, tmp_path, num_fewshot):
    from llammas_core.evaluate.engine import run_task
    from llammas_core.evaluate.metrics import aggregate
    from llammas_core.evaluate.qa import score
    from llammas_core.evaluate.spec import TaskSpec

    for label, data in _sources():
        task = TaskSpec(name="qa", kind="qa", data=str(data), num_fewshot=num_fewshot, limit=6, max_new_tokens=8)
        res = run_task(loaded, task, tmp_path / label)
        assert 0 < len(res.samples) <= 6
        for s in res.samples:
            assert s["prompt"].endswith("\nAnswer:") and s["prompt"].count("Question:") == num_fewshot + 1
            assert {k: s[k] for k in ("em", "f1", "answer_in_output")} == score(s["generation"], s["reference"])
        for m in ("em", "f1", "answer_in_output"):
            assert res.metrics[m] == aggregate("qa", m, res.samples)
        rows = [json.loads(x) for x in (tmp_path / label / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [r["generation"] for r in rows] == [s["generation"] for s in res.samples]


def test_qa_bad_input(tmp_path):
    from llammas_core.errors import InputError
    from llammas_core.evaluate.engine import validate_task
    from llammas_core.evaluate.spec import TaskSpec

    f = tmp_path / "qa-test.json"
    f.write_text(json.dumps({"context": "c", "question": "q"}) + "\n")
    with pytest.raises(InputError, match=r"lacks field\(s\) \['answers'\]"):
        validate_task(TaskSpec(name="qa", kind="qa", data=str(f)))
    f.write_text(json.dumps({"context": "c", "question": "q", "answers": {"text": [], "answer_start": []}}) + "\n")
    with pytest.raises(InputError, match="no answer text"):
        validate_task(TaskSpec(name="qa", kind="qa", data=str(f)))
    f.write_text(json.dumps({"context": "c", "question": "q", "answers": {"text": ["c"], "answer_start": [0]}}) + "\n")
    with pytest.raises(InputError, match="few-shot file"):
        validate_task(TaskSpec(name="qa", kind="qa", data=str(f), num_fewshot=1))
    # SQuAD v1.1 nested JSON reads too
    nested = tmp_path / "squad.json"
    nested.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": "Tartu on linn.", "qas": [{"id": "1", "question": "Mis on Tartu?",
                                               "answers": [{"text": "linn", "answer_start": 9}]}]}]}]}))
    validate_task(TaskSpec(name="qa", kind="qa", data=str(nested)))


def test_qa_folder_reads_exactly_the_test_split(tmp_path):
    """A folder missing its test file fails, naming what is there: the machine-translated sibling
    `qa-test.gmt-en.json` (or the dev split) is never scored in its place."""
    from llammas_core.errors import InputError
    from llammas_core.evaluate.qa import qa_files
    from llammas_core.evaluate.spec import TaskSpec

    row = json.dumps({"context": "c", "question": "q", "answers": {"text": ["c"], "answer_start": [0]}}) + "\n"
    for name in ("qa-test.gmt-en.json", "qa-dev.json"):
        (tmp_path / name).write_text(row)
    task = TaskSpec(name="qa", kind="qa", data=str(tmp_path))
    with pytest.raises(InputError, match=r"no file for qa QA test file .*qa-test\.gmt-en\.json"):
        qa_files(task)
    (tmp_path / "qa-test.json").write_text(row)
    assert [p.name if p else None for p in qa_files(task)] == ["qa-test.json", "qa-dev.json"]
