"""Telemetry: real tokens, tokens/s, MFU, peak memory, the loss curve (training and validation) ->
metrics.jsonl, loss.png and the log lines the Prefect task turns into progress."""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import TrainerCallback

from llammas_core.train.config import TrainConfig
from llammas_core.train.dist import dist_env, dist_ready, is_main, say
from llammas_core.train.modeling import ModelShape

METRICS_JSONL = "metrics.jsonl"
METRICS_JSON = "metrics.json"
LOSS_PNG = "loss.png"
IGNORE_INDEX = -100


@dataclass
class Meter:
    """Real-token and attention-work counters fed by the trainer for every micro-batch (this rank)."""

    tokens: int = 0
    seq_sq: int = 0          # sum over sequences of length^2 (attention FLOPs)
    label_tokens: int = 0

    def observe(self, inputs: dict) -> None:
        ids = inputs["input_ids"]
        labels = inputs.get("labels")
        if labels is not None:
            self.label_tokens += int((labels[..., 1:] != IGNORE_INDEX).sum())
        mask = inputs.get("attention_mask")
        pos = inputs.get("position_ids")
        if mask is not None:
            lens = mask.sum(-1)
            self.tokens += int(lens.sum())
            self.seq_sq += int((lens.long() ** 2).sum())
        elif pos is not None and ids.shape[0] == 1:
            p = pos.view(-1)
            starts = torch.nonzero(p == 0).view(-1).tolist() + [p.numel()]
            lens = [b - a for a, b in zip(starts[:-1], starts[1:])] or [p.numel()]
            self.tokens += p.numel()
            self.seq_sq += sum(n * n for n in lens)
        else:
            b, t = ids.shape[0], ids.shape[-1]
            self.tokens += b * t
            self.seq_sq += b * t * t


def peak_tflops(cfg: TrainConfig) -> tuple[float | None, str]:
    if not torch.cuda.is_available():
        return cfg.telemetry.peak_tflops, "cpu"
    name = torch.cuda.get_device_name()
    if cfg.telemetry.peak_tflops:
        return cfg.telemetry.peak_tflops, name
    best = None
    for key, value in cfg.telemetry.device_peaks.items():
        if key.lower() in name.lower() and (best is None or len(key) > len(best[0])):
            best = (key, value)
    return (best[1] if best else None), name


def peak_memory_bytes() -> int:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def plot_losses(records: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None and math.isfinite(r["loss"])]
    evals = [(r["step"], r["eval_loss"]) for r in records
             if r.get("eval_loss") is not None and math.isfinite(r["eval_loss"])]
    if not pts and not evals:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2, label="training")
    if evals:
        ax.plot([p[0] for p in evals], [p[1] for p in evals], "o-", lw=1.2, label="validation")
        ax.legend()
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)



