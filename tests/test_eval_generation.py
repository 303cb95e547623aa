"""FLORES generation and scoring: BLEU / chrF++ / spBLEU equal the sacrebleu command line, bootstrap
statistics reproduce corpus scores on any subset, CSV-doubled quotes are un-escaped, batched generation
matches one-at-a-time, chat models use their template, few-shot sampling is seeded; and bad input
(model folders, chat without template, task files) fails clearly before any weights load."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llammas_core.errors import ConfigError, InputError
from tests.conftest import REPO, SHARED_DATA

SACREBLEU = str(Path(sys.executable).parent / "sacrebleu")
DEMO_FLORES = REPO / "demo" / "eval" / "flores" / "flores_demo.jsonl"


@pytest.fixture(scope="module")
def loaded(tiny_eval_model):
    from llammas_core.evaluate.models import load_model
    from llammas_core.evaluate.spec import ModelSpec

    return load_model(ModelSpec(name="tiny", path=str(tiny_eval_model), chat=False, batch_size=4, device="cpu"))


def _cli(hyps: list[str], refs: list[str], tmp: Path, *args: str, env: dict | None = None) -> list[dict]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "hyp.txt").write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    (tmp / "ref.txt").write_text("".join(r + "\n" for r in refs), encoding="utf-8")
    import os

    proc = subprocess.run([SACREBLEU, str(tmp / "ref.txt"), "-i", str(tmp / "hyp.txt"), "-w", "6", *args],
                          capture_output=True, text=True, check=True, env={**os.environ, **(env or {})})
    out = json.loads(proc.stdout)
    return out if isinstance(out, list) else [out]


def _flores_sources(tmp: Path) -> list[tuple[str, str]]:
    out = [("demo", str(DEMO_FLORES))]
    kit = SHARED_DATA / "flores_sib200" / "flores200_sib_subset.jsonl"
    if kit.is_file():
        out.append(("kit", str(kit)))
    return out


@pytest.mark.parametrize("direction", ["en-et", "et-en"])
def test_flores_bleu_chrf_equal_sacrebleu_cli(loaded, tmp_path, direction):
    from llammas_core.evaluate.engine import run_task
    from llammas_core.evaluate.spec import TaskSpec

    for label, data in _flores_sources(tmp_path):
        task = TaskSpec(name=f"flores_{direction}", kind="flores", data=data, direction=direction, limit=8,
                        num_fewshot=2, max_new_tokens=24)
        res = run_task(loaded, task, tmp_path / label / direction)
        hyps = [s["generation"] for s in res.samples]
        refs = [s["reference"] for s in res.samples]
        assert len(hyps) == len(refs) == (6 if label == "demo" else 8)
        bleu, chrf = _cli(hyps, refs, tmp_path / label / "cli", "-m", "bleu", "chrf", "--chrf-word-order", "2")
        assert res.metrics["bleu"] == pytest.approx(bleu["score"], abs=1e-6)
        assert res.metrics["chrf"] == pytest.approx(chrf["score"], abs=1e-6)
        assert res.signatures["bleu"] == bleu["signature"] and res.signatures["chrf"] == chrf["signature"]
        assert "nw:2" in res.signatures["chrf"]  # chrF++, not chrF
        assert res.skipped["spbleu"].startswith("no local flores200") and "comet" in res.skipped
        written = json.loads((tmp_path / label / direction / "results.json").read_text(encoding="utf-8"))
        assert written["signatures"]["bleu"] == bleu["signature"]
        assert written["results"][task.name]["chrf"] == res.metrics["chrf"]


def _noisy(refs: list[str], seed: int) -> list[str]:
    """Hypotheses that share part of their reference (so BLEU is not 0): drop/shuffle some words."""
    rng = random.Random(seed)
    out = []
    for r in refs:
        words = r.split()
        keep = [w for w in words if rng.random() > 0.3] or words[:1]
        if len(keep) > 3 and rng.random() < 0.5:
            i = rng.randrange(len(keep) - 1)
            keep[i], keep[i + 1] = keep[i + 1], keep[i]
        out.append(" ".join(keep))
    return out


def _pairs() -> list[tuple[str, str]]:
    kit = SHARED_DATA / "flores_sib200" / "flores200_sib_subset.jsonl"
    path = kit if kit.is_file() else DEMO_FLORES
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()][:60]
    from llammas_core.evaluate.flores import unescape_csv_quotes

    return [(r["eng_Latn"], unescape_csv_quotes(r["est_Latn"])) for r in rows]


def test_aggregate_and_stats_fast_path_equal_cli_on_subsets(tmp_path):
    """aggregate() over any subset (with repeats, as in a bootstrap resample) == sacrebleu CLI on it, and
    summed per-sentence statistics give the same number."""
    from llammas_core.evaluate.metrics import aggregate, score_from_stats, sentence_stats, sufficient_stats

    refs = [et for _, et in _pairs()]
    hyps = _noisy(refs, 0)
    samples = [{"generation": h, "reference": r, "stats": {m: sentence_stats(m, [h], [r])[0] for m in ("bleu", "chrf")}}
               for h, r in zip(hyps, refs)]
    rng = random.Random(7)
    for trial in range(3):
        idx = [rng.randrange(len(samples)) for _ in range(len(samples))]
        sub = [samples[i] for i in idx]
        bleu, chrf = _cli([s["generation"] for s in sub], [s["reference"] for s in sub], tmp_path / str(trial),
                          "-m", "bleu", "chrf", "--chrf-word-order", "2")
        assert bleu["score"] > 5  # a real, non-degenerate comparison
        for metric, cli in (("bleu", bleu), ("chrf", chrf)):
            assert aggregate("flores", metric, sub) == pytest.approx(cli["score"], abs=1e-6)
            no_stats = [{"generation": s["generation"], "reference": s["reference"]} for s in sub]
            assert aggregate("flores", metric, no_stats) == pytest.approx(cli["score"], abs=1e-6)
            S = sufficient_stats("flores", metric, samples)
            assert score_from_stats("flores", metric, S[idx].sum(0)) == pytest.approx(cli["score"], abs=1e-6)
    # per-item metrics: mean over the subset
    acc = [{"acc": float(i % 3 == 0)} for i in range(9)]
    assert aggregate("xcopa", "acc", acc) == pytest.approx(3 / 9)
    assert score_from_stats("xcopa", "acc", sufficient_stats("xcopa", "acc", acc).sum(0), count=9) == pytest.approx(3 / 9)


def test_spbleu_with_checked_local_spm_equals_cli(tmp_path, monkeypatch):
    """spBLEU uses the supplied SentencePiece model (sha256 checked) and never downloads; the result equals
    `sacrebleu -tok flores200` pointed at the same model. A wrong sha256 is an error."""
    import sentencepiece as spm
    from sacrebleu.tokenizers import tokenizer_spm

    from llammas_core.evaluate.flores import sha256_of, spm_ready
    from llammas_core.evaluate.metrics import aggregate, sentence_stats
    from llammas_core.evaluate.spec import TaskSpec

    pairs = _pairs()
    texts = [t for p in pairs for t in p]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_prefix=str(tmp_path / "tiny_spm"),
                                   vocab_size=200, character_coverage=1.0, minloglevel=2)
    model = tmp_path / "tiny_spm.model"
    sacre_home = tmp_path / "sacrebleu_home"
    monkeypatch.setattr(tokenizer_spm, "SACREBLEU_DIR", str(sacre_home))
    bad = TaskSpec(name="f", kind="flores", data=str(DEMO_FLORES), direction="en-et", spm_model=str(model),
                   spm_sha256="0" * 64)
    with pytest.raises(InputError, match="sha256"):
        spm_ready(bad)
    good = bad.model_copy(update={"spm_sha256": sha256_of(model)})
    assert spm_ready(good) is None
    assert (sacre_home / "models" / "flores200sacrebleuspm").is_file()
    tokenizer_spm.TokenizerSPM.__call__.cache_clear() if hasattr(tokenizer_spm.TokenizerSPM.__call__, "cache_clear") else None
    refs = [et for _, et in pairs]
    hyps = _noisy(refs, 1)
    samples = [{"generation": h, "reference": r, "stats": {"spbleu": sentence_stats("spbleu", [h], [r])[0]}}
               for h, r in zip(hyps, refs)]
    (cli,) = _cli(hyps, refs, tmp_path / "cli", "-m", "bleu", "-tok", "flores200",
                  env={"SACREBLEU": str(sacre_home)})
    assert "tok:flores200" in cli["signature"]
    assert aggregate("flores", "spbleu", samples) == pytest.approx(cli["score"], abs=1e-6)
    (plain,) = _cli(hyps, refs, tmp_path / "cli13a", "-m", "bleu")
    assert plain["score"] != pytest.approx(cli["score"], abs=1e-3)  # the SPM tokenizer really was used


def test_csv_doubled_quotes_unescaped(loaded, tmp_path):
    from llammas_core.evaluate.flores import load_pairs, unescape_csv_quotes
    from llammas_core.evaluate.spec import TaskSpec

    assert unescape_csv_quotes('"""Meil on hiired,"" lisas ta."') == '"Meil on hiired," lisas ta.'
    assert unescape_csv_quotes('"Enne ""Simpsoneid"" oli ta."') == 'Enne "Simpsoneid" oli ta.'
    assert unescape_csv_quotes('Ta ütles "tere".') == 'Ta ütles "tere".'  # not CSV-quoted: untouched
    assert unescape_csv_quotes('"tsitaat"') == '"tsitaat"'  # quoted but nothing doubled: untouched
    scored, _ = load_pairs(TaskSpec(name="f", kind="flores", data=str(DEMO_FLORES), direction="en-et"))
    assert scored[0]["ref"] == '"Oleme tulemusega rahul," ütles treener.'
    kit = SHARED_DATA / "flores_sib200" / "flores200_sib_subset.jsonl"
    if kit.is_file():
        scored, pool = load_pairs(TaskSpec(name="f", kind="flores", data=str(kit), direction="en-et"))
        rows = scored + pool
        assert len(rows) == 1004 and not any('""' in p["ref"] for p in rows)
        raw = [json.loads(x)["est_Latn"] for x in kit.read_text(encoding="utf-8").splitlines()]
        assert 10 <= sum('""' in r for r in raw) <= 20


