"""Translation throughput: one-at-a-time HF generate vs length-sorted token-budget batches vs CTranslate2.

Same model, same segments, one run, side by side. Segments: Alpaca records from
../shared/data/alpaca/alpaca_5000.json split by the real segmenter (llammas_core.instructions.segment:
sentences of prose, code and protected spans masked), or built-in demo text when the data kit is absent
(the output says which). Model: a random-init MarianMT (llammas_core.instructions.tiny_mt) with a
SentencePiece model trained on the same texts; its weights never emit </s>, so every output runs to the
proportional cap (--max-ratio x source tokens + --extra): close to real output lengths (~1.1x for en->et)
and identical work in every mode. All modes go through the project's Translator backends.

    python benchmarks/translate_throughput.py                         # CPU: Marian d256 3+3 layers, 500 segments
    python benchmarks/translate_throughput.py --shape base --segments 300
    python benchmarks/translate_throughput.py --device cuda --shape nllb-600m --segments 4000 \
        --batch-tokens 32768 --single-limit 50        # GPU: NLLB-600M dimensions, bf16, projected Alpaca-52k time

Targets (issue 8): batched >= 5x one-at-a-time on CPU; CTranslate2 ahead of batched HF; on one H100/H200
all of Alpaca 52k in <= 10 min with a real-size model shape.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ALPACA = REPO.parent / "shared" / "data" / "alpaca" / "alpaca_5000.json"
ALPACA_FULL_RECORDS = 52002

DEMO = [
    "Give three tips for staying healthy.",
    "Eat a balanced diet and make sure to include plenty of fruits and vegetables.",
    "Exercise regularly to keep your body active and strong, and get enough sleep every night.",
    "Describe the structure of an atom in a few sentences.",
    "An atom consists of a nucleus of protons and neutrons, surrounded by electrons in shells.",
    "Write a short story about a cat who learns to fly, with a happy ending.",
    "Explain why the sky is blue.",
    "Summarize the main causes of the First World War and their long-term consequences for Europe.",
]


def load_segments(n: int, seed: int) -> tuple[list[str], list[str], float, str]:
    """(segments to translate, texts for SentencePiece, segments per record, description)."""
    from llammas_core.instructions.segment import split_text

    if ALPACA.is_file():
        recs = json.loads(ALPACA.read_text())
        texts = [t for r in recs for t in (r["instruction"], r["input"], r["output"]) if t]
        per_record = [sum(len(split_text(t).segments) for t in (r["instruction"], r["input"], r["output"]))
                      for r in recs[:1000]]
        rng = random.Random(seed)
        order = list(range(len(recs)))
        rng.shuffle(order)
        segs: list[str] = []
        for i in order:
            r = recs[i]
            for t in (r["instruction"], r["input"], r["output"]):
                segs += split_text(t).segments
            if len(segs) >= n:
                break
        return segs[:n], texts, statistics.mean(per_record), f"{ALPACA.name} (random records, seed {seed})"
    segs = (DEMO * (n // len(DEMO) + 1))[:n]
    return segs, DEMO * 20, 4.6, "built-in demo text (data kit absent)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=int, default=500)
    ap.add_argument("--shape", default="small", help="tiny_mt.MARIAN_SHAPES name: tiny, small, base, big, nllb-600m")
    ap.add_argument("--vocab", type=int, default=8000, help="SentencePiece vocabulary size")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--beams", type=int, default=1)
    ap.add_argument("--batch-tokens", type=int, default=None, help="token budget (default 2048 CPU, 16384 GPU)")
    ap.add_argument("--max-ratio", type=float, default=1.2)
    ap.add_argument("--extra", type=int, default=4)
    ap.add_argument("--single-limit", type=int, default=None,
                    help="time one-at-a-time on the first N segments only (rate extrapolated)")
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for torch and CTranslate2 (default 1: the same for every mode, and stable on "
                         "a shared machine; CPU seconds are reported beside wall seconds)")
    ap.add_argument("--skip", default="", help="comma list of modes to skip: single,batched,ct2")
    ap.add_argument("--model-dir", default=None, help="reuse/build the model here (default: a temp folder)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from llammas_core.instructions.tiny_mt import build_tiny_marian, convert_to_ctranslate2
    from llammas_core.instructions.translate import TranslatorConfig, make_translator

    gpu = args.device.startswith("cuda")
    batch_tokens = args.batch_tokens or (16384 if gpu else 2048)
    skip = set(filter(None, args.skip.split(",")))
    segs, texts, per_record, desc = load_segments(args.segments, args.seed)

    tmp = tempfile.TemporaryDirectory()
    root = Path(args.model_dir or tmp.name)
    hf_dir, ct2_dir = root / f"{args.shape}-hf", root / f"{args.shape}-ct2"
    t0 = time.time()
    if not (hf_dir / "config.json").exists():
        pad_to = 256206 if args.shape == "nllb-600m" else None
        # init_std 0.02 (the usual scale): larger random weights overflow float16 in big shapes
        build_tiny_marian(texts, [], hf_dir, vocab_size=args.vocab, shape=args.shape, pad_vocab_to=pad_to,
                          max_position=1024, init_std=0.02)
    build_s = time.time() - t0

    common = dict(beams=args.beams, max_ratio=args.max_ratio, max_extra_tokens=args.extra,
                  batch_tokens=batch_tokens, max_batch_size=1024, device=args.device, threads=args.threads)
    hf = make_translator(TranslatorConfig(model=str(hf_dir), **common))
    n_params = sum(p.numel() for p in hf.model.parameters())
    src_tokens = [len(x) for x in hf.encode(segs)]
    print(f"segments: {len(segs)} from {desc}; source tokens mean {statistics.mean(src_tokens):.1f}, "
          f"max {max(src_tokens)}; {per_record:.2f} segments per Alpaca record")
    print(f"model: random MarianMT shape {args.shape!r} ({n_params / 1e6:.0f}M parameters, vocab "
          f"{hf.model.config.vocab_size}), built in {build_s:.0f}s; device {args.device} "
          f"({torch.cuda.get_device_name() if gpu else f'{args.threads} threads'}), dtype {hf.dtype}, "
          f"beams {args.beams}, cap {args.max_ratio}x+{args.extra}, batch budget {batch_tokens} tokens")

    rows = []

    def timed(name, fn, segments, note=""):
        fn(segments[:4])  # warm-up
        if gpu:
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        out = fn(segments)
        if gpu:
            torch.cuda.synchronize()
        dt, cpu = time.perf_counter() - t, time.process_time() - c
        gen = sum(min(int(n * args.max_ratio) + args.extra, 10**9) for n in src_tokens[:len(segments)])
        rows.append(dict(mode=name, segments=len(segments), seconds=dt, cpu=cpu, seg_s=len(segments) / dt,
                         tok_s=gen / dt, note=note))
        print(f"  {name}: {len(segments)} segments in {dt:.1f}s ({cpu:.1f} CPU s)", flush=True)
        return out

    outputs = {}
    if "single" not in skip:
        n1 = min(args.single_limit or len(segs), len(segs))
        outputs["single"] = timed("HF generate, one at a time", lambda ss: [hf.translate([s])[0] for s in ss],
                                  segs[:n1], "" if n1 == len(segs) else f"first {n1} segments")
    if "batched" not in skip:
        before = hf.batches
        outputs["batched"] = timed("HF generate, length-sorted token-budget batches", hf.translate, segs)
        print(f"    {hf.batches - before - 1} batches (after 1 warm-up batch)")
    mem = torch.cuda.max_memory_allocated() / 2**30 if gpu else None
    hf.close()
    if "ct2" not in skip:
        try:
            t0 = time.time()
            if not (ct2_dir / "model.bin").exists():
                convert_to_ctranslate2(hf_dir, ct2_dir)
            conv_s = time.time() - t0
            ct = make_translator(TranslatorConfig(backend="ctranslate2", model=str(ct2_dir), **common))
            outputs["ct2"] = timed(f"CTranslate2 {ct.compute_type}, same batches", ct.translate, segs,
                                   f"converted in {conv_s:.0f}s")
            ct.close()
        except Exception as exc:  # e.g. a CTranslate2 wheel without CUDA on this machine
            print(f"  CTranslate2 skipped: {type(exc).__name__}: {str(exc)[:300]}")

    if "single" in outputs and "batched" in outputs:
        n1 = len(outputs["single"])
        same = sum(a == b for a, b in zip(outputs["single"], outputs["batched"][:n1]))
        print(f"batched == one-at-a-time outputs: {same}/{n1} identical")
    base = next((r["seg_s"] for r in rows if r["mode"].startswith("HF generate, one")), None)
    print()
    base_cpu = next((r["segments"] / r["cpu"] for r in rows if r["mode"].startswith("HF generate, one")), None)
    print(f"| {'mode':<50} | {'segments':>8} | {'seconds':>8} | {'CPU s':>7} | {'segments/s':>10} | "
          f"{'gen tok/s':>10} | {'vs single':>9} | {'(CPU s)':>7} | Alpaca 52k (projected) | note")
    print(f"|{'-' * 52}|{'-' * 10}|{'-' * 10}|{'-' * 9}|{'-' * 12}|{'-' * 12}|{'-' * 11}|{'-' * 9}|{'-' * 24}|------")
    total_52k = ALPACA_FULL_RECORDS * per_record
    for r in rows:
        proj = total_52k / r["seg_s"]
        proj_s = f"{proj / 60:.1f} min" if proj < 3 * 3600 else f"{proj / 3600:.1f} h"
        speed = f"{r['seg_s'] / base:.1f}x" if base else "-"
        speed_cpu = f"{r['segments'] / max(r['cpu'], 1e-9) / base_cpu:.1f}x" if base_cpu and not gpu else "-"
        print(f"| {r['mode']:<50} | {r['segments']:>8} | {r['seconds']:>8.1f} | {r['cpu']:>7.1f} | "
              f"{r['seg_s']:>10.1f} | {r['tok_s']:>10.0f} | {speed:>9} | {speed_cpu:>7} | {proj_s:>22} | {r['note']}")
    print(f"\nprojection: {ALPACA_FULL_RECORDS} records x {per_record:.2f} segments = {total_52k:,.0f} segments "
          f"(before cache hits / dedup); gen tok/s counts the capped output tokens.")
    if mem is not None:
        print(f"peak GPU memory (HF): {mem:.1f} GiB")
    tmp.cleanup()


if __name__ == "__main__":
    main()