class TelemetryCallback(TrainerCallback):
    """Tokens seen, real tokens/s, MFU, peak memory and the loss curve -> metrics.jsonl + loss.png."""

    def __init__(self, meter: Meter, shape: ModelShape, method: str, peak: float | None, device_name: str,
                 output: Path, phase: str, plot: bool, base: dict | None = None):
        self.meter, self.shape, self.method = meter, shape, method
        self.peak, self.device_name = peak, device_name
        self.output, self.phase, self.plot = output, phase, plot
        self.flops_coeff = 6 if method == "full" else 4
        base = base or {}
        self.total_tokens = int(base.get("tokens", 0))      # global, over all attempts
        self.total_flops = float(base.get("flops", 0.0))
        self.records: list[dict] = []
        self._last = (0, 0)  # meter.tokens, meter.seq_sq at the last log
        self._t_last = None
        self._steady_tokens = 0
        self._steady_flops = 0.0
        self._steady_seconds = 0.0
        self._logs_this_run = 0
        self.resumed_from = 0
        self.world = dist_env()[2]

    # -- helpers
    def _global(self, values: list[float], device) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=device)
        if dist_ready():
            torch.distributed.all_reduce(t)
        return t.tolist()

    def _global_max(self, value: float, device) -> float:
        t = torch.tensor([value], dtype=torch.float64, device=device)
        if dist_ready():
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return float(t.item())

    def flops_for(self, tokens: float, seq_sq: float) -> float:
        return self.flops_coeff * self.shape.n_flop_params * tokens + 12.0 * self.shape.layers * self.shape.hidden * seq_sq

    def load_history(self, records: list[dict], upto_step: int) -> None:
        self.records = [r for r in records if r.get("step", 0) <= upto_step]
        self.resumed_from = upto_step
        if is_main():
            self._rewrite_jsonl()

    def _rewrite_jsonl(self) -> None:
        path = self.output / METRICS_JSONL
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w") as f:
            for r in self.records:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, path)

    # -- events
    def on_train_begin(self, args, state, control, **kwargs):
        self._t_last = time.perf_counter()
        self._last = (self.meter.tokens, self.meter.seq_sq)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "eval_loss" in logs:  # the validation loss (Trainer.evaluate on the held-out slice)
            rec = {"step": state.global_step, "eval_loss": float(logs["eval_loss"]), "time": round(time.time(), 3)}
            self.records.append(rec)
            if is_main():
                with open(self.output / METRICS_JSONL, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                say(f"[{self.phase}] step {state.global_step}/{state.max_steps} validation loss {rec['eval_loss']:.4f}")
            return
        if "loss" not in logs:
            return
        now = time.perf_counter()
        d_tok, d_sq = self.meter.tokens - self._last[0], self.meter.seq_sq - self._last[1]
        self._last = (self.meter.tokens, self.meter.seq_sq)
        g_tok, g_sq = self._global([d_tok, d_sq], args.device)
        dt = max(now - (self._t_last or now), 1e-9)
        self._t_last = now
        flops = self.flops_for(g_tok, g_sq)
        self.total_tokens += int(g_tok)
        self.total_flops += flops
        self._logs_this_run += 1
        if self._logs_this_run > 1:  # the first interval holds warm-up / allocator / compile time
            self._steady_tokens += int(g_tok)
            self._steady_flops += flops
            self._steady_seconds += dt
        tps = g_tok / dt
        mfu = (flops / dt) / (self.peak * 1e12 * self.world) if self.peak else None
        mem = self._global_max(float(peak_memory_bytes()), args.device)
        rec = {
            "step": state.global_step,
            "epoch": round(state.epoch or 0.0, 4),
            "loss": float(logs["loss"]),
            "grad_norm": float(logs["grad_norm"]) if logs.get("grad_norm") is not None else None,
            "lr": logs.get("learning_rate"),
            "tokens": self.total_tokens,
            "tokens_per_s": round(tps, 2),
            "mfu": float(f"{mfu:.6g}") if mfu is not None else None,
            "peak_mem_gib": round(mem / 1024 ** 3, 3),
            "time": round(time.time(), 3),
        }
        self.records.append(rec)
        if is_main():
            with open(self.output / METRICS_JSONL, "a") as f:
                f.write(json.dumps(rec) + "\n")
            mfu_s = f" mfu {100 * mfu:.1f}%" if mfu is not None else ""
            say(f"[{self.phase}] step {state.global_step}/{state.max_steps} loss {rec['loss']:.4f} "
                f"lr {rec['lr']:.3g} gnorm {rec['grad_norm'] if rec['grad_norm'] is None else round(rec['grad_norm'], 3)} "
                f"tok/s {tps:,.0f}{mfu_s} mem {rec['peak_mem_gib']:.2f} GiB tokens {self.total_tokens:,}")

    def summary(self) -> dict:
        losses = [r["loss"] for r in self.records if r.get("loss") is not None]
        evals = [r["eval_loss"] for r in self.records if r.get("eval_loss") is not None]
        train_recs = [r for r in self.records if "loss" in r]
        tail = losses[-10:]
        if self._steady_seconds > 0:
            tps = self._steady_tokens / self._steady_seconds
            flops_s = self._steady_flops / self._steady_seconds
        else:  # a single logged interval: use it as is
            r = train_recs[-1] if train_recs else None
            tps = r["tokens_per_s"] if r else None
            flops_s = None
        mfu = flops_s / (self.peak * 1e12 * self.world) if (self.peak and flops_s) else None
        if mfu is None and tps and self.peak and train_recs:
            mfu = train_recs[-1].get("mfu")
        return {
            "phase": self.phase,
            "steps": train_recs[-1]["step"] if train_recs else 0,
            "tokens": self.total_tokens,
            "tokens_per_s": round(tps, 2) if tps else None,
            "tokens_per_s_per_device": round(tps / self.world, 2) if tps else None,
            "mfu": float(f"{mfu:.6g}") if mfu is not None else None,
            "final_loss": losses[-1] if losses else None,
            "final_loss_avg10": (sum(tail) / len(tail)) if tail else None,
            "first_loss": losses[0] if losses else None,
            "final_eval_loss": evals[-1] if evals else None,
            "peak_memory_gib": max((r["peak_mem_gib"] for r in train_recs), default=None),
            "device": self.device_name,
            "peak_tflops_per_device": self.peak,
            "world_size": self.world,
            "flops_per_token_convention": (
                f"{self.flops_coeff}N + 12*L*H*T (N = {self.shape.n_flop_params:,} parameters excluding the input "
                f"embedding; L={self.shape.layers}, H={self.shape.hidden}; T = each sequence's length; no recompute)"),
            "n_params": self.shape.n_params,
            "n_flop_params": self.shape.n_flop_params,
            "resumed_from_step": self.resumed_from,
        }

    def on_save(self, args, state, control, **kwargs):
        if is_main() and self.plot:
            with contextlib.suppress(Exception):
                plot_losses(self.records, self.output / LOSS_PNG, f"{self.phase} loss")

    def on_train_end(self, args, state, control, **kwargs):
        if is_main() and self.plot:
            plot_losses(self.records, self.output / LOSS_PNG, f"{self.phase} loss")
