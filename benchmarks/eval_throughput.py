"""Evaluation throughput: batched vs one-at-a-time on the same random Llama, side by side (ABBA).

Log-likelihood tasks (XCOPA-et, Belebele est_Latn; lm-eval builds the requests): items/s of
  batched          what run_task uses: loglik.py (token-budget batches, each item's context encoded once,
                   logits only where read, strings tokenized in one batch)
  one-at-a-time    lm-eval's HFLM, batch_size=1, logits_cache off: one forward per (context, choice)
  and, for reference, lm-eval's HFLM with its defaults at batch_size 1 and at --batch-size (its one-token
  continuation cache encodes a Belebele passage once per item too).
FLORES en->et generation (our generate, batched vs batch_size 1): generated tokens/s.

Items: XCOPA's whole test (500), 96 Belebele items, 32 FLORES sentences (--n-xcopa, --n-mc, --n-flores).
Modes run in ABBA order (A B C D D C B A), --rounds times, with torch/BLAS threads pinned (--threads); wall and process
CPU seconds are printed per mode, items per CPU-second is the per-core figure, the load average is
printed before and after each task, and the per-item results of every run are checked to be the same
(log-likelihoods within 1e-4, same acc; FLORES: same text). Speed-ups are one-at-a-time seconds over
the mode's seconds, by wall and by CPU, summed over the runs, and per A/B pair by CPU (the spread).

Data: ../shared/data when present (XCOPA-et test, Belebele est_Latn test, the kit's FLORES subset),
else the bundled demo/eval files (repeated to the requested size). The model is random (no download):
--shape small (CPU default: hidden 256, 4 layers) or --shape 7b (Llama-2-7B shape, bf16 on CUDA).

    .venv/bin/python benchmarks/eval_throughput.py                       # CPU, small shape, 1 thread
    .venv/bin/python benchmarks/eval_throughput.py --device cuda --shape 7b --full   # whole suite, batched

--profile PATH writes a cProfile of one batched run per task (functions by own CPU time, Markdown).
--full runs every item of each task once (batched only) and prints per-task wall time: the "whole suite
in minutes" figure for a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
KIT = REPO.parent / "shared" / "data"
DEMO = REPO / "demo" / "eval"

SHAPES = {
    "small": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=8,
                  num_key_value_heads=4, vocab_size=None),
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=32, vocab_size=32000),
}


def data_paths() -> dict[str, str]:
    if KIT.is_dir():
        return {"xcopa": str(KIT / "xcopa_et"), "belebele": str(KIT / "belebele"),
                "flores": str(KIT / "flores_sib200" / "flores200_sib_subset.jsonl"), "source": "../shared/data"}
    return {"xcopa": str(DEMO / "xcopa_et"), "belebele": str(DEMO / "belebele"),
            "flores": str(DEMO / "flores" / "flores_demo.jsonl"), "source": "demo/eval"}


def _repeat_demo(paths: dict, tmp: Path, n: int) -> dict:
    """Demo files are tiny: repeat their items up to n so the timing is not all start-up."""
    if paths["source"] != "demo/eval":
        return paths
    out = dict(paths)
    for kind, name in (("xcopa", "test.et.jsonl"), ("belebele", "belebele-est_Latn-test.csv")):
        src = Path(paths[kind]) / name
        dst = tmp / kind
        dst.mkdir(parents=True, exist_ok=True)
        lines = src.read_text(encoding="utf-8").splitlines()
        head, body = (lines[:1], lines[1:]) if name.endswith(".csv") else ([], lines)
        body = (body * (n // len(body) + 1))[:n]
        (dst / name).write_text("\n".join(head + body) + "\n", encoding="utf-8")
        out[kind] = str(dst)
    rows = [json.loads(x) for x in Path(paths["flores"]).read_text(encoding="utf-8").splitlines()]
    test = [r for r in rows if r["flores_split"] == "devtest"]
    dev = [r for r in rows if r["flores_split"] == "dev"]
    test = [dict(r, flores_line=i + 1) for i, r in enumerate((test * (n // len(test) + 1))[:n])]
    (tmp / "flores.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in dev + test),
                                      encoding="utf-8")
    out["flores"] = str(tmp / "flores.jsonl")
    return out


def corpus_texts(paths: dict) -> list[str]:
    texts = []
    for line in Path(paths["flores"]).read_text(encoding="utf-8").splitlines():
        texts += [v for v in json.loads(line).values() if isinstance(v, str)]
    for p in Path(paths["belebele"]).glob("*.csv"):
        texts += p.read_text(encoding="utf-8").splitlines()
    for p in Path(paths["xcopa"]).glob("*.jsonl"):
        texts += [v for v in json.loads(p.read_text(encoding="utf-8").splitlines()[0]).values() if isinstance(v, str)]
    return texts


def build_model(shape: str, device: str, texts: list[str]):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from llammas_core.train.tiny import train_tokenizer

    tok = train_tokenizer(texts, vocab_size=2000)
    kw = dict(SHAPES[shape])
    kw["vocab_size"] = kw["vocab_size"] or len(tok)
    cfg = LlamaConfig(max_position_embeddings=4096, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, tie_word_embeddings=False, **kw)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        torch.manual_seed(0)
        with torch.device(device):
            model = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id)
    return model.eval(), tok


def loaded_with(model, tok, device: str, batch_size: int, lm=None):
    """A LoadedModel; lm: an lm-eval LM to score log-likelihoods with instead of run_task's own."""
    from llammas_core.evaluate.models import wrap_loaded
    from llammas_core.evaluate.spec import ModelSpec

    loaded = wrap_loaded(ModelSpec(name=f"bench-bs{batch_size}", path="random", chat=False, batch_size=batch_size),
                         model, tok, device=device)
    if lm is not None:
        loaded.extra["lm_eval_lm"] = lm
    return loaded


