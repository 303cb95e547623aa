"""Extractive QA in SQuAD format: EM and F1 with each language's normalisation, and x-LLM's answer-in-output.

EM/F1 (max over the gold answers; F1 over the bag of normalised tokens) normalise per language, chosen by
`qa_rule(language)`:
- "squad" (English): the official SQuAD v1.1 evaluate script: lower-case, drop ASCII punctuation
  (string.punctuation), drop the articles a/an/the, collapse whitespace;
- "mlqa" (every other language, and a task without a language): MLQA's evaluation script
  (mlqa_evaluation_v1.py), as lm-eval's MLQA/TyDiQA utilities: lower-case, drop every Unicode punctuation
  character (category P*) and string.punctuation, drop the language's articles where MLQA lists them,
  collapse whitespace. So „Kalevipoeg“ equals Kalevipoeg.
The rule and the articles of each language come from the language registry (llammas_core.languages).
answer_in_output is x-LLM's `eval/xquad.match.py` accuracy, unchanged in every language: 1 when a gold
answer, lower-cased, is a substring of the lower-cased output (no other normalisation).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Callable, Literal

from llammas_core.errors import InputError
from llammas_core.evaluate.datafiles import localize, pick_exact, read_records, require_fields
from llammas_core.evaluate.spec import TaskSpec

QARule = Literal["squad", "mlqa"]


def _normalizer(language: str | None) -> Callable[[str], str]:
    """The language registry's answer normaliser (languages.qa); no language, or one the registry does not
    know: MLQA's punctuation rule without articles (language-neutral)."""
    from llammas_core.languages import find, qa_normalizer
    from llammas_core.languages.qa import mlqa_normalizer

    if language and find(language) is not None:
        return qa_normalizer(language)
    return mlqa_normalizer(None, "whitespace")


def qa_rule(language: str | None) -> QARule:
    """The EM/F1 rule of a task language, from the language registry: SQuAD v1.1 for English, MLQA's
    for the rest (and for a task without a language)."""
    from llammas_core.languages import find

    lang = find(language) if language else None
    return "squad" if lang is not None and lang.qa.rule == "squad" else "mlqa"


def normalize_answer(s: str, language: str | None = "en") -> str:
    """SQuAD v1.1 for English (lower, ASCII punctuation, articles, whitespace; the script's order), MLQA's
    rule otherwise (lower, Unicode punctuation, the language's articles, whitespace)."""
    return _normalizer(language)(s)


def f1_score(prediction: str, ground_truth: str, language: str | None = "en") -> float:
    pred = normalize_answer(prediction, language).split()
    gold = normalize_answer(ground_truth, language).split()
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, ground_truth: str, language: str | None = "en") -> float:
    return float(normalize_answer(prediction, language) == normalize_answer(ground_truth, language))


def answer_in_output(prediction: str, ground_truth: str, language: str | None = None) -> float:
    """x-LLM's xquad.match.py: the lower-cased gold answer is a substring of the lower-cased output."""
    gold = ground_truth.strip().lower()
    return float(bool(gold) and gold in prediction.lower())


def score(prediction: str, answers: list[str], language: str | None = None) -> dict[str, float]:
    """Max over gold answers, per metric (as SQuAD's metric_max_over_ground_truths); `language` picks
    the EM/F1 normalisation (`qa_rule`; none given: MLQA's, language-neutral Unicode punctuation)."""
    fns: tuple[tuple[str, Callable[..., float]], ...] = (
        ("em", exact_match), ("f1", f1_score), ("answer_in_output", answer_in_output))
    return {name: max(fn(prediction, a, language) for a in answers) for name, fn in fns}


def rule_signature(language: str | None) -> str:
    """How a task was scored, in words, for the report's signatures."""
    if qa_rule(language) == "squad":
        norm = "SQuAD v1.1 normalisation (lower, ASCII punctuation, articles a/an/the, whitespace)"
    else:
        norm = "MLQA normalisation (lower, all Unicode punctuation, the language's articles, whitespace)"
    return (f"EM/F1: {norm}, language {language or 'unspecified'}; answer_in_output: x-LLM's lower-cased "
            "containment of a gold answer in the output")


QA_FIELDS = ["context", "question", "answers"]


