"""One prepared GPU check for the training stack (torch, transformers, peft only; no prefect, no pydantic).

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --out $OUT/gpu_check.json       # H200: ~6-8 min
    python benchmarks/gpu_check.py --tiny --device cpu                                  # CPU smoke test, ~1 min

Sections (each prints a table; all results also go to --out as JSON; a section that would pass
--budget-s is skipped and says so):

1. correctness: llammas_packed_sdpa (per-sequence SDPA, and its opt-in torch.nn.attention.varlen path
   LLAMMAS_TORCH_VARLEN=1), flash_attention_2 when flash_attn is installed, on a packed row
   of a random Mistral with a sliding window vs each sequence alone (eager), on the device, fp32 and bf16.
2. MFU of a 1B-class Llama (TinyLlama-1.1B shape, random init) at sequence length 2048, bf16 autocast over
   fp32 master weights, fused AdamW, over settings: attention kernel, micro-batch, torch.compile, fused
   loss (Liger when installed, else a chunked lm_head+CE), gradient checkpointing.
   MFU = (6N + 12 L H T) x tokens/s / peak, N = parameters without the input embedding (the trainer's
   convention; recomputation not counted). Peak: bf16 dense spec by GPU name (H100/H200 989 TFLOP/s),
   and a measured 8192^3 bf16 matmul for reference.
3. padding-free vs padded on the 1B model with SFT-like lengths (lognormal, median 110): padded random,
   padded group_by_length (HF's mega-batch sort), padding-free with masked sdpa / the packed kernel /
   torch varlen / flash varlen;
   real tokens/s and the ratio of total times.
4. a 7B-shaped Llama (Llama-2-7B: hidden 4096, 32 layers, ffn 11008, vocab 32000), seq 2048, gradient
   checkpointing: LoRA r=16 on all linear layers (bf16 frozen base) and full fine-tuning (fp32 master
   weights, then pure bf16 if that does not fit); tokens/s, MFU (LoRA: 4N + 12LHT), peak memory, or OOM.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PEAKS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "H200": 989.0, "GH200": 989.0, "A100": 312.0,
         "L40S": 362.0, "A10G": 125.0}  # bf16 dense spec, as llammas_core.train.config.DEFAULT_PEAK_TFLOPS

SHAPES = {
    "1b": dict(hidden=2048, layers=22, heads=32, kv_heads=4, ffn=5632, vocab=32000, seq=2048),
    "7b": dict(hidden=4096, layers=32, heads=32, kv_heads=32, ffn=11008, vocab=32000, seq=2048),
    "tiny1b": dict(hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, vocab=512, seq=128),
    "tiny7b": dict(hidden=96, layers=2, heads=4, kv_heads=4, ffn=192, vocab=512, seq=128),
}


class Budget:
    def __init__(self, seconds: float):
        self.t0, self.seconds = time.time(), seconds

    def left(self) -> float:
        return self.seconds - (time.time() - self.t0)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def free(device):
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_tflops(device) -> tuple[float | None, str]:
    if device != "cuda":
        return None, "cpu"
    name = torch.cuda.get_device_name()
    best = max((k for k in PEAKS if k.lower() in name.lower()), key=len, default=None)
    return (PEAKS[best] if best else None), name


def measured_matmul_tflops(device) -> float | None:
    if device != "cuda":
        return None
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(10):
        a @ b
    sync(device)
    return round(2 * 8192 ** 3 * 10 / (time.perf_counter() - t) / 1e12, 1)


def flash_available(device) -> bool:
    return device == "cuda" and importlib.util.find_spec("flash_attn") is not None


def torch_varlen_available(device) -> bool:
    return device == "cuda" and importlib.util.find_spec("torch.nn.attention.varlen") is not None


@contextlib.contextmanager
def torch_varlen(on: bool):
    """Switch llammas_packed_sdpa's torch.nn.attention.varlen path (attention.USE_TORCH_VARLEN)."""
    from llammas_core.train import attention

    old = attention.USE_TORCH_VARLEN
    attention.USE_TORCH_VARLEN = on
    try:
        yield
    finally:
        attention.USE_TORCH_VARLEN = old