def hflm(model, tok, device: str, batch_size: int, logits_cache: bool = True):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size, device=device, logits_cache=logits_cache)


def item_results(res) -> list[tuple]:
    """What must be the same in every mode: per item its log-likelihoods and acc, or its generation."""
    if res.kind == "flores":
        return sorted((str(s["id"]), s["generation"], s["n_tokens"])
                      for s in res.samples)
    return sorted((s["doc_id"], tuple(s["loglikelihoods"]), s.get("acc")) for s in res.samples)


def same_items(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x[0] != y[0] or (len(x) == 3 and x[2] != y[2]):
            return False
        if isinstance(x[1], tuple):
            if len(x[1]) != len(y[1]) or any(abs(p - q) > 1e-4 for p, q in zip(x[1], y[1])):
                return False
        elif x[1] != y[1]:
            return False
    return True


def main(argv=None) -> None:
    import logging

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="small")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (pinned in every mode)")
    ap.add_argument("--n-xcopa", type=int, default=500,
                    help="XCOPA items (its whole test: 96 short items are 0.4 s batched, a fifth of it lm-eval "
                         "building the task, which no batching removes)")
    ap.add_argument("--n-mc", type=int, default=96, help="Belebele items")
    ap.add_argument("--rounds", type=int, default=2, help="ABBA rounds (2: A B B A A B B A)")
    ap.add_argument("--n-flores", type=int, default=32, help="FLORES sentences")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--no-reference", action="store_true", help="skip the two lm-eval HFLM reference modes")
    ap.add_argument("--full", action="store_true", help="every item of every task, batched only")
    ap.add_argument("--profile", default=None,
                    help="write here (Markdown) a cProfile of one batched run per task: functions by own CPU time")
    ap.add_argument("--tasks", default="", help="comma-separated subset of xcopa_et,belebele,flores_en-et")
    args = ap.parse_args(argv)

    from _bench import abba, header, load, pin_threads, same_work

    pin_threads(args.threads)
    logging.disable(logging.WARNING)
    os.environ["TQDM_DISABLE"] = "1"
    import torch

    from llammas_core.evaluate.engine import run_task
    from llammas_core.evaluate.spec import TaskSpec

    tmp = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    ok_all = True
    try:
        paths = _repeat_demo(data_paths(), tmp / "data", max(args.n_xcopa, args.n_mc, args.n_flores))
        t0 = time.perf_counter()
        model, tok = build_model(args.shape, args.device, corpus_texts(paths))
        n_params = sum(p.numel() for p in model.parameters())
        print(f"model: random Llama, shape {args.shape}, {n_params / 1e6:.1f}M params, {model.dtype}, "
              f"device {args.device}, built in {time.perf_counter() - t0:.1f}s; data: {paths['source']}")
        print(header(args.threads))
        all_tasks = [
            ("xcopa_et", "items", TaskSpec(name="xcopa_et", kind="xcopa", data=paths["xcopa"],
                                                 limit=None if args.full else args.n_xcopa)),
            ("belebele", "items", TaskSpec(name="belebele", kind="belebele", data=paths["belebele"],
                                                 limit=None if args.full else args.n_mc)),
            ("flores_en-et", "gen tok", TaskSpec(name="flores_en-et", kind="flores", data=paths["flores"],
                                                 direction="en-et", num_fewshot=1,
                                                 limit=None if args.full else args.n_flores,
                                                 max_new_tokens=args.max_new_tokens)),
        ]
        flores = all_tasks[2][2]
        tasks = [t for t in all_tasks if not args.tasks or t[0] in args.tasks.split(",")]
        if args.full:
            tasks.append(("flores_et-en", "gen tok", flores.model_copy(
                update={"name": "flores_et-en", "direction": "et-en"})))
        bs = args.batch_size
        models = {"batched": loaded_with(model, tok, args.device, bs),
                  "one-at-a-time": loaded_with(model, tok, args.device, 1,
                                               hflm(model, tok, args.device, 1, logits_cache=False))}
        gen_models = {"batched": models["batched"], "one-at-a-time": loaded_with(model, tok, args.device, 1)}
        if not args.no_reference and not args.full:
            models["lm-eval bs=1"] = loaded_with(model, tok, args.device, 1, hflm(model, tok, args.device, 1))
            models[f"lm-eval bs={bs}"] = loaded_with(model, tok, args.device, bs, hflm(model, tok, args.device, bs))
        warm = all_tasks[0][2].model_copy(update={"limit": 4})
        for name, lm in models.items():
            run_task(lm, warm, tmp / f"warm-{name}")
        run_task(gen_models["batched"], flores.model_copy(update={"limit": 2, "max_new_tokens": 4}),
                 tmp / "warm-gen")
        if args.profile:
            _profile(models["batched"], tasks, tmp, Path(args.profile))
        if args.full:
            for name, unit, task in tasks:
                wall, cpu, res = _once(models["batched"], task, tmp / name, sync)
                amount = _amount(res, unit)
                print(f"{name:<14}{len(res.samples):>6} items  {amount / wall:>9.1f} {unit}/s  ({wall:.1f}s wall, "
                      f"{cpu:.1f}s CPU; {load()})")
            return
        print(f"\n{'task':<14}{'mode':<18}{'items':>6}{'wall s':>9}{'CPU s':>8}{'rate/s':>10}{'per CPU-s':>11}"
              f"{'x wall':>8}{'x CPU':>8}  unit")
        for name, unit, task in tasks:
            ms = gen_models if unit == "gen tok" else models
            modes = {m: (lambda lm=lm, m=m: run_task(lm, task, tmp / f"{name}-{m}")) for m, lm in ms.items()}
            runs = abba(modes, rounds=args.rounds, sync=sync)
            ok = same_work(runs, lambda a, b: same_items(item_results(a), item_results(b)))
            ok_all &= ok
            base, base_cpu = runs.wall("one-at-a-time"), runs.cpu("one-at-a-time")
            for m in ms:
                res = runs.outputs(m)[0]
                amount = _amount(res, unit) * len(runs.runs[m])
                print(f"{name:<14}{m:<18}{len(res.samples):>6}{runs.wall(m):>9.2f}{runs.cpu(m):>8.2f}"
                      f"{amount / runs.wall(m):>10.1f}{amount / runs.cpu(m):>11.1f}{base / runs.wall(m):>7.2f}x"
                      f"{base_cpu / runs.cpu(m):>7.2f}x  {unit}")
            print(f"{'':<14}x CPU of each A/B pair, batched: {_pairs(runs, 'batched')}")
            print(f"{'':<14}identical item results across modes and runs: {ok}; order {' '.join(runs.order)}; "
                  f"before: {runs.load_before}; after: {runs.load_after}")
        print("\nx wall / x CPU = one-at-a-time seconds / mode seconds, summed over all runs of each mode;"
              " under load, x CPU is the steadier figure")
        if not ok_all:
            sys.exit("item results differ between modes")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _profile(loaded, tasks, tmp: Path, out: Path, top: int = 25) -> None:
    """One batched run per task under cProfile (single thread, so its times are CPU): the functions with
    the most own time, the next change's baseline."""
    import cProfile
    import io
    import pstats

    from llammas_core.evaluate.engine import run_task

    parts = ["# eval_throughput: batched runs profiled (cProfile, own time first)\n"]
    for name, _, task in tasks:
        prof = cProfile.Profile()
        prof.runcall(run_task, loaded, task, tmp / f"profile-{name}")
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(top)
        parts.append(f"## {name}: {stats.total_tt:.2f} s\n\n```\n{buf.getvalue().strip()}\n```\n")
    out.write_text("\n".join(parts), encoding="utf-8")
    print(f"profile of one batched run per task written to {out}")


def _pairs(runs, mode: str) -> str:
    """One-at-a-time CPU seconds over the mode's, run by run in ABBA order: the spread behind the sums."""
    base = runs.runs["one-at-a-time"]
    return " ".join(f"{b[1] / m[1]:.2f}x" for b, m in zip(base, runs.runs[mode]))


def _amount(res, unit: str) -> int:
    return sum(int(s.get("n_tokens", 0)) for s in res.samples) if unit == "gen tok" else len(res.samples)


def _once(loaded, task, out: Path, sync):
    from _bench import timed

    from llammas_core.evaluate.engine import run_task

    return timed(lambda: run_task(loaded, task, out), sync)


if __name__ == "__main__":
    main()