def test_batched_generation_equals_one_at_a_time(loaded):
    """Left-padded batches generate the same greedy text as single prompts."""
    from llammas_core.evaluate.flores import build_prompt, load_pairs
    from llammas_core.evaluate.generation import generate
    from llammas_core.evaluate.spec import TaskSpec

    scored, pool = load_pairs(TaskSpec(name="f", kind="flores", data=str(DEMO_FLORES), direction="et-en"))
    prompts = [build_prompt(p, pool[: 1 + i % 3], "est_Latn", "eng_Latn", chat=False) for i, p in enumerate(scored)]
    batched = generate(loaded, prompts, max_new_tokens=12, batch_size=len(prompts))
    single = generate(loaded, prompts, max_new_tokens=12, batch_size=1)
    assert [b["text"] for b in batched] == [s["text"] for s in single]
    assert [b["n_tokens"] for b in batched] == [s["n_tokens"] for s in single]
    assert all(1 <= b["n_tokens"] <= 12 and "\n" not in b["text"] for b in batched)


def test_chat_model_uses_its_template_and_fewshot_is_seeded(tiny_eval_model, tmp_path):
    from llammas_core.evaluate.engine import run_task
    from llammas_core.evaluate.flores import load_pairs, sample_shots
    from llammas_core.evaluate.models import load_model
    from llammas_core.evaluate.spec import ModelSpec, TaskSpec

    chat = load_model(ModelSpec(name="sft", path=str(tiny_eval_model), chat="auto", device="cpu"))
    assert chat.is_chat  # the tiny tokenizer ships a chat template
    task = TaskSpec(name="f", kind="flores", data=str(DEMO_FLORES), direction="en-et", num_fewshot=1,
                    limit=2, max_new_tokens=8)
    res = run_task(chat, task, tmp_path)
    p = res.samples[0]["prompt"]
    assert p.startswith("<s><|user|>\nTranslate the following text from English into Estonian.")
    assert "<|assistant|>\n" in p and p.endswith("<|assistant|>\n")  # one example turn + generation prompt
    scored, pool = load_pairs(task.model_copy(update={"num_fewshot": 3}))
    a = [sample_shots(pool, 3, 1234, str(x["id"]), x["src"]) for x in scored]
    b = [sample_shots(pool, 3, 1234, str(x["id"]), x["src"]) for x in scored]
    c = [sample_shots(pool, 3, 99, str(x["id"]), x["src"]) for x in scored]
    assert a == b and a != c
    # never the scored sentence itself, even when the pool is the scored set
    for x in scored:
        assert all(s["src"] != x["src"] for s in sample_shots(scored, 3, 1, str(x["id"]), x["src"]))