def liger_available(device) -> bool:
    return device == "cuda" and importlib.util.find_spec("liger_kernel") is not None


def build_llama(shape: dict, attn: str, device: str, dtype=torch.float32, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=shape["vocab"], hidden_size=shape["hidden"], intermediate_size=shape["ffn"],
                      num_hidden_layers=shape["layers"], num_attention_heads=shape["heads"],
                      num_key_value_heads=shape["kv_heads"], max_position_embeddings=max(4096, shape["seq"]),
                      tie_word_embeddings=False, use_cache=False, attn_implementation=attn)
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(cfg)
    return model.to(dtype)


def n_flop_params(model) -> int:
    return sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()


def chunked_loss(model, batch):
    """lm_head + cross-entropy per chunk of tokens, recomputed in backward: no [tokens, vocab] logits."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_throughput import chunked_causal_lm_loss

    return chunked_causal_lm_loss(model, batch)


def autocast(device, on=True):
    return torch.autocast(device_type=device, dtype=torch.bfloat16) if on else contextlib.nullcontext()


def time_steps(model, opt, batches, device, warmup, steps, loss_mode, bf16=True):
    """Median step time of fwd+bwd+clip+AdamW over `steps` timed steps (after `warmup`)."""
    times, loss = [], None
    for i in range(warmup + steps):
        batch = batches[i % len(batches)]
        sync(device)
        t = time.perf_counter()
        with autocast(device, bf16):
            loss = chunked_loss(model, batch) if loss_mode == "chunked" else model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2], float(loss.detach())


def is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


# ----------------------------------------------------------------------------- 1. correctness


def check_correctness(device) -> list[dict]:
    from transformers import MistralConfig, MistralForCausalLM

    from llammas_core.train.attention import register_packed_attention

    packed = register_packed_attention()
    rows = []
    lengths = (5, 300, 77, 1, 129)
    for dtype, tol in ((torch.float32, 2e-4), (torch.bfloat16, 5e-2)):
        cfg = MistralConfig(vocab_size=512, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                            num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=1024,
                            sliding_window=64, attn_implementation="eager")
        torch.manual_seed(0)
        with torch.device(device):
            model = MistralForCausalLM(cfg).to(dtype).eval()
        g = torch.Generator().manual_seed(1)
        seqs = [torch.randint(0, 512, (n,), generator=g).to(device) for n in lengths]
        with torch.no_grad():
            ref = torch.cat([model(input_ids=s[None]).logits[0].float() for s in seqs])
            ids = torch.cat(seqs)[None]
            pos = torch.cat([torch.arange(len(s), device=device) for s in seqs])[None]
            impls = [(packed, False)]
            if dtype != torch.float32 and torch_varlen_available(device):
                impls.append((packed, True))
            if dtype != torch.float32 and flash_available(device):
                impls.append(("flash_attention_2", False))
            for impl, varlen in impls:
                model.set_attn_implementation(impl)
                try:
                    with torch_varlen(varlen):
                        err = (model(input_ids=ids, position_ids=pos).logits[0].float() - ref).abs().max().item()
                    row = {"max_abs_err": err, "ok": err < tol}
                except Exception as e:
                    row = {"max_abs_err": float("nan"), "ok": False, "error": f"{type(e).__name__}: {str(e)[:160]}"}
                rows.append({"kernel": impl + (" +torch varlen" if varlen else ""),
                             "dtype": str(dtype).replace("torch.", ""), "tolerance": tol, **row})
            model.set_attn_implementation("eager")
    print("\n== 1. packed row (sliding window 64, GQA 8/2) vs each sequence alone (eager)")
    print(f"{'kernel':<36}{'dtype':<10}{'max |diff|':>12}{'tol':>9}  ok")
    for r in rows:
        print(f"{r['kernel']:<36}{r['dtype']:<10}{r['max_abs_err']:>12.2e}{r['tolerance']:>9.0e}  {r['ok']} "
              f"{r.get('error', '')}")
    return rows


# ----------------------------------------------------------------------------- 2. MFU of the 1B model


def mfu_settings(device, tiny: bool, no_compile: bool) -> list[dict]:
    fused = "liger" if liger_available(device) else "chunked"
    fa = flash_available(device)
    base_attn = "flash_attention_2" if fa else "sdpa"
    grid = [
        dict(attn="sdpa", micro_batch=4, compile=False, loss="none", ckpt=False),
        dict(attn="sdpa", micro_batch=8, compile=False, loss="none", ckpt=False),
        dict(attn="sdpa", micro_batch=8, compile=False, loss=fused, ckpt=False),
    ]
    if fa:
        grid.append(dict(attn="flash_attention_2", micro_batch=8, compile=False, loss=fused, ckpt=False))
    grid.append(dict(attn=base_attn, micro_batch=16, compile=False, loss=fused, ckpt=True))
    if not no_compile:
        grid.append(dict(attn=base_attn, micro_batch=8, compile=True, loss="chunked" if fused == "chunked" else fused,
                         ckpt=False))
    if tiny:
        for g in grid:
            g["micro_batch"] = max(1, g["micro_batch"] // 4)
    return grid


def apply_liger(model):
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    _apply_liger_kernel_to_instance(model=model, fused_linear_cross_entropy=True, cross_entropy=False, rope=True,
                                    rms_norm=True, swiglu=True)


def run_mfu(device, shape, settings, budget: Budget, steps, warmup, per_config_s) -> list[dict]:
    peak, name = peak_tflops(device)
    rows = []
    for s in settings:
        row = dict(s)
        if budget.left() < per_config_s * (3 if s["compile"] else 1):
            row["result"] = "skipped (budget)"
            rows.append(row)
            continue
        free(device)
        try:
            model = build_llama(shape, s["attn"], device)  # fp32 master weights, bf16 autocast
            model.train()
            if s["ckpt"]:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if s["loss"] == "liger":
                apply_liger(model)
            if s["compile"]:
                model.model.compile()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device == "cuda")
            g = torch.Generator().manual_seed(0)
            ids = torch.randint(0, shape["vocab"], (s["micro_batch"], shape["seq"]), generator=g).to(device)
            batches = [{"input_ids": ids, "labels": ids}]
            t0 = time.time()
            step_s, loss = time_steps(model, opt, batches, device, warmup + (2 if s["compile"] else 0), steps,
                                      "chunked" if s["loss"] == "chunked" else "none")
            n = n_flop_params(model)
            tokens = s["micro_batch"] * shape["seq"]
            fpt = 6 * n + 12 * shape["layers"] * shape["hidden"] * shape["seq"]
            tps = tokens / step_s
            row.update(step_s=round(step_s, 4), tokens_per_s=round(tps), tflops=round(fpt * tps / 1e12, 1),
                       mfu=round(fpt * tps / (peak * 1e12), 4) if peak else None, final_loss=round(loss, 3),
                       peak_mem_gib=round(torch.cuda.max_memory_allocated() / 2 ** 30, 1) if device == "cuda" else None,
                       wall_s=round(time.time() - t0, 1), result="ok")
        except Exception as e:  # OOM or a kernel that does not run here: reported, the others go on
            row["result"] = "OOM" if is_oom(e) else f"error: {type(e).__name__}: {str(e)[:160]}"
        finally:
            model = opt = None  # noqa: F841
            free(device)
        rows.append(row)
    print(f"\n== 2. MFU, Llama {shape['hidden']}x{shape['layers']} (vocab {shape['vocab']}), seq {shape['seq']}, "
          f"bf16 autocast, fp32 master weights, fused AdamW; peak {peak} TFLOP/s ({name})")
    print(f"{'attention':<19}{'mb':>4}{'compile':>9}{'loss':>9}{'ckpt':>6}{'step s':>9}{'tok/s':>10}{'TFLOP/s':>9}"
          f"{'MFU':>8}{'mem GiB':>9}  result")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-"
        print(f"{r['attn']:<19}{r['micro_batch']:>4}{str(r['compile']):>9}{r['loss']:>9}{str(r['ckpt']):>6}"
              f"{r.get('step_s', '-'):>9}{r.get('tokens_per_s', '-'):>10}{r.get('tflops', '-'):>9}{mfu:>8}"
              f"{str(r.get('peak_mem_gib', '-')):>9}  {r['result']}")
    return rows


# ----------------------------------------------------------------------------- 3. packing on the GPU


def run_packing(device, shape, budget: Budget, n_batches: int, micro: int, per_config_s) -> dict:
    from transformers.trainer_pt_utils import get_length_grouped_indices

    from llammas_core.train.attention import register_packed_attention

    if budget.left() < per_config_s * 2:
        print("\n== 3. padding-free vs padded: skipped (budget)")
        return {"result": "skipped (budget)"}
    g = torch.Generator().manual_seed(0)
    n_ex = 4000
    lens = torch.exp(torch.randn(n_ex, generator=g) * 0.75 + math.log(110)).clamp(16, shape["seq"] // 2).long().tolist()
    grouped_order = get_length_grouped_indices(lens, micro, generator=g)
    all_grouped = [grouped_order[i:i + micro] for i in range(0, n_ex - micro + 1, micro)]
    grouped = [all_grouped[i] for i in torch.randperm(len(all_grouped), generator=g)[:n_batches].tolist()]
    chosen = [i for b in grouped for i in b]
    shuffled = [chosen[i] for i in torch.randperm(len(chosen), generator=g).tolist()]
    rand = [shuffled[i:i + micro] for i in range(0, len(shuffled), micro)]
    toks = {i: torch.randint(0, shape["vocab"], (lens[i],), generator=g) for i in chosen}

    def padded(idx):
        n = max(lens[i] for i in idx)
        ids = torch.zeros(len(idx), n, dtype=torch.long)
        mask = torch.zeros(len(idx), n, dtype=torch.long)
        labels = torch.full((len(idx), n), -100)
        for r, i in enumerate(idx):
            ids[r, : lens[i]], mask[r, : lens[i]], labels[r, : lens[i]] = toks[i], 1, toks[i]
        return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}

    def packed(idx):
        ids = torch.cat([toks[i] for i in idx])[None]
        pos = torch.cat([torch.arange(lens[i]) for i in idx])[None]
        labels = torch.cat([torch.cat([torch.tensor([-100]), toks[i][1:]]) for i in idx])[None]
        return {"input_ids": ids.to(device), "position_ids": pos.to(device), "labels": labels.to(device)}

    pk = register_packed_attention()
    modes = {"padded, random": ("sdpa", padded, rand, False),
             "padded, group_by_length": ("sdpa", padded, grouped, False),
             "padding-free, masked sdpa": ("sdpa", packed, rand, False),
             "padding-free, packed": (pk, packed, rand, False)}
    if torch_varlen_available(device):
        modes["padding-free, torch varlen"] = (pk, packed, rand, True)
    if flash_available(device):
        modes["padding-free, flash varlen"] = ("flash_attention_2", packed, rand, False)
    free(device)
    model = build_llama(shape, "sdpa", device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device == "cuda")
    stats = {m: {"s": 0.0, "tok": 0, "pos": 0} for m in modes}
    failed: dict[str, str] = {}
    for rep in range(2):  # rep 0 warms up every mode's kernels untimed
        for b in range(n_batches if rep else 1):
            for m, (attn, collate, batches, varlen) in modes.items():
                if m in failed:
                    continue
                model.set_attn_implementation(attn)
                batch = collate(batches[b])
                sync(device)
                t = time.perf_counter()
                try:
                    with torch_varlen(varlen):
                        with autocast(device):
                            loss = model(**batch).loss
                        loss.backward()
                except Exception as e:  # a kernel that does not run here: reported, the others go on
                    failed[m] = f"{type(e).__name__}: {str(e)[:160]}"
                    opt.zero_grad(set_to_none=True)
                    continue
                if (b + 1) % 8 == 0:
                    opt.step()
                opt.zero_grad(set_to_none=True)
                sync(device)
                if rep:
                    stats[m]["s"] += time.perf_counter() - t
                    stats[m]["tok"] += sum(lens[i] for i in batches[b])
                    stats[m]["pos"] += batch["input_ids"].numel()
    model = opt = None
    free(device)
    ref = stats["padding-free, packed"]["s"] or float("nan")
    print(f"\n== 3. padding-free vs padded, {n_batches} micro-batches of {micro} SFT-like sequences (lognormal "
          f"median 110), same examples in every mode, model {shape['hidden']}x{shape['layers']}")
    print(f"{'mode':<28}{'attention':<22}{'real tok':>9}{'pad %':>7}{'seconds':>9}{'real tok/s':>12}{'time / packed':>15}")
    out = {}
    for m, st in stats.items():
        if m in failed or not st["s"]:
            out[m] = {"attention": modes[m][0], "result": f"error: {failed.get(m)}"}
            print(f"{m:<28}{modes[m][0]:<22}  error: {failed.get(m)}")
            continue
        out[m] = {"attention": modes[m][0], "seconds": round(st["s"], 3), "real_tokens": st["tok"],
                  "pad_fraction": round(1 - st["tok"] / st["pos"], 3), "real_tokens_per_s": round(st["tok"] / st["s"]),
                  "time_ratio_vs_packed": round(st["s"] / ref, 2)}
        x = out[m]
        print(f"{m:<28}{x['attention']:<22}{x['real_tokens']:>9}{100 * x['pad_fraction']:>6.1f}%{x['seconds']:>9.2f}"
              f"{x['real_tokens_per_s']:>12,}{x['time_ratio_vs_packed']:>14.2f}x")
    return out


# ----------------------------------------------------------------------------- 4. 7B: LoRA and full FT


def run_7b(device, shape, budget: Budget, steps, warmup, micro, per_config_s) -> list[dict]:
    from peft import LoraConfig, get_peft_model

    peak, _ = peak_tflops(device)
    attn = "flash_attention_2" if flash_available(device) else "sdpa"
    plans = [("lora r16 all-linear, bf16 base", "lora", torch.bfloat16, micro),
             ("full FT, fp32 master + bf16 autocast", "full", torch.float32, max(1, micro // 2)),
             ("full FT, pure bf16 weights", "full", torch.bfloat16, max(1, micro // 2))]
    rows = []
    full_ok = False
    for label, kind, dtype, mb in plans:
        row = {"setup": label, "micro_batch": mb, "attn": attn}
        if kind == "full" and dtype == torch.bfloat16 and full_ok:
            row["result"] = "not needed (fp32 master fits)"
            rows.append(row)
            continue
        if budget.left() < per_config_s:
            row["result"] = "skipped (budget)"
            rows.append(row)
            continue
        free(device)
        model = opt = None
        try:
            t0 = time.time()
            model = build_llama(shape, attn, device, dtype=dtype)
            n = n_flop_params(model)
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if kind == "lora":
                model.enable_input_require_grads()
                model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                                         "gate_proj", "up_proj", "down_proj"]))
            model.train()
            params = [p for p in model.parameters() if p.requires_grad]
            opt = torch.optim.AdamW(params, lr=1e-5, fused=device == "cuda")
            g = torch.Generator().manual_seed(0)
            ids = torch.randint(0, shape["vocab"], (mb, shape["seq"]), generator=g).to(device)
            step_s, loss = time_steps(model, opt, [{"input_ids": ids, "labels": ids}], device, warmup, steps, "none")
            tps = mb * shape["seq"] / step_s
            fpt = (4 if kind == "lora" else 6) * n + 12 * shape["layers"] * shape["hidden"] * shape["seq"]
            row.update(step_s=round(step_s, 3), tokens_per_s=round(tps), mfu=round(fpt * tps / (peak * 1e12), 4) if peak else None,
                       trainable_m=round(sum(p.numel() for p in params) / 1e6, 1),
                       peak_mem_gib=round(torch.cuda.max_memory_allocated() / 2 ** 30, 1) if device == "cuda" else None,
                       final_loss=round(loss, 3), wall_s=round(time.time() - t0, 1), result="ok")
            full_ok = full_ok or kind == "full"
        except Exception as e:
            row["result"] = "OOM (does not fit)" if is_oom(e) else f"error: {type(e).__name__}: {str(e)[:160]}"
        finally:
            model = opt = None
            free(device)
        rows.append(row)
    print(f"\n== 4. 7B-shaped Llama ({shape['hidden']}x{shape['layers']}, ffn {shape['ffn']}), seq {shape['seq']}, "
          f"gradient checkpointing, {attn}; MFU: 6N (full) / 4N (LoRA) + 12LHT per token")
    print(f"{'setup':<40}{'mb':>4}{'step s':>9}{'tok/s':>9}{'MFU':>8}{'trainable M':>13}{'mem GiB':>9}  result")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-"
        print(f"{r['setup']:<40}{r['micro_batch']:>4}{r.get('step_s', '-'):>9}{r.get('tokens_per_s', '-'):>9}{mfu:>8}"
              f"{r.get('trainable_m', '-'):>13}{str(r.get('peak_mem_gib', '-')):>9}  {r['result']}")
    return rows


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tiny", action="store_true", help="tiny shapes (CPU smoke test of the script)")
    p.add_argument("--budget-s", type=float, default=480, help="stop starting new measurements after this")
    p.add_argument("--steps", type=int, default=None, help="timed steps per setting")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile setting")
    p.add_argument("--sections", default="1,2,3,4", help="which sections to run")
    p.add_argument("--out", default=None, help="write all results as JSON here")
    a = p.parse_args(argv)
    device = a.device
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    budget = Budget(a.budget_s)
    s1, s7 = (SHAPES["tiny1b"], SHAPES["tiny7b"]) if a.tiny else (SHAPES["1b"], SHAPES["7b"])
    steps = a.steps or (2 if a.tiny else 5)
    per_cfg = 1 if a.tiny else 25
    sections = {int(x) for x in a.sections.split(",") if x}
    env = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
           "transformers": __import__("transformers").__version__, "peft": __import__("peft").__version__,
           "flash_attn": flash_available(device), "liger_kernel": liger_available(device),
           "torch_varlen_attn": importlib.util.find_spec("torch.nn.attention.varlen") is not None}
    env["peak_tflops_spec"], _ = peak_tflops(device)
    env["matmul_bf16_tflops_measured"] = measured_matmul_tflops(device)
    print("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    result: dict = {"environment": env, "tiny": a.tiny}
    if 1 in sections:
        result["correctness"] = check_correctness(device)
    if 2 in sections:
        result["mfu_1b"] = run_mfu(device, s1, mfu_settings(device, a.tiny, a.no_compile or device != "cuda"),
                                   budget, steps, 2, per_cfg)
    if 3 in sections:
        result["packing_1b"] = run_packing(device, s1, budget, n_batches=4 if a.tiny else 12, micro=16, per_config_s=per_cfg)
    if 4 in sections:
        result["llama_7b"] = run_7b(device, s7, budget, steps=2 if a.tiny else 3, warmup=1, micro=4, per_config_s=per_cfg * 3)
    result["seconds"] = round(time.time() - budget.t0, 1)
    print(f"\ntotal {result['seconds']} s")
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
