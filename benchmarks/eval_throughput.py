"""Evaluation throughput: batched vs one-at-a-time on the same random Llama, side by side.

Log-likelihood tasks (XCOPA-et, Belebele est_Latn through lm-eval's HFLM): items/s.
FLORES en->et generation (our left-padded batched generate): generated tokens/s.

Data: ../shared/data when present (XCOPA-et test, Belebele est_Latn test, the kit's FLORES subset),
else the bundled demo/eval files (repeated to the requested size). The model is random (no download):
--shape small (CPU default: hidden 256, 4 layers) or --shape 7b (Llama-2-7B shape, bf16 on CUDA).

    .venv/bin/python benchmarks/eval_throughput.py                       # CPU, small shape
    .venv/bin/python benchmarks/eval_throughput.py --device cuda --shape 7b --full   # whole suite, batched

--full runs every item of each task once (batched only) and prints per-task wall time: the "whole suite
in minutes" figure for a GPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
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


def loaded_with(model, tok, device: str, batch_size: int):
    from llammas_core.evaluate.models import wrap_loaded
    from llammas_core.evaluate.spec import ModelSpec

    return wrap_loaded(ModelSpec(name=f"bench-bs{batch_size}", path="random", chat=False, batch_size=batch_size),
                       model, tok, device=device)


def timed(loaded, task, out: Path) -> tuple[float, int, int]:
    import torch

    from llammas_core.evaluate.engine import run_task

    if loaded.device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    res = run_task(loaded, task, out)
    if loaded.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t, len(res.samples), sum(int(s.get("n_tokens", 0)) for s in res.samples)


def main(argv=None) -> None:
    import logging
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.disable(logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="small")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--n-mc", type=int, default=96, help="items per log-likelihood task")
    ap.add_argument("--n-flores", type=int, default=32, help="FLORES sentences")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--full", action="store_true", help="every item of every task, batched only")
    args = ap.parse_args(argv)

    from llammas_core.evaluate.spec import TaskSpec

    tmp = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    try:
        paths = _repeat_demo(data_paths(), tmp / "data", max(args.n_mc, args.n_flores))
        t0 = time.perf_counter()
        model, tok = build_model(args.shape, args.device, corpus_texts(paths))
        n_params = sum(p.numel() for p in model.parameters())
        print(f"model: random Llama, shape {args.shape}, {n_params / 1e6:.1f}M params, {model.dtype}, "
              f"device {args.device}, built in {time.perf_counter() - t0:.1f}s; data: {paths['source']}")
        lim = None if args.full else args.n_mc
        tasks = [
            ("xcopa_et", "items/s", TaskSpec(name="xcopa_et", kind="xcopa", data=paths["xcopa"], limit=lim)),
            ("belebele", "items/s", TaskSpec(name="belebele", kind="belebele", data=paths["belebele"], limit=lim)),
            ("flores_en-et", "gen tok/s", TaskSpec(name="flores_en-et", kind="flores", data=paths["flores"],
                                                   direction="en-et", num_fewshot=1,
                                                   limit=None if args.full else args.n_flores,
                                                   max_new_tokens=args.max_new_tokens)),
        ]
        if args.full:
            tasks.append(("flores_et-en", "gen tok/s", tasks[2][2].model_copy(
                update={"name": "flores_et-en", "direction": "et-en"})))
        batched = loaded_with(model, tok, args.device, args.batch_size)
        single = loaded_with(model, tok, args.device, 1)
        warm = tasks[0][2].model_copy(update={"limit": 4})
        timed(batched, warm, tmp / "warm-b")
        timed(single, warm, tmp / "warm-s")
        print(f"\n{'task':<14}{'unit':<11}{'items':>6}{f'batched (bs={args.batch_size})':>22}"
              f"{'one-at-a-time':>16}{'speed-up':>10}")
        total = 0.0
        for name, unit, task in tasks:
            sec_b, n, ntok_b = timed(batched, task, tmp / f"{name}-b")
            total += sec_b
            rate_b = (ntok_b if unit.startswith("gen") else n) / sec_b
            if args.full:
                print(f"{name:<14}{unit:<11}{n:>6}{rate_b:>22.1f}{'-':>16}{'-':>10}   ({sec_b:.1f}s)")
                continue
            sec_s, _, ntok_s = timed(single, task, tmp / f"{name}-s")
            rate_s = (ntok_s if unit.startswith("gen") else n) / sec_s
            print(f"{name:<14}{unit:<11}{n:>6}{rate_b:>22.1f}{rate_s:>16.1f}{rate_b / rate_s:>9.1f}x")
        print(f"\nbatched wall time, all tasks: {total:.1f}s (backend: HF via lm-eval HFLM for log-likelihood, "
              f"our left-padded generate for FLORES)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