# ---------------------------------------------------------------- bad input, before any weights load


def test_model_folder_without_weights(tiny_eval_model, tmp_path):
    from llammas_core.evaluate.models import validate_model
    from llammas_core.evaluate.spec import ModelSpec

    folder = tmp_path / "noweights"
    shutil.copytree(tiny_eval_model, folder)
    for f in folder.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(InputError, match="holds no weights"):
        validate_model(ModelSpec(name="m", path=str(folder)))
    with pytest.raises(InputError, match="not found|no config.json|not a folder"):
        validate_model(ModelSpec(name="m", path=str(tmp_path / "missing" / "model")))


def test_chat_requested_without_template(tiny_eval_model, tmp_path):
    from llammas_core.evaluate.models import load_model, validate_model
    from llammas_core.evaluate.spec import ModelSpec

    folder = tmp_path / "notemplate"
    shutil.copytree(tiny_eval_model, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    for f in folder.glob("*.safetensors"):  # a load would fail loudly if it got past validation
        f.write_bytes(b"not weights")
    with pytest.raises(ConfigError, match="no chat template"):
        validate_model(ModelSpec(name="sft", path=str(folder), chat=True))
    with pytest.raises(ConfigError, match="no chat template"):
        load_model(ModelSpec(name="sft", path=str(folder), chat=True))
    validate_model(ModelSpec(name="base", path=str(folder), chat="auto"))  # auto: fine, just not chat


def test_task_files_with_missing_fields_or_no_items(tmp_path):
    from llammas_core.evaluate.engine import validate_task
    from llammas_core.evaluate.spec import TaskSpec

    xc = tmp_path / "xcopa.jsonl"
    xc.write_text(json.dumps({"premise": "Mees avas ukse.", "choice1": "a", "question": "cause", "label": 0}) + "\n")
    with pytest.raises(InputError, match=r"item 0 lacks field\(s\) \['choice2'\]"):
        validate_task(TaskSpec(name="x", kind="xcopa", data=str(xc)))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="empty task"):
        validate_task(TaskSpec(name="x", kind="xcopa", data=str(empty)))
    bb = tmp_path / "bb-test.csv"
    bb.write_text("link,flores_passage,question,mc_answer1,mc_answer2,mc_answer3,mc_answer4\nx,p,q,a,b,c,d\n")
    with pytest.raises(InputError, match="correct_answer_num"):
        validate_task(TaskSpec(name="b", kind="belebele", data=str(bb)))
    fl = tmp_path / "fl.jsonl"
    fl.write_text(json.dumps({"eng_Latn": "Hello."}) + "\n")
    with pytest.raises(InputError, match="lacks 'eng_Latn' or 'est_Latn'"):
        validate_task(TaskSpec(name="f", kind="flores", data=str(fl), direction="en-et"))
    with pytest.raises(InputError, match="needs a dev split"):
        validate_task(TaskSpec(name="f", kind="flores", data=str(DEMO_FLORES), direction="en-et", num_fewshot=5))
    with pytest.raises(InputError, match="not found"):
        validate_task(TaskSpec(name="f", kind="flores", data=str(tmp_path / "nope.jsonl"), direction="en-et"))
    with pytest.raises(ValueError, match="needs direction"):
        TaskSpec(name="f", kind="flores", data=str(DEMO_FLORES))
    with pytest.raises(ValueError, match="needs lm_eval_task"):
        TaskSpec(name="l", kind="lm_eval")


