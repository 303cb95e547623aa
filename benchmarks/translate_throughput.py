"""Translation throughput: one-at-a-time HF generate vs length-sorted token-budget batches vs CTranslate2,
each backend at the same precision (CPU: float32 vs float32, HF int8 dynamic quantisation vs CTranslate2
int8; GPU: float16 vs float16) and at its best.

Same model, same segments, one run, side by side, in ABBA order (A B C D E E D C B A) with torch and
CTranslate2 pinned to --threads. Printed per mode: wall and CPU seconds (all threads), segments per
CPU-second, and the load average before and after; checked: every run of a mode gives the same outputs,
and batched fp32 == one-at-a-time fp32. Quality check: chrF between the two backends' outputs at the same
precision, and between each backend's int8 and float32 outputs (the random model writes degenerate text,
so this shows agreement, not translation quality). Segments: Alpaca records from
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

Worker scaling (issue 15): `--workers 1,2,4` instead times the instructions stage's MT path
(mt.translate_segments, chunks flushed to a segment cache in a fresh store each run) with that many
worker processes (llammas_core.instructions.fanout; 1 = the parent translates itself), ABBA order,
each run loading its model(s) first: start-up and translation are reported apart, with CPU seconds
of the parent and its workers and the load average; every run must give the same translations.

    nice -n 10 python benchmarks/translate_throughput.py --workers 1,2,4 --segments 300 --chunk 25 --skip ct2

Measured (2-CPU shared box, 'small' Marian, 1 thread a worker, load avg 2.1 before -> 7.8 after): translation
9.8 / 15.8 / 12.8 segments/s with 1 / 2 / 4 workers (1.62x with 2; 4 workers on 2 CPUs do not scale), worker
start-up 1.8 / 20.5 / 42.2 s (spawn + torch import + model load per process, paid once per stage run).

Targets (issue 8): batched >= 5x one-at-a-time on CPU; CTranslate2 ahead of batched HF; on one H100/H200
all of Alpaca 52k in <= 10 min with a real-size model shape. Measured figures: README "Benchmarks".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

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
    ap.add_argument("--segments", type=int, default=300)
    ap.add_argument("--shape", default="small", help="tiny_mt.MARIAN_SHAPES name: tiny, small, base, big, nllb-600m")
    ap.add_argument("--vocab", type=int, default=8000, help="SentencePiece vocabulary size")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--beams", type=int, default=1)
    ap.add_argument("--batch-tokens", type=int, default=None, help="token budget (default 2048 CPU, 16384 GPU)")
    ap.add_argument("--max-ratio", type=float, default=1.2)
    ap.add_argument("--extra", type=int, default=4)
    ap.add_argument("--single-limit", type=int, default=None,
                    help="time one-at-a-time on the first N segments only (rates compared, not totals)")
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for torch and CTranslate2 in every mode (default 1: stable on a shared machine)")
    ap.add_argument("--skip", default="", help="comma list of modes to skip: single,int8,ct2")
    ap.add_argument("--model-dir", default=None, help="reuse/build the model here (default: a temp folder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", default="", help="comma list of worker counts, e.g. 1,2,4: time the worker scaling only")
    ap.add_argument("--chunk", type=int, default=25, help="--workers: segments per chunk (translator.chunk_segments)")
    args = ap.parse_args()

    from _bench import abba, header, pin_threads

    pin_threads(args.threads)
    import sacrebleu
    import torch

    from llammas_core.instructions.tiny_mt import build_tiny_marian, convert_to_ctranslate2
    from llammas_core.instructions.translate import TranslatorConfig, make_translator

    gpu = args.device.startswith("cuda")
    batch_tokens = args.batch_tokens or (16384 if gpu else 2048)
    skip = set(filter(None, args.skip.split(",")))
    segs, texts, per_record, desc = load_segments(args.segments, args.seed)
    n1 = min(args.single_limit or len(segs), len(segs))

    tmp = tempfile.TemporaryDirectory()
    root = Path(args.model_dir or tmp.name)
    hf_dir, ct2_dir = root / f"{args.shape}-hf", root / f"{args.shape}-ct2"
    t0 = time.time()
    if not (hf_dir / "config.json").exists():
        pad_to = 256206 if args.shape == "nllb-600m" else None
        # init_std 0.02 (the usual scale): larger random weights overflow float16 in big shapes
        build_tiny_marian(texts, [], hf_dir, vocab_size=args.vocab, shape=args.shape, pad_vocab_to=pad_to,
                          max_position=1024, init_std=0.02, eos_ratio=None)  # full-length outputs, as before
    if "ct2" not in skip and not (ct2_dir / "model.bin").exists():
        convert_to_ctranslate2(hf_dir, ct2_dir)
    build_s = time.time() - t0

    if args.workers:
        return worker_scaling(args, segs, desc, hf_dir, batch_tokens)
    common = dict(beams=args.beams, max_ratio=args.max_ratio, max_extra_tokens=args.extra,
                  batch_tokens=batch_tokens, max_batch_size=1024, device=args.device, threads=args.threads)
    # (label, precision, translator): HF and CTranslate2 at each shared precision
    precisions = ["float16"] if gpu else ["float32", "int8"]
    if "int8" in skip:
        precisions = precisions[:1]
    systems: dict[str, tuple[str, str, object]] = {}
    for prec in precisions:
        hf = make_translator(TranslatorConfig(model=str(hf_dir), dtype="float32" if prec == "int8" else prec,
                                              **common))
        if prec == "int8":  # torch's dynamic quantisation: int8 weights, activations quantised per batch
            hf.model = torch.ao.quantization.quantize_dynamic(hf.model, {torch.nn.Linear}, dtype=torch.qint8)
        systems[f"HF {prec}, batched"] = ("HF", prec, hf)
        if "ct2" not in skip:
            systems[f"CTranslate2 {prec}, batched"] = ("CT2", prec, make_translator(TranslatorConfig(
                backend="ctranslate2", model=str(ct2_dir), compute_type=prec, **common)))
    if gpu and "ct2" not in skip:
        systems["CTranslate2 int8_float16, batched"] = ("CT2", "int8_float16", make_translator(TranslatorConfig(
            backend="ctranslate2", model=str(ct2_dir), compute_type="int8_float16", **common)))
    hf32 = next(t for k, (b, p, t) in systems.items() if b == "HF")
    n_params = sum(p.numel() for p in hf32.model.parameters())  # the first HF system is not quantised
    src_tokens = [len(x) for x in hf32.encode(segs)]
    gen_tok = sum(int(n * args.max_ratio) + args.extra for n in src_tokens)
    print(f"segments: {len(segs)} from {desc}; source tokens mean {statistics.mean(src_tokens):.1f}, "
          f"max {max(src_tokens)}; {per_record:.2f} segments per Alpaca record")
    print(f"model: random MarianMT shape {args.shape!r} ({n_params / 1e6:.0f}M parameters), built in {build_s:.0f}s; "
          f"device {args.device}{' ' + torch.cuda.get_device_name() if gpu else ''}, beams {args.beams}, "
          f"cap {args.max_ratio}x+{args.extra}, batch budget {batch_tokens} tokens")
    print(header(args.threads))

    modes = {}
    if "single" not in skip:
        one = f"HF {precisions[0]}, one at a time"
        modes[one] = lambda: [hf32.translate([s])[0] for s in segs[:n1]]
    for name, (_, _, tr) in systems.items():
        modes[name] = lambda tr=tr: tr.translate(segs)
    for _, _, tr in systems.values():  # warm-up
        tr.translate(segs[:4])
    sync = torch.cuda.synchronize if gpu else None
    runs = abba(modes, sync=sync)

    deterministic = all(len({tuple(o) for o in runs.outputs(m)}) == 1 for m in modes)
    print(f"\nABBA order: {' | '.join(runs.order)}")
    print(f"before: {runs.load_before}; after: {runs.load_after}; every run of a mode gave the same outputs: "
          f"{deterministic}")
    first = {m: runs.outputs(m)[0] for m in modes}
    b32 = f"HF {precisions[0]}, batched"
    if "single" not in skip:
        same = sum(a == b for a, b in zip(first[one], first[b32][:n1]))
        print(f"batched == one-at-a-time outputs ({precisions[0]}): {same}/{n1} identical")

    def rate(m: str) -> tuple[float, float]:
        n = n1 if "one at a time" in m else len(segs)
        return 2 * n / runs.wall(m), 2 * n / runs.cpu(m)

    print(f"\n| {'mode':<34} | {'segs':>5} | {'wall s':>7} | {'CPU s':>7} | {'seg/s':>7} | {'seg/CPU-s':>9} | "
          f"{'gen tok/s':>9} | {'Alpaca 52k':>10} |")
    print(f"|{'-' * 36}|{'-' * 7}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 11}|{'-' * 11}|{'-' * 12}|")
    total_52k = ALPACA_FULL_RECORDS * per_record
    for m in modes:
        w, c = rate(m)
        proj = total_52k / w
        proj_s = f"{proj / 60:.1f} min" if proj < 3 * 3600 else f"{proj / 3600:.1f} h"
        n = n1 if "one at a time" in m else len(segs)
        print(f"| {m:<34} | {n:>5} | {runs.wall(m) / 2:>7.1f} | {runs.cpu(m) / 2:>7.1f} | {w:>7.1f} | {c:>9.1f} | "
              f"{w * gen_tok / len(segs):>9.0f} | {proj_s:>10} |")
    print("\nratios (rate over rate; wall, and CPU in brackets):")

    def ratio(a: str, b: str, what: str) -> None:
        if a in modes and b in modes:
            (wa, ca), (wb, cb) = rate(a), rate(b)
            print(f"  {what:<44} {wa / wb:>5.2f}x  ({ca / cb:.2f}x)")

    ratio(b32, one if "single" not in skip else "", "HF batched / one at a time")
    for prec in precisions:
        ratio(f"CTranslate2 {prec}, batched", f"HF {prec}, batched", f"CTranslate2 / HF, both {prec}")
    hf_best = max((m for m in modes if m.startswith("HF") and "batched" in m), key=lambda m: rate(m)[0])
    ct_best = max((m for m in modes if m.startswith("CTranslate2")), key=lambda m: rate(m)[0], default=None)
    if ct_best:
        ratio(ct_best, hf_best, f"best: {ct_best.split(',')[0]} / {hf_best.split(',')[0]}")
    print(f"\nexample output ({b32}): {first[b32][0][:100]!r}; distinct outputs: {len(set(first[b32]))}/{len(segs)}")
    print("chrF between outputs (quality check; 100 = the same text):")

    def chrf(a: str, b: str, what: str) -> None:
        if a in first and b in first:
            same = sum(x == y for x, y in zip(first[a], first[b]))
            print(f"  {what:<44} {sacrebleu.corpus_chrf(first[a], [first[b]]).score:6.1f}   identical {same}/{len(segs)}")

    for prec in precisions:
        chrf(f"CTranslate2 {prec}, batched", f"HF {prec}, batched", f"CTranslate2 vs HF, both {prec}")
    if "int8" in precisions:
        chrf("HF int8, batched", "HF float32, batched", "HF int8 vs HF float32")
        chrf("CTranslate2 int8, batched", "CTranslate2 float32, batched", "CTranslate2 int8 vs CTranslate2 float32")
    print(f"\nprojection: {ALPACA_FULL_RECORDS} records x {per_record:.2f} segments = {total_52k:,.0f} segments "
          f"(before cache hits / dedup); gen tok/s counts the capped output tokens.")
    if gpu:
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    for _, _, tr in systems.values():
        tr.close()
    tmp.cleanup()


def worker_scaling(args, segs: list[str], desc: str, hf_dir: Path, batch_tokens: int) -> None:
    """Segments/s with 1, 2, 4 ... MT workers through the stage's code path (see the module docstring)."""
    from _bench import abba, header, load

    from llammas_core.instructions.cache import SegmentCache
    from llammas_core.instructions.fanout import mt_parent_config, start_workers
    from llammas_core.instructions.mt import translate_segments
    from llammas_core.instructions.translate import TranslatorConfig, make_translator
    from llammas_core.store import LocalStore

    counts = [int(x) for x in args.workers.split(",")]
    base = TranslatorConfig(model=str(hf_dir), beams=args.beams, max_ratio=args.max_ratio, max_extra_tokens=args.extra,
                            batch_tokens=batch_tokens, max_batch_size=1024, device=args.device, threads=args.threads,
                            chunk_segments=args.chunk)
    parent = make_translator(mt_parent_config(base.model_copy(update={"workers": max(counts)})))
    identity = parent.identity()
    scratch = tempfile.TemporaryDirectory()
    started: dict[str, list[float]] = {}

    def mode(n: int):
        def run():
            cfg = base.model_copy(update={"workers": n})
            store = LocalStore(Path(scratch.name) / f"w{n}-{time.time_ns()}")
            t0 = time.perf_counter()
            tr = make_translator(cfg) if n == 1 else None
            pool = start_workers(cfg, store, identity, lambda s: None)
            started.setdefault(f"{n} workers", []).append(time.perf_counter() - t0)
            try:
                table, _ = translate_segments(segs, tr or parent, SegmentCache(store, identity), None, args.chunk, pool)
            finally:
                if pool is not None:
                    pool.close()  # the workers' CPU seconds count once they are reaped
            return [table[s] for s in segs]
        return run

    print(f"segments: {len(segs)} from {desc} ({len(set(segs))} distinct); model {args.shape!r}; device {args.device}; "
          f"chunks of {args.chunk}; {args.threads} thread(s) per worker")
    print(header(args.threads))
    runs = abba({f"{n} workers": mode(n) for n in counts})
    same = all(o == runs.outputs(runs.order[0])[0] for m in runs.runs for o in runs.outputs(m))
    print(f"ABBA order: {' | '.join(runs.order)}")
    print(f"before: {runs.load_before}; after: {runs.load_after}; now {load()}; every run gave the same translations: {same}")
    print(f"\n| {'workers':>7} | {'start s':>7} | {'translate s':>11} | {'CPU s':>7} | {'seg/s':>7} | {'seg/s incl. start':>17} | "
          f"{'speed-up':>8} |")
    print(f"|{'-' * 9}|{'-' * 9}|{'-' * 13}|{'-' * 9}|{'-' * 9}|{'-' * 19}|{'-' * 10}|")
    rate1 = None
    for n in counts:
        m = f"{n} workers"
        wall, cpu, start = runs.wall(m) / 2, runs.cpu(m) / 2, sum(started[m]) / 2
        rate = len(segs) / (wall - start)
        rate1 = rate1 or rate
        print(f"| {n:>7} | {start:>7.1f} | {wall - start:>11.1f} | {cpu:>7.1f} | {rate:>7.1f} | {len(segs) / wall:>17.1f} | "
              f"{rate / rate1:>7.2f}x |")
    print(f"(means of {len(runs.order) // len(counts)} runs each; CPU s: parent + workers, start-up included; "
          f"{os.cpu_count()} CPUs on this machine)")
    parent.close()
    scratch.cleanup()


if __name__ == "__main__":
    main()
