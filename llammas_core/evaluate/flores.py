"""FLORES translation (en->et, et->en, ...): batched generation, scored with sacrebleu BLEU and chrF++.

Own code rather than lm-eval: lm-eval's generate_until tasks score with per-sample metric functions and
report no sacrebleu signatures; here the corpus scores and signatures come straight from sacrebleu,
per-sentence sufficient statistics are kept for bootstrap (see metrics.py), and base vs chat prompting is
chosen per model. spBLEU (flores200 SPM) only with a local model whose sha256 matches; COMET only through
a subprocess with a local checkpoint (unbabel-comet needs transformers<5), else reported as skipped.

Data: a JSONL with one field per FLORES code (eng_Latn, est_Latn, ...; the data kit's
flores200_sib_subset.jsonl: rows with flores_split=devtest are scored, dev rows are the few-shot pool),
or a folder with parallel/<split>.<code> line-aligned files (devtest scored, dev few-shot).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from pathlib import Path

from llammas_core.errors import InputError
from llammas_core.evaluate.datafiles import localize, read_records
from llammas_core.evaluate.spec import TaskSpec
from llammas_core.languages import english_name, flores_code


def code(short: str) -> str:
    """FLORES-200 code of a registry language ('et' -> 'est_Latn'); other codes are FLORES codes already."""
    return flores_code(short)


def unescape_csv_quotes(text: str) -> str:
    """Undo CSV quoting left in some FLORES copies (SIB-200's pandas TSV): a field wrapped in quotes with
    inner quotes doubled, e.g. '\"\"\"Meil on ...,\"\" lisas ta.\"' -> '\"Meil on ...,\" lisas ta.'"""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and '""' in text:
        inner = text[1:-1]
        if '"' not in inner.replace('""', ""):  # every inner quote is doubled: real CSV quoting
            return inner.replace('""', '"')
    return text


def _pairs_from_rows(rows: list[dict], src: str, tgt: str, where: str) -> list[dict]:
    out = []
    for i, r in enumerate(rows):
        if src not in r or tgt not in r:
            raise InputError(f"{where}: item {i} lacks {src!r} or {tgt!r} (fields: {sorted(r)[:8]})")
        out.append({"id": r.get("flores_line", r.get("id", i)), "split": r.get("flores_split"),
                    "src": unescape_csv_quotes(str(r[src]).strip()), "ref": unescape_csv_quotes(str(r[tgt]).strip())})
    return out


def _pairs_from_folder(folder: Path, split: str, src: str, tgt: str) -> list[dict]:
    base = folder / "parallel" if (folder / "parallel").is_dir() else folder
    a, b = base / f"{split}.{src}", base / f"{split}.{tgt}"
    if not a.is_file() or not b.is_file():
        return []
    xs = a.read_text(encoding="utf-8").splitlines()
    ys = b.read_text(encoding="utf-8").splitlines()
    if len(xs) != len(ys):
        raise InputError(f"{a} and {b} are not line-aligned ({len(xs)} vs {len(ys)} lines)")
    ids_file = base / f"{split}.ids"
    ids = ids_file.read_text().split() if ids_file.is_file() else list(range(1, len(xs) + 1))
    return [{"id": n, "split": split, "src": unescape_csv_quotes(x.strip()), "ref": unescape_csv_quotes(y.strip())}
            for n, x, y in zip(ids, xs, ys)]


def _load(path: Path, src: str, tgt: str, where: str) -> tuple[list[dict], list[dict]]:
    """(scored, pool) from a JSONL or folder; split by flores_split when present."""
    if path.is_dir():
        jsonl = sorted(path.glob("*.jsonl"))
        if not (path / "parallel").is_dir() and len(jsonl) == 1:
            return _load(jsonl[0], src, tgt, where)
        scored = _pairs_from_folder(path, "devtest", src, tgt)
        pool = _pairs_from_folder(path, "dev", src, tgt)
        if not scored:
            raise InputError(f"{where}: {path} has no devtest.{src}/devtest.{tgt} (or parallel/) files")
        return scored, pool
    pairs = _pairs_from_rows(read_records(path), src, tgt, f"{where} ({path})")
    if any(p["split"] for p in pairs):
        return [p for p in pairs if p["split"] == "devtest"], [p for p in pairs if p["split"] == "dev"]
    return pairs, []


def load_pairs(task: TaskSpec) -> tuple[list[dict], list[dict]]:
    """(scored pairs, few-shot pool), texts un-escaped; errors for missing fields, empty tasks, short pools."""
    s, t = (code(x) for x in task.direction.split("-"))
    data = localize(task.data)
    scored, pool = _load(data, s, t, f"task {task.name}")
    if task.fewshot_data:
        fs, fp = _load(localize(task.fewshot_data), s, t, f"task {task.name} few-shot")
        pool = fp or fs
    if not scored:
        raise InputError(f"task {task.name}: no sentence pairs to score in {data} (empty file or no devtest rows)")
    empty = [p["id"] for p in scored if not p["src"] or not p["ref"]]
    if empty:
        raise InputError(f"task {task.name}: empty source/reference at items {empty[:5]}")
    if task.num_fewshot and len(pool) < task.num_fewshot + 1:
        raise InputError(f"task {task.name}: {task.num_fewshot}-shot needs a dev split/few-shot file "
                         f"(fewshot_data or flores_split=dev rows / parallel/dev.*); found {len(pool)} pairs")
    if task.limit:
        scored = scored[: task.limit]
    return scored, pool


def build_prompt(pair: dict, shots: list[dict], src: str, tgt: str, chat: bool):
    """Base models: 'English: ...\\nEstonian: ...' few-shot blocks; chat models: the instruction as a user
    turn (few-shot examples as earlier user/assistant turns) for the tokenizer's chat template."""
    sn, tn = english_name(src), english_name(tgt)  # registry or FLORES codes
    if not chat:
        blocks = [f"{sn}: {s['src']}\n{tn}: {s['ref']}" for s in shots]
        return "\n\n".join(blocks + [f"{sn}: {pair['src']}\n{tn}:"])
    ask = f"Translate the following text from {sn} into {tn}.\n{sn}: {{}}\n{tn}:"
    msgs = []
    for s in shots:
        msgs += [{"role": "user", "content": ask.format(s["src"])}, {"role": "assistant", "content": s["ref"]}]
    return msgs + [{"role": "user", "content": ask.format(pair["src"])}]


def sample_shots(pool: list[dict], k: int, seed: int, key: str, src_text: str) -> list[dict]:
    """k pool pairs from a per-item seeded RNG (stable under `limit`); never the scored sentence itself."""
    if not k:
        return []
    cands = [p for p in pool if p["src"] != src_text]
    return random.Random(f"{seed}:{key}").sample(cands, min(k, len(cands)))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def spm_ready(task: TaskSpec) -> str | None:
    """Place the supplied flores200 SPM model where sacrebleu looks for it (so it never downloads);
    returns None when ready, else the reason spBLEU is skipped."""
    if not task.spm_model:
        return "no local flores200 SentencePiece model supplied (spm_model)"
    src = Path(task.spm_model).expanduser()
    if not src.is_file():
        raise InputError(f"task {task.name}: spm_model {src} not found")
    got = sha256_of(src)
    if got != task.spm_sha256.lower():
        raise InputError(f"task {task.name}: spm_model sha256 {got} != expected {task.spm_sha256}")
    from sacrebleu.tokenizers import tokenizer_spm

    # The exact path sacrebleu's TokenizerSPM loads from (it downloads only when this file is missing).
    dest = Path(tokenizer_spm.SACREBLEU_DIR) / "models" / Path(tokenizer_spm.SPM_MODELS["flores200"]["url"]).name
    if dest.is_file():
        if sha256_of(dest) != got:
            raise InputError(f"{dest} exists with another sha256 than spm_model; remove it or point SACREBLEU "
                             "at another folder")
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return None


def comet_scores(task: TaskSpec, srcs: list[str], hyps: list[str], refs: list[str], work: Path) -> tuple[dict, str | None]:
    """({"comet": corpus, "per_item": [...]}, None) or ({}, reason skipped). Runs unbabel-comet in a subprocess."""
    if not task.comet_model:
        return {}, "no comet_model given"
    model = Path(task.comet_model).expanduser()
    if not model.exists():
        return {}, f"comet_model {model} not found"
    py = task.comet_python or "python"
    work.mkdir(parents=True, exist_ok=True)
    inp = work / "comet_input.json"
    inp.write_text(json.dumps([{"src": s, "mt": h, "ref": r} for s, h, r in zip(srcs, hyps, refs)]), encoding="utf-8")
    code_ = ("import json,sys\nfrom comet import load_from_checkpoint\n"
             "d=json.load(open(sys.argv[1]));m=load_from_checkpoint(sys.argv[2])\n"
             "o=m.predict(d,batch_size=16,gpus=0,progress_bar=False)\n"
             "print(json.dumps({'system':float(o.system_score),'scores':[float(x) for x in o.scores]}))")
    ckpt = model if model.is_file() else next(iter(sorted(model.rglob("*.ckpt"))), model)
    try:
        proc = subprocess.run([py, "-c", code_, str(inp), str(ckpt)], capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {}, f"COMET subprocess failed: {e}"
    if proc.returncode != 0:
        return {}, f"COMET subprocess failed: {proc.stderr.strip().splitlines()[-1:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"comet": out["system"], "per_item": out["scores"]}, None


def run_flores(loaded, task: TaskSpec, out_dir: Path) -> dict:
    from llammas_core.evaluate.generation import generate
    from llammas_core.evaluate.metrics import sacrebleu_metric, sentence_stats

    scored, pool = load_pairs(task)
    src, tgt = task.direction.split("-")  # named by the direction's own codes: two may share a FLORES code
    prompts = [build_prompt(p, sample_shots(pool, task.num_fewshot, task.fewshot_seed, str(p["id"]), p["src"]),
                            src, tgt, loaded.is_chat) for p in scored]
    gens = generate(loaded, prompts, max_new_tokens=task.max_new_tokens, num_beams=task.num_beams,
                    do_sample=task.do_sample, stop_at_newline=not loaded.is_chat)
    hyps = []
    for g in gens:  # one sentence in, one line out: keep the first non-empty line (chat models may open with one)
        hyps.append(next((ln.strip() for ln in g["text"].splitlines() if ln.strip()), ""))
    refs = [p["ref"] for p in scored]
    metrics, signatures, skipped = {}, {}, {}
    names = ["bleu", "chrf"]
    reason = spm_ready(task)
    if reason is None:
        names.append("spbleu")
    else:
        skipped["spbleu"] = reason
    per_item: dict[str, list] = {}
    for name in names:
        m = sacrebleu_metric(name)
        metrics[name] = float(m.corpus_score(hyps, [refs]).score)
        signatures[name] = str(m.get_signature())
        per_item[name] = sentence_stats(name, hyps, refs)
    comet, why = comet_scores(task, [p["src"] for p in scored], hyps, refs, out_dir / "comet")
    if why:
        skipped["comet"] = why
    else:
        metrics["comet"] = comet["comet"]
        signatures["comet"] = f"comet:{Path(task.comet_model).name}"
    samples = []
    for i, (p, g, h) in enumerate(zip(scored, gens, hyps)):
        row = {"doc_id": i, "id": p["id"], "prompt": g["prompt_text"], "source": p["src"], "generation": h,
               "reference": p["ref"], "n_tokens": g["n_tokens"],
               "stats": {name: per_item[name][i] for name in per_item}}
        if "comet" in metrics:
            row["comet"] = comet["per_item"][i]
        samples.append(row)
    return {"results": metrics, "samples": samples, "signatures": signatures, "skipped": skipped}


__all__ = ["run_flores", "load_pairs", "unescape_csv_quotes", "build_prompt", "spm_ready", "code"]