_LM_EVAL_OFFLINE = """
import sys
from pathlib import Path
from llammas_core.errors import ConfigError, InputError
from llammas_core.evaluate.engine import run_task, validate_task
from llammas_core.evaluate.models import load_model
from llammas_core.evaluate.spec import ModelSpec, TaskSpec
try:
    validate_task(TaskSpec(name="l", kind="lm_eval", lm_eval_task="no_such_task_xyz"))
except ConfigError as e:
    print("UNKNOWN:", e)
task = TaskSpec(name="l", kind="lm_eval", lm_eval_task="xcopa_et", limit=2)
validate_task(task)  # a real lm-eval task name
lm = load_model(ModelSpec(name="t", path=sys.argv[1], chat=False, device="cpu"))
try:
    run_task(lm, task, Path(sys.argv[2]))
except InputError as e:
    print("NODATA:", e)
"""


@pytest.mark.slow
def test_lm_eval_task_by_name_errors_clearly_offline(tiny_eval_model, tmp_path):
    """kind lm_eval: an unknown name is a ConfigError; a real task whose hub data is not available offline
    is an InputError saying so (lm-eval's task index takes ~20 s to build, hence slow)."""
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", _LM_EVAL_OFFLINE, str(tiny_eval_model), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "UNKNOWN: task l: lm-eval knows no task or group 'no_such_task_xyz'" in proc.stdout
    assert "NODATA: task l: lm-eval could not load the data" in proc.stdout
    assert not (tmp_path / "out" / "results.json").exists()