def _answers(row: dict) -> list[str]:
    a = row["answers"]
    texts = a.get("text") if isinstance(a, dict) else [x["text"] if isinstance(x, dict) else x for x in a]
    return [t for t in (texts or []) if isinstance(t, str)]


def qa_files(task: TaskSpec) -> tuple[Path, Path | None]:
    data = localize(task.data)
    if data.is_dir():  # the split name right before the extension: `qa-test.gmt-en.json` is never the test file
        test = pick_exact(data, [r"(?:.+[-_.])?test\.jsonl?"], f"{task.name} QA test file")
        dev = pick_exact(data, [r"(?:.+[-_.])?dev\.jsonl?", r"(?:.+[-_.])?train\.jsonl?"],
                         f"{task.name} few-shot file", required=False)
    else:
        test = data
        sib = test.with_name(test.name.replace("test", "dev"))
        dev = sib if sib != test and sib.is_file() else None
    if task.fewshot_data:
        dev = localize(task.fewshot_data)
    if dev is not None and dev.resolve() == test.resolve():
        dev = None
    return test, dev


def load_items(task: TaskSpec) -> tuple[list[dict], list[dict]]:
    """(scored items, few-shot pool); every item has context, question and >= 1 answer text."""
    test, dev = qa_files(task)
    rows = read_records(test)
    require_fields(rows, QA_FIELDS, f"task {task.name} ({test})")
    for i, r in enumerate(rows):
        if not _answers(r):
            raise InputError(f"task {task.name} ({test}): item {i} has no answer text")
    pool = read_records(dev) if dev is not None else []
    if pool:
        require_fields(pool, QA_FIELDS, f"task {task.name} few-shot ({dev})")
    if task.num_fewshot and len(pool) < task.num_fewshot:
        raise InputError(f"task {task.name}: {task.num_fewshot}-shot needs a few-shot file with at least "
                         f"{task.num_fewshot} items (fewshot_data or a *dev* file beside the data); found {len(pool)}")
    if task.limit:
        rows = rows[: task.limit]
    return rows, pool


def _block(row: dict, with_answer: bool) -> str:
    text = f"{row['context'].strip()}\nQuestion: {row['question'].strip()}\nAnswer:"
    return text + (f" {_answers(row)[0]}" if with_answer else "")


_INSTRUCTION = "Answer the question with a short span copied from the passage."


def build_prompt(row: dict, shots: list[dict], chat: bool):
    if not chat:
        return "\n\n".join([_block(s, True) for s in shots] + [_block(row, False)])
    msgs = []
    for s in shots:
        msgs += [{"role": "user", "content": f"{_INSTRUCTION}\n\n{_block(s, False)}"},
                 {"role": "assistant", "content": _answers(s)[0]}]
    return msgs + [{"role": "user", "content": f"{_INSTRUCTION}\n\n{_block(row, False)}"}]


def sample_shots(pool: list[dict], k: int, seed: int, key: str, exclude_question: str) -> list[dict]:
    """k examples drawn with a per-item seeded RNG (stable under `limit`), never the scored item."""
    if not k:
        return []
    cands = [p for p in pool if p["question"] != exclude_question]
    return random.Random(f"{seed}:{key}").sample(cands, min(k, len(cands)))


def run_qa(loaded, task: TaskSpec) -> dict:
    from llammas_core.evaluate.generation import generate

    rows, pool = load_items(task)
    prompts = [build_prompt(r, sample_shots(pool, task.num_fewshot, task.fewshot_seed, str(r.get("id", i)),
                                            r["question"]), loaded.is_chat) for i, r in enumerate(rows)]
    gens = generate(loaded, prompts, max_new_tokens=task.max_new_tokens, num_beams=task.num_beams,
                    do_sample=task.do_sample, stop_at_newline=not loaded.is_chat)
    samples = []
    for i, (r, g) in enumerate(zip(rows, gens)):
        text = g["text"] if not loaded.is_chat else g["text"].strip()
        golds = _answers(r)
        samples.append({"doc_id": i, "id": r.get("id"), "prompt": g["prompt_text"], "generation": text,
                        "reference": golds, "n_tokens": g["n_tokens"], **score(text, golds, task.language)})
    return {"samples": samples, "signatures": {"qa": rule_signature(task.language)}}


__all__ = ["qa_rule", "rule_signature", "normalize_answer", "f1_score", "exact_match", "answer_in_output", "score", "load_items", "run_qa"]
