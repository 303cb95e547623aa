"""Training throughput: padding-free packing vs padded batches, and an MFU probe for GPUs.

Default mode (a few minutes on CPU; longer on a loaded machine): the same random Llama, the same SFT examples, one
forward+backward (+AdamW every --accum) per micro-batch, four ways to batch them:
  padded, random           right-padded [B, max_len] batches with attention_mask (batching.PaddedCollator)
  padded, group_by_length  the same, micro-batches formed as HF's Trainer does with group_by_length
                           (random mega-batches of 50 micro-batches sorted by length): the fair baseline
  padding-free, masked     one [1, sum(len)] row, position_ids reset per sequence, transformers' sdpa with a
                           block-diagonal mask (batching.PaddingFreeCollator)
  padding-free, packed     the same row, llammas_packed_sdpa (SDPA per sequence)
and reports REAL (non-pad) tokens/s of each and the ratios of total times (same examples in every mode),
modes interleaved in ABBA order per micro-batch, wall and CPU seconds, the load average, and checks that
every mode saw the same real tokens and gives the same loss on one micro-batch. Example lengths: alpaca_5000.json
rendered through the Llammas chat template with a BPE tokenizer trained on it (vocab --vocab),
when ../shared/data is present; else a synthetic lognormal distribution (the output says which).

    python benchmarks/train_throughput.py                       # CPU, hidden 256, 4 layers
    python benchmarks/train_throughput.py --device cuda --bf16 --hidden 2048 --layers 16 --batch 16

--mfu: a 1B-class Llama (random init; TinyLlama-1.1B shape: hidden 2048, 22 layers, 32 heads, 4 KV heads,
intermediate 5632, vocab 32000, seq 2048, bf16 autocast over fp32 master weights, fused AdamW),
full sequences, reporting tokens/s and MFU = (6N + 12*L*H*T) * tokens/s / peak, N = parameters
without the input embedding (the trainer's convention), with the settings used (attention kernel,
micro-batch, torch.compile, chunked loss, gradient checkpointing).

    python benchmarks/train_throughput.py --mfu --device cuda            # H100: peak 989 TFLOP/s by name
    python benchmarks/train_throughput.py --mfu --device cpu --hidden 128 --layers 2 --seq 128 --steps 3 --peak-tflops 1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

ALPACA = REPO.parent / "shared" / "data" / "alpaca" / "alpaca_5000.json"


# ----------------------------------------------------------------------------- lengths


def alpaca_examples(vocab: int, max_len: int, limit: int | None):
    """(examples, description): encoded alpaca_5000 chats, or None when the data kit is absent."""
    if not ALPACA.is_file():
        return None, None
    from llammas_core.train.sft_data import SFTDataset, to_chat_record
    from llammas_core.train.tiny import train_tokenizer

    recs = json.loads(ALPACA.read_text())
    if limit:
        recs = recs[:limit]
    tok = train_tokenizer((f"{r['instruction']} {r['input']} {r['output']}" for r in recs), vocab_size=vocab)
    ds = SFTDataset((to_chat_record(r) for r in recs), tok, max_len)
    desc = (f"{ALPACA.name}: {len(ds)} records rendered through the Llammas chat template, byte-level BPE "
            f"tokenizer trained on them (vocab {len(tok)}), assistant-only labels")
    return [ds[i] for i in range(len(ds))], desc


def synthetic_examples(n: int, vocab: int, max_len: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lens = torch.exp(torch.randn(n, generator=g) * 0.75 + math.log(110)).clamp(16, max_len).long().tolist()
    out = []
    for n_tok in lens:
        ids = torch.randint(4, vocab, (n_tok,), generator=g)
        labels = ids.clone()
        labels[: n_tok // 2] = -100
        out.append({"input_ids": ids, "labels": labels})
    return out, f"synthetic lognormal lengths (median 110, sigma 0.75, clipped to [16, {max_len}]) - no data kit found"


# ----------------------------------------------------------------------------- model


def build_model(vocab: int, hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, max_pos: int,
                attn: str, dtype: torch.dtype, device: str, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=max_pos,
                      tie_word_embeddings=False, use_cache=False, pad_token_id=3, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = attn
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(cfg)
    return model.to(dtype)


def n_flop_params(model) -> int:
    total = sum(p.numel() for p in model.parameters())
    return total - model.get_input_embeddings().weight.numel()


def make_optimizer(model, device: str):
    fused = device == "cuda"
    return torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0, fused=fused)


def sync(device: str):
    if device == "cuda":
        torch.cuda.synchronize()


def autocast(device: str, bf16: bool):
    if bf16:
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    import contextlib

    return contextlib.nullcontext()


def chunked_causal_lm_loss(model, batch: dict, chunk: int = 4096) -> torch.Tensor:
    """Causal-LM loss without materialising [tokens, vocab] logits: lm_head + CE per chunk, recomputed in backward."""
    from torch.utils.checkpoint import checkpoint

    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = model.model(**inputs).last_hidden_state
    h = hidden[:, :-1].reshape(-1, hidden.shape[-1])
    y = labels[:, 1:].reshape(-1)
    n = (y != -100).sum().clamp(min=1)
    head = model.lm_head

    def piece(hc, yc):
        return torch.nn.functional.cross_entropy(head(hc).float(), yc, ignore_index=-100, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for i in range(0, h.shape[0], chunk):
        total = total + checkpoint(piece, h[i:i + chunk], y[i:i + chunk], use_reentrant=False)
    return total / n


def step_fn(model, opt, batch: dict, device: str, bf16: bool, chunked: bool, optimizer_step: bool = True):
    """fwd + bwd of one micro-batch; clip + AdamW step when optimizer_step (the last micro-batch of an
    accumulation window)."""
    with autocast(device, bf16):
        loss = chunked_causal_lm_loss(model, batch) if chunked else model(**batch).loss
    loss.backward()
    if optimizer_step:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return loss


# ----------------------------------------------------------------------------- padded vs padding-free


def real_tokens(batch: dict) -> int:
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())


def benchmark_batches(lengths: list[int], batch: int, n_batches: int, seed: int) -> tuple[list, list]:
    """(random_batches, grouped_batches) over the same examples.

    grouped: n_batches micro-batches drawn at random from the batches HF's Trainer forms with
    group_by_length (transformers.trainer_pt_utils.get_length_grouped_indices over the whole data set:
    random mega-batches of 50 micro-batches, sorted by length inside); random: the same examples shuffled
    and cut into micro-batches of the same size (plain random sampling). Same examples, so the total real
    tokens are equal and total times compare directly."""
    from transformers.trainer_pt_utils import get_length_grouped_indices

    g = torch.Generator().manual_seed(seed)
    grouped_order = get_length_grouped_indices(lengths, batch, generator=g)
    all_grouped = [grouped_order[i:i + batch] for i in range(0, len(grouped_order) - batch + 1, batch)]
    pick = torch.randperm(len(all_grouped), generator=g)[:n_batches].tolist()
    grouped = [all_grouped[i] for i in pick]
    chosen = [i for b in grouped for i in b]
    shuffled = [chosen[i] for i in torch.randperm(len(chosen), generator=g).tolist()]
    rand = [shuffled[i:i + batch] for i in range(0, len(shuffled), batch)]
    return rand, grouped


def run_packing(args) -> dict:
    from llammas_core.train.attention import register_packed_attention
    from llammas_core.train.batching import PaddedCollator, PaddingFreeCollator

    device = args.device
    examples, desc = (None, None) if args.synthetic else alpaca_examples(args.vocab, args.seq, args.limit)
    if examples is None:
        examples, desc = synthetic_examples(args.limit or 5000, args.vocab, args.seq)
    lengths = [len(e["input_ids"]) for e in examples]
    lens = torch.tensor(lengths, dtype=torch.float64)
    rand_idx, grouped_idx = benchmark_batches(lengths, args.batch, args.steps, args.seed)
    rand_batches = [[examples[i] for i in b] for b in rand_idx]
    grouped_batches = [[examples[i] for i in b] for b in grouped_idx]
    vocab = max(int(max(e["input_ids"].max() for e in examples)) + 1, args.vocab)
    dtype = torch.float32
    model = build_model(vocab, args.hidden, args.layers, args.heads, args.kv_heads, args.intermediate, args.seq,
                        args.attn, dtype, device)
    model.train()
    if args.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    packed = register_packed_attention()
    modes = {  # name: (collator, attention implementation, batches)
        "padded, random": (PaddedCollator(3), args.attn, rand_batches),
        "padded, group_by_length": (PaddedCollator(3), args.attn, grouped_batches),
        "padding-free, masked": (PaddingFreeCollator(), args.attn, rand_batches),
        "padding-free, packed": (PaddingFreeCollator(), packed, rand_batches),
    }
    # Modes run interleaved in ABBA order per micro-batch (batch i: A B C D, batch i+1: D C B A, ...) so that
    # load changes on a shared machine hit all of them alike; each mode has its own optimizer (the shared
    # weights keep changing, which does not matter for throughput). Every mode sees the same examples (in
    # other micro-batches for group_by_length), so the real tokens are equal and total times compare directly.
    from _bench import cpu_seconds, load

    same = same_loss(model, modes, rand_batches[0], device)
    stats = {name: {"tokens": 0, "slots": 0, "seconds": 0.0, "cpu": 0.0} for name in modes}
    opts = {name: make_optimizer(model, device) for name in modes}
    # warm-up: the first `warmup` micro-batches of each mode once untimed; then all `steps` timed
    schedule = [(i, False) for i in range(min(args.warmup, args.steps))] + [(i, True) for i in range(args.steps)]
    load_before = load()
    for k, (i, timed) in enumerate(schedule):
        names = list(modes) if k % 2 == 0 else list(modes)[::-1]
        for name in names:
            collate, attn, batches = modes[name]
            model.set_attn_implementation(attn)
            batch = {k2: (v.to(device) if torch.is_tensor(v) else v) for k2, v in collate(batches[i]).items()}
            sync(device)
            t, c = time.perf_counter(), cpu_seconds()
            step_fn(model, opts[name], batch, device, args.bf16, False, optimizer_step=(i + 1) % args.accum == 0)
            sync(device)
            if timed:
                st = stats[name]
                st["seconds"] += time.perf_counter() - t
                st["cpu"] += cpu_seconds() - c
                st["tokens"] += real_tokens(batch)
                st["slots"] += batch["input_ids"].numel()
    same_tokens = len({st["tokens"] for st in stats.values()}) == 1
    results = {}
    for name, st in stats.items():
        results[name] = {"attention": modes[name][1], "real_tokens": st["tokens"], "computed_positions": st["slots"],
                         "seconds": round(st["seconds"], 3), "cpu_seconds": round(st["cpu"], 3),
                         "real_tokens_per_s": round(st["tokens"] / st["seconds"], 1),
                         "pad_fraction": round(1 - st["tokens"] / st["slots"], 3)}

    def total_ratio(slow: str, fast: str, key: str = "seconds") -> float:  # over the same real tokens
        return stats[slow][key] / stats[fast][key]

    return {"mode": "packing", "lengths": desc, "length_mean": round(float(lens.mean()), 1),
            "length_p50": float(lens.median()), "length_max": int(lens.max()),
            "model": dict(hidden=args.hidden, layers=args.layers, heads=args.heads, vocab=vocab,
                          params_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 2)),
            "device": device, "bf16_autocast": args.bf16, "attn": args.attn, "micro_batch_sequences": args.batch,
            "measured_steps": args.steps, "accum": args.accum, "threads": torch.get_num_threads(), "results": results,
            "speedup_vs_random_padded": round(total_ratio("padded, random", "padding-free, packed"), 2),
            "speedup_vs_group_by_length": round(total_ratio("padded, group_by_length", "padding-free, packed"), 2),
            "group_by_length_vs_random_padded": round(total_ratio("padded, random", "padded, group_by_length"), 2),
            "masked_vs_random_padded": round(total_ratio("padded, random", "padding-free, masked"), 2),
            "speedup_vs_group_by_length_cpu": round(total_ratio("padded, group_by_length", "padding-free, packed",
                                                                "cpu"), 2),
            "same_real_tokens": same_tokens, "same_loss_first_batch": same,
            "load_before": load_before, "load_after": load()}


def same_loss(model, modes: dict, examples: list, device: str) -> bool:
    """The same micro-batch gives the same loss under every collation and attention (no optimizer step)."""
    losses = []
    with torch.no_grad():
        for collate, attn, _ in modes.values():
            model.set_attn_implementation(attn)
            batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in collate(examples).items()}
            losses.append(float(model(**batch).loss))
    return max(losses) - min(losses) < 1e-4 * max(1.0, abs(losses[0]))


def print_packing(r: dict) -> None:
    print(f"lengths: {r['lengths']}")
    print(f"  mean {r['length_mean']} / median {r['length_p50']} / max {r['length_max']} tokens")
    m = r["model"]
    print(f"model: random Llama hidden {m['hidden']}, {m['layers']} layers, vocab {m['vocab']} ({m['params_m']}M params); "
          f"device {r['device']}, attn {r['attn']}, bf16 {r['bf16_autocast']}, {r['micro_batch_sequences']} sequences "
          f"per micro-batch, {r['measured_steps']} measured micro-batches (fwd+bwd; AdamW every {r['accum']}); "
          f"threads {r['threads']}")
    print(f"{'collation':<26}{'attention':<21}{'real tok':>9}{'positions':>10}{'pad %':>7}{'seconds':>9}{'CPU s':>8}"
          f"{'real tok/s':>11}{'per CPU-s':>10}")
    for name, x in r["results"].items():
        print(f"{name:<26}{x['attention']:<21}{x['real_tokens']:>9}{x['computed_positions']:>10}"
              f"{100 * x['pad_fraction']:>6.1f}%{x['seconds']:>9.2f}{x['cpu_seconds']:>8.2f}"
              f"{x['real_tokens_per_s']:>11,.0f}{x['real_tokens'] / x['cpu_seconds']:>10,.0f}")
    print(f"same real tokens in every mode: {r['same_real_tokens']}; same loss on one micro-batch under every "
          f"collation: {r['same_loss_first_batch']}; before: {r['load_before']}; after: {r['load_after']}")
    print("ratios of total wall times over the same examples, ABBA per micro-batch (higher = padding-free packed faster):")
    print(f"  padded random / padding-free packed:            {r['speedup_vs_random_padded']:.2f}x")
    print(f"  padded group_by_length / padding-free packed:   {r['speedup_vs_group_by_length']:.2f}x  (the fair baseline; "
          f"CPU seconds: {r['speedup_vs_group_by_length_cpu']:.2f}x)")
    print(f"  padded random / padded group_by_length:         {r['group_by_length_vs_random_padded']:.2f}x")
    print(f"  padded random / padding-free masked sdpa:       {r['masked_vs_random_padded']:.2f}x")


# ----------------------------------------------------------------------------- MFU


def detect_peak(device: str, override: float | None) -> tuple[float | None, str]:
    from llammas_core.train.config import DEFAULT_PEAK_TFLOPS

    if override:
        return override, "override"
    if device != "cuda":
        return None, "cpu"
    name = torch.cuda.get_device_name()
    best = None
    for key, val in DEFAULT_PEAK_TFLOPS.items():
        if key.lower() in name.lower() and (best is None or len(key) > len(best[0])):
            best = (key, val)
    return (best[1] if best else None), name


def run_mfu(args) -> dict:
    device = args.device
    param_dtype = torch.bfloat16 if args.param_dtype == "bf16" else torch.float32
    model = build_model(args.vocab, args.hidden, args.layers, args.heads, args.kv_heads, args.intermediate, args.seq,
                        args.attn, param_dtype, device)
    model.train()
    if args.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    n = n_flop_params(model)
    total_params = sum(p.numel() for p in model.parameters())
    opt = make_optimizer(model, device)
    fwd = model
    if args.compile:
        model.model.compile() if hasattr(model.model, "compile") else None
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, args.vocab, (args.batch, args.seq), generator=g).to(device)
    batch = {"input_ids": ids, "labels": ids.clone()}
    bf16 = args.bf16 or device == "cuda"
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(args.warmup + args.steps):
        sync(device)
        t = time.perf_counter()
        loss = step_fn(fwd, opt, batch, device, bf16, args.chunked_loss)
        sync(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
    tokens = args.batch * args.seq
    step_s = sorted(times)[len(times) // 2]  # median step
    tps = tokens / step_s
    flops_per_token = 6 * n + 12 * args.layers * args.hidden * args.seq
    peak, peak_src = detect_peak(device, args.peak_tflops)
    mfu = flops_per_token * tps / (peak * 1e12) if peak else None
    return {
        "mode": "mfu", "device": device if device != "cuda" else torch.cuda.get_device_name(),
        "peak_tflops": peak, "peak_source": peak_src,
        "model": dict(hidden=args.hidden, layers=args.layers, heads=args.heads, kv_heads=args.kv_heads,
                      intermediate=args.intermediate, vocab=args.vocab, params=total_params, n_flop_params=n),
        "settings": dict(seq=args.seq, micro_batch=args.batch, attn=args.attn, torch_compile=args.compile,
                         chunked_loss=args.chunked_loss, gradient_checkpointing=args.grad_ckpt,
                         param_dtype=args.param_dtype, bf16_autocast=bf16, optimizer="AdamW fused" if device == "cuda" else "AdamW"),
        "median_step_s": round(step_s, 4), "tokens_per_s": round(tps, 1),
        "flops_per_token": flops_per_token, "achieved_tflops": round(flops_per_token * tps / 1e12, 2),
        "mfu": round(mfu, 4) if mfu is not None else None, "final_loss": loss.item(),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if device == "cuda" else None,
    }


def print_mfu(r: dict) -> None:
    m, s = r["model"], r["settings"]
    print(f"MFU probe on {r['device']}: Llama hidden {m['hidden']}, {m['layers']} layers, {m['heads']} heads "
          f"({m['kv_heads']} KV), ffn {m['intermediate']}, vocab {m['vocab']}: {m['params'] / 1e9:.3f}B params, "
          f"N (no input embedding) {m['n_flop_params'] / 1e9:.3f}B")
    print("settings: " + ", ".join(f"{k}={v}" for k, v in s.items()))
    mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a (no peak: pass --peak-tflops)"
    print(f"median step {r['median_step_s']} s, {r['tokens_per_s']:,.0f} tokens/s, {r['achieved_tflops']} TFLOP/s "
          f"achieved (6N + 12LHT per token), peak {r['peak_tflops']} ({r['peak_source']}): MFU {mfu}; "
          f"peak memory {r['peak_memory_gib']} GiB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mfu", action="store_true", help="MFU probe (1B-class defaults) instead of the packing comparison")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (always on for --mfu on CUDA)")
    p.add_argument("--hidden", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--kv-heads", type=int)
    p.add_argument("--intermediate", type=int)
    p.add_argument("--vocab", type=int)
    p.add_argument("--seq", type=int, help="max length (packing) / sequence length (mfu)")
    p.add_argument("--batch", type=int, help="sequences per micro-batch")
    p.add_argument("--steps", type=int, help="measured micro-batches (packing) / steps (mfu)")
    p.add_argument("--accum", type=int, default=8, help="packing: micro-batches per optimizer step (AdamW amortised "
                   "as in a 128-sequence global batch of 16-sequence micro-batches)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="packing: use only the first N alpaca records")
    p.add_argument("--synthetic", action="store_true", help="packing: force the synthetic length distribution")
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "eager", "flash_attention_2", "flash_attention_3"])
    p.add_argument("--compile", action="store_true", help="torch.compile the decoder (mfu)")
    p.add_argument("--chunked-loss", action="store_true", help="chunked lm_head + cross-entropy (mfu)")
    p.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing")
    p.add_argument("--param-dtype", default="fp32", choices=["fp32", "bf16"], help="mfu: master weight dtype")
    p.add_argument("--peak-tflops", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1 on CPU: steadier timings on shared machines)")
    p.add_argument("--json", type=str, default=None, help="also write the result as JSON here")
    a = p.parse_args(argv)
    if a.mfu:
        defaults = dict(hidden=2048, layers=22, heads=32, kv_heads=4, intermediate=5632, vocab=32000, seq=2048, batch=4,
                        steps=10)
    else:
        defaults = dict(hidden=256, layers=4, heads=4, kv_heads=4, intermediate=688, vocab=8000, seq=1024, batch=16,
                        steps=16)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.intermediate is None:
        a.intermediate = int(a.hidden * 8 / 3 // 64 * 64) or 4 * a.hidden
    if a.threads is None and a.device == "cpu":
        a.threads = 1  # steadier timings on a shared CPU box
    if a.threads:
        from _bench import pin_threads

        pin_threads(a.threads)
    result = run_mfu(a) if a.mfu else run_packing(a)
    (print_mfu if a.mfu else print_packing)(result)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