# ---------------------------------------------------------------- store URIs (stage manifests, data)


def _model_stage(store, tiny_eval_model, work: Path, drop_weights: bool = False):
    from llammas_core.stage import run_stage

    def body(ctx):
        shutil.copytree(tiny_eval_model, ctx.out_dir / "model")
        if drop_weights:
            for f in (ctx.out_dir / "model").glob("*.safetensors"):
                f.unlink()
        return {"model": "model"}

    return run_stage(store, "tiny-base", {"drop": drop_weights}, [], body, work, log=lambda *_: None)


def test_model_and_data_from_store_uris(tiny_eval_model, tmp_path, s3_endpoint, monkeypatch):
    """A stage manifest URI (local store and S3) resolves to its model/ folder (S3: downloaded, sha256
    verified against the manifest); evaluation data given as an s3:// folder URI is fetched to a local cache."""
    from llammas_core.evaluate.engine import run_task, validate_task
    from llammas_core.evaluate.models import load_model, validate_model
    from llammas_core.evaluate.spec import ModelSpec, TaskSpec
    from llammas_core.store import open_store

    monkeypatch.setenv("LLAMMAS_EVAL_CACHE", str(tmp_path / "cache"))
    local = _model_stage(open_store(str(tmp_path / "store")), tiny_eval_model, tmp_path / "w1")
    lm = load_model(ModelSpec(name="base", path=local.manifest_uri, chat=False, device="cpu"))
    assert lm.identity == local.manifest["id"] and Path(lm.local_path).parent.name == local.manifest["id"].split("/")[1]

    s3 = open_store("s3://llammas-test/eval-store", endpoint_url=s3_endpoint)
    remote = _model_stage(s3, tiny_eval_model, tmp_path / "w2")
    assert remote.manifest_uri.startswith("s3://")
    lm_s3 = load_model(ModelSpec(name="base", path=remote.manifest_uri, chat=False, device="cpu"))
    assert str(tmp_path / "cache") in lm_s3.local_path
    no_w = _model_stage(s3, tiny_eval_model, tmp_path / "w3", drop_weights=True)
    with pytest.raises(InputError, match="holds no weights"):
        validate_model(ModelSpec(name="cpt", path=no_w.manifest_uri))

    for f in sorted((REPO / "demo" / "eval" / "xcopa_et").iterdir()):
        s3.put_file(f, f"data/xcopa_et/{f.name}")
    task = TaskSpec(name="xcopa_et", kind="xcopa", data="s3://llammas-test/eval-store/data/xcopa_et", limit=4)
    validate_task(task)
    res = run_task(lm_s3, task, tmp_path / "out")
    local_res = run_task(lm, task.model_copy(update={"data": str(REPO / "demo" / "eval" / "xcopa_et")}), tmp_path / "o2")
    assert [s["loglikelihoods"] for s in res.samples] == [s["loglikelihoods"] for s in local_res.samples]
    with pytest.raises(InputError, match="not found"):
        validate_task(task.model_copy(update={"data": "s3://llammas-test/eval-store/data/nothing"}))
