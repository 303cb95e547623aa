"""Training: CPT/SFT with transformers' Trainer on tiny CPU models (no network, no GPU).

The shared fixtures build one tiny base and run one CPT job in-process; the other tests reuse them.
Subprocess tests (kill + resume, torchrun DDP, stages) cost ~10-30 s each on 2 cores.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from llammas_core.errors import ConfigError, InputError, LlammasError, TransientError
from llammas_core.train.config import ALPACA_CHAT_TEMPLATE, TrainConfig, preset, preset_yaml
from llammas_core.train.launch import (
    NonFiniteLossError,
    TrainerCrashed,
    WallClockLimit,
    build_command,
    run_command,
    trainer_env,
)

REPO = Path(__file__).resolve().parents[1]

WORDS = ("tere hommikust kuidas läheb mul läheb hästi aitäh väga ilus ilm täna eesti keel on ilus "
         "ja rikas kõik inimesed sünnivad vabadena").split()


def _et_doc(i: int) -> str:
    return " ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(40)) + "."


def _sft_records(n: int = 48) -> list[dict]:
    out = []
    for i in range(n):
        answer = " ".join(["jah"] * (1 + i % 7)) if i % 2 else f"Number {i} on {'väike' if i < 20 else 'suur'}."
        out.append({"instruction": f"Ütle midagi numbri {i} kohta", "input": "" if i % 3 else "lühidalt",
                    "output": answer})
    return out


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    """Corpora, SFT data and a tiny base model (vocab 400, hidden 64, 2 layers)."""
    from llammas_core.train.tiny import save_tiny_base

    root = tmp_path_factory.mktemp("train-kit")
    et = [_et_doc(i) for i in range(160)]
    en = ["the quick brown fox jumps over the lazy dog and runs away " * 3 for _ in range(80)]
    (root / "et.jsonl").write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in et))
    (root / "en.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in en))
    (root / "sft.json").write_text(json.dumps(_sft_records(), ensure_ascii=False))
    base = save_tiny_base(root / "base", et + en + [r["output"] for r in _sft_records()], vocab_size=400,
                          hidden_size=64, layers=2, heads=4, kv_heads=2, intermediate=128, max_position=512)
    return {"root": root, "base": base, "et": str(root / "et.jsonl"), "en": str(root / "en.jsonl"),
            "sft": str(root / "sft.json")}


def cpt_config(kit, **optim) -> TrainConfig:
    return TrainConfig.model_validate({
        "model": {"base": kit["base"], "gradient_checkpointing": False},
        "cpt": {"sources": [kit["et"], kit["en"]], "probabilities": [0.75, 0.25], "block_size": 64, "max_steps": 20},
        "sft": {"enabled": False},
        "optim": {"lr": 3e-3, "min_lr_ratio": 0.1, "warmup_ratio": 0.1, "micro_batch_size": 4, "seed": 42, **optim},
        "checkpoint": {"every_steps": 5, "keep_last": 2},
        "launch": {"launcher": "python"},
        "telemetry": {"peak_tflops": 1.0, "log_every_steps": 1, "report_to": []},  # nominal CPU peak: MFU computed
    })


def _losses(path: Path) -> dict[int, float]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            if "loss" in r:  # (validation records carry eval_loss)
                out[r["step"]] = r["loss"]
    return out


@pytest.fixture(scope="session")
def tokenized(kit, tmp_path_factory) -> str:
    """The kit's corpora as token blocks (the tokenize stage); its manifest URI."""
    from llammas_core.store import LocalStore
    from llammas_core.train.tokenize import run_tokenize

    root = tmp_path_factory.mktemp("tokenized")
    return run_tokenize(LocalStore(root / "store"), cpt_config(kit), root / "work").manifest_uri


@pytest.fixture(scope="session")
def cpt_run(kit, tokenized, tmp_path_factory):
    """One uninterrupted 20-step CPT run (in-process), checkpoints synced to a file:// store, TensorBoard on."""
    from llammas_core.train.trainer import train

    out = tmp_path_factory.mktemp("cpt-run")
    sync = out / "sync"
    cfg = cpt_config(kit)
    cfg.telemetry.report_to = ["tensorboard"]
    metrics = train(cfg, "cpt", out / "out", checkpoint_dir=out / "ckpt", sync_uri=sync.as_uri(), data=tokenized)
    return {"out": out / "out", "ckpt": out / "ckpt", "sync": sync, "metrics": metrics}


# ----------------------------------------------------------------------------- config


def test_presets_validate_and_dump():
    et = preset("llammas-et")
    assert et.model.base == "meta-llama/Llama-2-7b-hf"
    c = et.optim_for("cpt")
    assert (c.lr, c.final_lr(), c.scheduler, c.weight_decay, c.grad_clip, c.seed) == (2e-5, 2e-6, "linear", 0.1, 1.0, 42)
    assert et.cpt.probabilities == [0.75, 0.25] and et.cpt.block_size == 1024 and et.cpt.max_tokens == 5_000_000_000
    assert et.sft.epochs == 3 and et.sft.max_length == 1024 and et.optim_for("sft").global_batch_size == 128
    x = preset("x-llama-coit")
    xo = x.optim_for("sft")
    assert (x.cpt.enabled, x.sft.max_length, xo.scheduler, xo.warmup_ratio, xo.global_batch_size) == (False, 512, "cosine", 0.03, 128)
    assert "global_batch_size: 256" in preset_yaml("llammas-et")
    assert x.sft.chat_template == ALPACA_CHAT_TEMPLATE
    # key view ignores launch settings: raising the wall-clock limit must not restart a stage
    a = et.phase_view("cpt")
    et2 = et.model_copy(deep=True)
    et2.launch.wall_clock_limit_seconds = 3600
    assert a == et2.phase_view("cpt")
    with pytest.raises(ValueError, match="extra"):
        TrainConfig.model_validate({"cpt": {"enabled": False}, "sft": {"sources": ["x"], "bogus": 1}})
    with pytest.raises(ValueError, match="max_tokens or max_steps"):
        TrainConfig.model_validate({"cpt": {"sources": ["a", "b"]}, "sft": {"enabled": False}})


def test_alpaca_template_assistant_only_labels(kit):
    from transformers import AutoTokenizer

    from llammas_core.train.sft_data import encode_chat, prepare_tokenizer

    tok, _ = prepare_tokenizer(AutoTokenizer.from_pretrained(kit["base"]), ALPACA_CHAT_TEMPLATE)
    msgs = [{"role": "user", "content": "Ütle tere"}, {"role": "assistant", "content": "Tere!"},
            {"role": "user", "content": "Veel?"}, {"role": "assistant", "content": "Jah."}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text.startswith("<s>Below is an instruction") and "### Instruction:\nVeel?\n\n### Response:\nJah.</s>" in text
    enc = encode_chat({"messages": msgs}, tok, 512)
    assert tok.decode([i for i, lab in zip(enc["input_ids"], enc["labels"]) if lab != -100]) == "Tere!</s>Jah.</s>"


def test_scheduler_mapping_and_batching():
    from llammas_core.train.arguments import log_every
    from llammas_core.train.config import OptimConfig
    from llammas_core.train.trainer import batching, scheduler_args

    # log cadence: ~200 points on a paper-scale run (19,080 steps), every step of a tiny demo
    assert (log_every(preset("llammas-et"), 19_080), log_every(preset("llammas-et"), 30)) == (95, 1)

    assert scheduler_args(OptimConfig(lr=2e-5, min_lr=2e-6)) == ("polynomial", {"lr_end": 2e-6, "power": 1.0})
    assert scheduler_args(OptimConfig(scheduler="cosine")) == ("cosine", {})
    assert scheduler_args(OptimConfig(scheduler="cosine", min_lr_ratio=0.1))[0] == "cosine_with_min_lr"
    assert batching(OptimConfig(micro_batch_size=8, global_batch_size=256), world=8) == (8, 4)
    with pytest.raises(ConfigError, match="multiple"):
        batching(OptimConfig(micro_batch_size=8, global_batch_size=100), world=8)


# ----------------------------------------------------------------------------- CPT


def test_cpt_loss_decreases_and_telemetry(cpt_run):
    out, m = cpt_run["out"], cpt_run["metrics"]
    losses = _losses(out / "metrics.jsonl")
    assert sorted(losses) == list(range(1, 21))
    first = sum(losses[s] for s in (1, 2, 3)) / 3
    last = sum(losses[s] for s in (18, 19, 20)) / 3
    print(f"CPT loss {first:.3f} -> {last:.3f}")
    assert last < first - 1.0, (first, last)
    assert m["tokens"] == 20 * 4 * 64  # real tokens: every block token counts
    assert m["tokens_per_s"] > 0 and m["peak_memory_gib"] > 0
    # MFU = (6N + 12*L*H*T) * tokens/s / peak, T = 64 for every block (L=2, H=64)
    expect = m["tokens_per_s"] * (6 * m["n_flop_params"] + 12 * 2 * 64 * 64) / 1e12
    assert m["mfu"] == pytest.approx(expect, rel=1e-3)
    assert "6N" in m["flops_per_token_convention"]
    assert (out / "loss.png").stat().st_size > 1000
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tensorboard").rglob("*"))  # report_to
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["final_loss"] == pytest.approx(losses[20])


def test_checkpoints_complete_synced_and_pruned(cpt_run):
    ckpt, sync = cpt_run["ckpt"], cpt_run["sync"]
    local = sorted(p.name for p in ckpt.iterdir() if p.name.startswith("checkpoint-"))
    remote = sorted(p.name for p in sync.iterdir() if p.name.startswith("checkpoint-"))
    assert local == remote == ["checkpoint-15", "checkpoint-20"]  # keep_last 2; final step always saved
    for name in local:
        for folder in (ckpt / name, sync / name):
            for f in ("COMPLETE", "llammas_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth",
                      "trainer_state.json", "model.safetensors", "metrics.jsonl"):
                assert (folder / f).is_file(), folder / f
    state = json.loads((ckpt / "checkpoint-15" / "llammas_state.json").read_text())
    assert state["cpt_data"] == {"samples": 15 * 4, "world_size": 1}


def test_output_loads_and_generates(cpt_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = cpt_run["out"] / "model"
    assert (path / "model.safetensors").is_file() and (path / "README.md").is_file()
    card = (path / "README.md").read_text()
    assert "## Metrics" in card and "et.jsonl" in card and "lr:" in card
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    gen = model.generation_config
    assert gen.eos_token_id == tok.eos_token_id and gen.pad_token_id == tok.pad_token_id != tok.eos_token_id
    ids = tok("tere hommikust", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=6, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_resume_fetches_newest_checkpoint_from_store(kit, tokenized, cpt_run, tmp_path):
    """A fresh machine (empty checkpoint dir) resumes from the synced store; here the synced checkpoint
    already holds the final step, so the run only exports it (no training step)."""
    from safetensors.torch import load_file

    from llammas_core.train.trainer import train

    m = train(cpt_config(kit), "cpt", tmp_path / "out", checkpoint_dir=tmp_path / "ckpt",
              sync_uri=cpt_run["sync"].as_uri(), data=tokenized)
    assert (tmp_path / "ckpt" / "checkpoint-20" / "COMPLETE").is_file()
    assert m["steps"] == 20 and m["resumed_from_step"] == 20
    a = load_file(tmp_path / "out" / "model" / "model.safetensors")
    b = load_file(cpt_run["out"] / "model" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = cpt_config(kit, lr=1e-3)  # a different run must not pick up these checkpoints
    with pytest.raises(ConfigError, match="different run"):
        train(other, "cpt", tmp_path / "out2", checkpoint_dir=tmp_path / "ckpt", data=tokenized)


def test_resume_after_kill_follows_uninterrupted_curve(kit, tokenized, cpt_run, tmp_path):
    """SIGKILL the trainer process after checkpoint-10, resume: steps 11-20 match the uninterrupted run."""
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(cpt_config(kit).model_dump_json())
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    args = ["--config", str(cfg_path), "--phase", "cpt", "--output", str(out), "--checkpoint-dir", str(ckpt),
            "--data", tokenized]
    cmd = build_command("python", 1, args)
    env = trainer_env({"LLAMMAS_DEBUG_STEP_SLEEP": "0.25"})
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    marker = ckpt / "checkpoint-10" / "COMPLETE"
    deadline = time.time() + 150
    while not marker.exists():
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint-10 in time"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (ckpt / "checkpoint-20").exists()  # really interrupted
    killed_at = max(_losses(out / "metrics.jsonl"))
    # resume (auto: newest complete checkpoint)
    lines = []
    rc = run_command(build_command("python", 1, args), on_line=lines.append, env=trainer_env(), output_dir=out)
    assert rc == 0
    assert any("resuming from" in line and "checkpoint-10" in line for line in lines), lines[-20:]
    ref = _losses(cpt_run["out"] / "metrics.jsonl")
    got = _losses(out / "metrics.jsonl")
    assert sorted(got) == list(range(1, 21))  # no duplicated/missing steps after the truncation on resume
    worst = max(abs(got[s] - ref[s]) / ref[s] for s in range(11, 21))
    print(f"killed after step {killed_at}; resumed steps 11-20 max relative loss deviation {worst:.2e}")
    assert worst < 1e-3
    m = json.loads((out / "metrics.json").read_text())
    assert m["resumed_from_step"] == 10 and m["tokens"] == 20 * 4 * 64


def test_nan_loss_fails_fast_with_clear_error(kit, tokenized, tmp_path):
    from llammas_core.train.trainer import main

    cfg = cpt_config(kit, lr=1e30, warmup_ratio=0.0)
    cfg.cpt.max_steps = 8
    cfg.checkpoint.every_steps = 1
    p = tmp_path / "cfg.json"
    p.write_text(cfg.model_dump_json())
    rc = main(["--config", str(p), "--phase", "cpt", "--output", str(tmp_path / "out"), "--data", tokenized])
    assert rc == 2
    err = json.loads((tmp_path / "out" / "error.json").read_text())
    assert err["type"] == "NonFiniteLossError" and "non-finite" in err["message"] and "learning rate" in err["message"]
    step = int(err["message"].split(" at step ")[1].split()[0])
    ckpts = [p.name for p in (tmp_path / "out" / "checkpoints").iterdir()]
    assert f"checkpoint-{step}" not in ckpts  # the diverged step was never checkpointed
    assert not (tmp_path / "out" / "model").exists()


def test_deadline_checkpoints_then_retry_resumes(kit, tokenized, tmp_path, monkeypatch):
    """Near the wall-clock limit the trainer saves a checkpoint and exits 75 (WallClockLimit); a retry resumes."""
    from llammas_core.train.trainer import main

    cfg = cpt_config(kit)
    cfg.cpt.max_steps = 6
    p = tmp_path / "cfg.json"
    p.write_text(cfg.model_dump_json())
    argv = ["--config", str(p), "--phase", "cpt", "--output", str(tmp_path / "out"), "--data", tokenized]
    monkeypatch.setenv("LLAMMAS_DEADLINE", str(time.time()))  # already due: stop after the first step
    assert main(argv) == 75
    assert json.loads((tmp_path / "out" / "error.json").read_text())["type"] == "WallClockLimit"
    assert (tmp_path / "out" / "checkpoints" / "checkpoint-1" / "COMPLETE").is_file()
    monkeypatch.delenv("LLAMMAS_DEADLINE")
    assert main(argv) == 0
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["resumed_from_step"] == 1 and m["steps"] == 6


# ----------------------------------------------------------------------------- SFT


def sft_config(kit, base=None, **over) -> TrainConfig:
    data = {
        "model": {"base": base or kit["base"], "gradient_checkpointing": False},
        "method": {"kind": "full"},
        "cpt": {"enabled": False},
        "sft": {"sources": [kit["sft"]], "max_length": 96, "epochs": 1},
        "optim": {"lr": 1e-2, "micro_batch_size": 8, "grad_accum": 1, "seed": 7},
        "checkpoint": {"every_steps": 100, "keep_last": 1},
        "launch": {"launcher": "python"},
    }
    for k, v in over.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    return TrainConfig.model_validate(data)


def test_padding_free_loss_equals_padded_loss(kit):
    """Packing sequences into one row (position_ids reset) must not change the loss."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llammas_core.train.batching import PaddedCollator, PaddingFreeCollator
    from llammas_core.train.sft_data import SFTDataset, load_chat_records, prepare_tokenizer
    from llammas_core.train.trainer import register_packed_attention

    tok, _ = prepare_tokenizer(AutoTokenizer.from_pretrained(kit["base"]))
    ds = SFTDataset(load_chat_records(kit["sft"]), tok, 96)
    model = AutoModelForCausalLM.from_pretrained(kit["base"]).eval()
    examples = [ds[i] for i in range(6)]
    pf, pad = PaddingFreeCollator()(examples), PaddedCollator(tok.pad_token_id)(examples)
    n = int((pf["labels"][..., 1:] != -100).sum())
    assert n == int((pad["labels"][..., 1:] != -100).sum())
    with torch.no_grad():
        l_pf = model(**pf, num_items_in_batch=n).loss
        l_pad = model(**pad, num_items_in_batch=n).loss
        model.set_attn_implementation(register_packed_attention())  # per-sequence sdpa (trainer default for SFT)
        l_packed = model(**pf, num_items_in_batch=n).loss
        l_pad2 = model(**pad, num_items_in_batch=n).loss  # padded batches fall back to masked sdpa
    assert torch.allclose(l_pf, l_pad, atol=1e-5), (l_pf, l_pad)
    assert torch.allclose(l_packed, l_pad, atol=1e-5) and torch.allclose(l_pad2, l_pad, atol=1e-6), (l_packed, l_pad2)


def test_grad_accumulation_matches_large_batch(kit, tmp_path):
    """micro 8 x accum 1 and micro 1 x accum 8 give the same parameters after one (SGD) step."""
    from safetensors.torch import load_file

    from llammas_core.train.trainer import train

    results = {}
    for micro, accum in ((8, 1), (1, 8)):
        cfg = sft_config(kit, sft={"max_steps": 1, "packing": "padding_free"},
                         optim={"micro_batch_size": micro, "grad_accum": accum, "optimizer": "sgd", "lr": 0.5,
                                "weight_decay": 0.0, "grad_clip": 0.0, "scheduler": "constant"})
        out = tmp_path / f"m{micro}a{accum}"
        train(cfg, "sft", out)
        results[(micro, accum)] = load_file(out / "model" / "model.safetensors")
    base = load_file(Path(kit["base"]) / "model.safetensors")
    a, b = results[(8, 1)], results[(1, 8)]
    delta = max((a[k] - base[k]).abs().max().item() for k in a)
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    # what a naive "mean of per-micro-batch mean losses" accumulation would change (sensitivity of the test)
    naive = _naive_vs_token_mean_update(kit, lr=0.5)
    print(f"max |update| {delta:.3e}, max |8x1 - 1x8| {diff:.3e}, naive-normalisation error would be {naive:.3e}")
    assert delta > 1e-3  # the step did something
    assert diff < 1e-5
    assert naive > 100 * diff


def _naive_vs_token_mean_update(kit, lr: float) -> float:
    """max |lr * (grad of mean-of-sequence-means - grad of token mean)| over 8 SFT examples."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llammas_core.train.batching import PaddingFreeCollator
    from llammas_core.train.sft_data import SFTDataset, load_chat_records, prepare_tokenizer

    tok, _ = prepare_tokenizer(AutoTokenizer.from_pretrained(kit["base"]))
    ds = SFTDataset(load_chat_records(kit["sft"]), tok, 96)
    model = AutoModelForCausalLM.from_pretrained(kit["base"])
    model.config.use_cache = False
    batches = [PaddingFreeCollator()([ds[i]]) for i in range(8)]
    n_total = sum(int((b["labels"][..., 1:] != -100).sum()) for b in batches)

    def grads(weights):
        model.zero_grad()
        for b, w in zip(batches, weights):
            n = int((b["labels"][..., 1:] != -100).sum())
            (model(**b, num_items_in_batch=n).loss * w(n)).backward()
        return [p.grad.clone() for p in model.parameters()]

    g_tok = grads([lambda n: n / n_total] * 8)
    g_naive = grads([lambda n: 1 / 8] * 8)
    return max((lr * (x - y)).abs().max().item() for x, y in zip(g_tok, g_naive))


class _Crash(Exception):
    pass


def test_sft_resume_mid_second_epoch_with_token_budget(kit, tmp_path):
    """Token-budget padding-free SFT, 2 epochs: a crash after checkpoint-8 (in epoch 2) and a resume give
    the same losses as the uninterrupted run (HF batch skipping + per-epoch reshuffle + RNG restored)."""
    from transformers import TrainerCallback

    from llammas_core.train.trainer import train

    class CrashAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 10:
                raise _Crash()

    cfg = sft_config(kit, sft={"epochs": 2, "tokens_per_micro_batch": 256},
                     optim={"lr": 5e-3, "grad_accum": 2, "scheduler": "cosine", "warmup_ratio": 0.1},
                     checkpoint={"every_steps": 4, "keep_last": 3})
    ref = train(cfg, "sft", tmp_path / "ref")
    n_steps = ref["steps"]
    assert n_steps > 10
    with pytest.raises(_Crash):
        train(cfg, "sft", tmp_path / "run", extra_callbacks=[CrashAt()])
    m = train(cfg, "sft", tmp_path / "run")
    assert m["resumed_from_step"] == 8 and m["steps"] == n_steps
    state = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-8" / "llammas_state.json").read_text())
    assert state["sft_data"]["epoch"] == 1  # the checkpoint sits inside the second epoch
    a, b = _losses(tmp_path / "ref" / "metrics.jsonl"), _losses(tmp_path / "run" / "metrics.jsonl")
    assert sorted(a) == sorted(b) == list(range(1, n_steps + 1))
    worst = max(abs(a[s] - b[s]) / a[s] for s in a)
    print(f"SFT resume at step 8 of {n_steps}: max relative loss deviation {worst:.2e}")
    assert worst < 1e-4


def _vocab_without_pad(src: str, dst: Path) -> str:
    """A copy of the tiny base whose tokenizer has no pad token (like Llama-2, which has <unk>)."""
    import shutil

    shutil.copytree(src, dst)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        p = dst / name
        p.write_text(p.read_text().replace('"<pad>"', '"<unused0>"'))
    cfg = json.loads((dst / "tokenizer_config.json").read_text())
    cfg.pop("pad_token", None)
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg))
    return str(dst)


def test_lora_merged_logits_equal_adapter_logits(kit, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llammas_core.train.trainer import grow_embeddings, train

    base = _vocab_without_pad(kit["base"], tmp_path / "base-nopad")
    assert AutoTokenizer.from_pretrained(base).pad_token is None
    cfg = sft_config(kit, base=base, method={"kind": "lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
                     sft={"max_steps": 3, "packing": "padded"}, optim={"lr": 2e-2})
    out = tmp_path / "out"
    m = train(cfg, "sft", out)
    assert m["exported"] == {"model": "model", "adapter": "adapter"}
    assert "4N" in m["flops_per_token_convention"]
    tok = AutoTokenizer.from_pretrained(out / "model")
    assert tok.pad_token == "<unk>" and tok.pad_token_id != tok.eos_token_id  # an existing token: no new row
    assert tok.chat_template and "<|assistant|>" in tok.chat_template  # reload keeps the chat template
    merged = AutoModelForCausalLM.from_pretrained(out / "model").eval()
    assert merged.get_input_embeddings().weight.shape[0] == len(tok) == 400  # padded SFT did not grow the vocabulary
    plain = AutoModelForCausalLM.from_pretrained(base)
    grow_embeddings(plain, tok)
    adapted = PeftModel.from_pretrained(plain, out / "adapter").eval()
    enc = tok.apply_chat_template([{"role": "user", "content": "Ütle midagi numbri 3 kohta"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        l_merged = merged(**enc).logits
        l_adapter = adapted(**enc).logits
        with adapted.disable_adapter():
            l_base = adapted(**enc).logits
    print(f"adapter effect {(l_adapter - l_base).abs().max():.3e}, merge error {(l_merged - l_adapter).abs().max():.3e}")
    assert (l_adapter - l_base).abs().max() > 1e-3
    assert torch.allclose(l_merged, l_adapter, atol=1e-5)
    gen = merged.generate(**enc, max_new_tokens=5, do_sample=False)
    assert gen.shape[1] > enc["input_ids"].shape[1]


# ----------------------------------------------------------------------------- pre-flight


def test_preflight_missing_model_and_no_eos(kit, tmp_path):
    from llammas_core.train.trainer import train

    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ConfigError, match="no-such-model"):
        train(sft_config(kit, base=missing), "sft", tmp_path / "o1")
    import shutil

    noeos = tmp_path / "noeos"
    shutil.copytree(kit["base"], noeos)
    tc = json.loads((noeos / "tokenizer_config.json").read_text())
    tc["eos_token"] = None
    (noeos / "tokenizer_config.json").write_text(json.dumps(tc))
    with pytest.raises(ConfigError, match="EOS"):
        train(sft_config(kit, base=str(noeos)), "sft", tmp_path / "o2")
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(InputError):
        train(sft_config(kit, sft={"sources": [str(empty)]}), "sft", tmp_path / "o3")


def test_memory_estimate_rejects_oversized_micro_batch(tmp_path):
    from transformers import LlamaConfig

    from llammas_core.train.trainer import check_memory_fits, estimate_memory_gib, model_shape

    LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                num_attention_heads=32).save_pretrained(tmp_path / "llama7b")
    shape = model_shape(str(tmp_path / "llama7b"), preset("llammas-et"))
    assert 6.6e9 < shape.n_params < 6.8e9 and shape.n_flop_params == shape.n_params - 32000 * 4096
    lora = estimate_memory_gib(shape, "lora", 2, 2, 4 * 1024, 1024, grad_ckpt=True)
    check_memory_fits(lora, 79.0, 4, True)  # 7B LoRA, micro 4 x 1024, checkpointing: fits an H100
    full = estimate_memory_gib(shape, "full", 4, 2, 64 * 1024, 1024, grad_ckpt=False)
    with pytest.raises(ConfigError, match="micro_batch_size"):
        check_memory_fits(full, 79.0, 64, False)


# ----------------------------------------------------------------------------- launch / DDP / stages


def test_launch_wall_clock_kill_and_typed_errors(tmp_path):
    slow = [sys.executable, "-c", "import time\nprint('tick', flush=True)\ntime.sleep(60)"]
    lines = []
    t = time.time()
    with pytest.raises(WallClockLimit, match="wall-clock"):
        run_command(slow, on_line=lines.append, wall_clock_limit=1.5)
    assert time.time() - t < 30 and lines == ["tick"]
    (tmp_path / "x").mkdir()
    writer = [sys.executable, "-c",
              "import json,sys; json.dump({'type':'NonFiniteLossError','message':'nan at step 3'}, "
              f"open({str(tmp_path / 'x' / 'error.json')!r},'w')); sys.exit(1)"]
    with pytest.raises(NonFiniteLossError, match="nan at step 3"):
        run_command(writer, output_dir=tmp_path / "x")
    with pytest.raises(TrainerCrashed, match="exit code 3") as e:
        run_command([sys.executable, "-c", "print('boom'); raise SystemExit(3)"])
    assert isinstance(e.value, TransientError) and "boom" in str(e.value)
    assert build_command("torchrun", 2, ["--x"])[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    with pytest.raises(ConfigError):
        build_command("python", 2, [])


def test_integrity_error_in_the_trainer_fails_at_once(kit, tokenized, tmp_path):
    """A token shard changed after commit: the trainer subprocess reports an IntegrityError, which is
    raised as such (not TrainerCrashed): the task fails at once instead of relaunching three times."""
    import shutil

    from llammas_core.errors import IntegrityError, is_transient
    from llammas_core.stage import read_manifest
    from llammas_core.train.launch import launch_trainer

    manifest = read_manifest(tokenized)
    root = Path(tokenized.removeprefix("file://")).parents[2]
    copy = tmp_path / "store"
    shutil.copytree(root, copy)
    shard = copy / manifest["id"] / next(f["path"] for f in manifest["files"] if f["path"].startswith("blocks/"))
    shard.write_bytes(b"\0" * shard.stat().st_size)
    cfg = cpt_config(kit)
    (tmp_path / "cfg.json").write_text(cfg.model_dump_json())
    t = time.monotonic()
    with pytest.raises(IntegrityError, match="sha256") as e:
        launch_trainer(tmp_path / "cfg.json", "cpt", tmp_path / "out", cfg.launch,
                       ["--data", (copy / manifest["id"] / "manifest.json").as_uri()], on_line=lambda _: None)
    assert not is_transient(e.value) and time.monotonic() - t < 120
    writer = [sys.executable, "-c", "import json; json.dump({'type': 'KeyError', 'message': 'x', 'transient': False}, "
              f"open({str(tmp_path / 'out' / 'error.json')!r}, 'w')); raise SystemExit(2)"]
    with pytest.raises(LlammasError) as e:  # an untyped deterministic error: not retried either
        run_command(writer, output_dir=tmp_path / "out")
    assert not is_transient(e.value)


def test_ddp_two_processes_gloo(kit, tokenized, tmp_path):
    cfg = cpt_config(kit)
    cfg.cpt.max_steps = 4
    cfg.optim.micro_batch_size = 2
    cfg.launch.launcher, cfg.launch.nproc_per_node = "torchrun", 2
    p = tmp_path / "cfg.json"
    p.write_text(cfg.model_dump_json())
    from llammas_core.train.launch import launch_trainer

    lines = []
    launch_trainer(p, "cpt", tmp_path / "out", cfg.launch, ["--data", tokenized], on_line=lines.append)
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["world_size"] == 2 and m["global_batch"] == 4 and m["steps"] == 4
    assert m["tokens"] == 4 * 2 * 2 * 64  # both ranks' real tokens
    assert math.isfinite(m["final_loss"])
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()
    state = json.loads((tmp_path / "out" / "checkpoints" / "checkpoint-4" / "llammas_state.json").read_text())
    assert state["world_size"] == 2 and (tmp_path / "out" / "checkpoints" / "checkpoint-4" / "rng_state_1.pth").is_file()


def test_run_train_stages_cpt_then_sft(kit, tmp_path):
    from llammas_core.store import LocalStore
    from llammas_core.train.stage import model_inputs, resolve_base, run_train

    cfg = cpt_config(kit)
    cfg.cpt.max_steps = 4
    cfg.sft = sft_config(kit).sft.model_copy(update={"max_steps": 2, "validation_examples": 8, "eval_every_steps": 1})
    cfg.checkpoint.every_steps = 2
    store = LocalStore(tmp_path / "store")
    lines = []
    res = run_train(store, cfg, tmp_path / "work", log=lines.append)
    man = res.manifest
    assert man["stage"] == "sft" and man["phase"] == "sft" and not res.skipped
    cpt_id = [i["id"] for i in man["inputs"] if i["id"].startswith("cpt/")]
    assert len(cpt_id) == 1 and man["init_model"] == cpt_id[0]
    cpt_man = json.loads((tmp_path / "store" / cpt_id[0] / "manifest.json").read_text())
    assert [i["id"] for i in cpt_man["inputs"] if i["id"].startswith("tokenize/")] == cpt_man["data"]  # tokenize -> cpt
    assert man["metrics"]["steps"] == 2 and man["metrics"]["tokens"] > 0 and man["model"] == "model"
    assert man["metrics"]["final_eval_loss"] > 0  # SFT validation loss on the 8 held-out conversations
    assert store.exists(f"{man['id']}/model/model.safetensors")
    assert store.exists(f"{man['id']}/model/chat_template.jinja")
    assert any(k.endswith("COMPLETE") for k, _ in store.list(f"checkpoints/sft/{man['key']}"))
    again = run_train(store, cfg, tmp_path / "work", log=lines.append)
    assert again.skipped and again.manifest_uri == res.manifest_uri
    # a committed stage can serve as model.base of another run (its model/ folder; id enters the key)
    path, ident = resolve_base(res.manifest_uri, None, tmp_path / "w2")
    assert ident == man["id"] and (Path(path) / "config.json").is_file()
    assert model_inputs(res.manifest_uri, None)[0][0]["id"] == man["id"]


def test_lora_trains_the_new_token_rows_of_an_extended_vocabulary(kit, tmp_path):
    """A base folder with llammas_vocab.json (vocab.py's marker): LoRA trains those embedding rows
    (peft trainable_token_indices) and leaves the others as they were."""
    import shutil

    from safetensors.torch import load_file

    from llammas_core.train.trainer import train

    base = tmp_path / "base-ext"
    shutil.copytree(kit["base"], base)
    new_ids = [300, 301, 302]
    (base / "llammas_vocab.json").write_text(json.dumps({"new_token_ids": new_ids}))
    cfg = sft_config(kit, base=str(base), method={"kind": "lora", "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0},
                     sft={"max_steps": 2}, optim={"lr": 5e-2})
    data = tmp_path / "new-tokens.jsonl"
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    words = tok.decode(new_ids)
    data.write_text("\n".join(json.dumps({"instruction": f"Ütle {i}", "output": words * 3}) for i in range(16)))
    cfg.sft.sources = [str(data)]
    train(cfg, "sft", tmp_path / "out")
    before = load_file(base / "model.safetensors")["model.embed_tokens.weight"]
    after = load_file(tmp_path / "out" / "model" / "model.safetensors")["model.embed_tokens.weight"]
    changed = (after - before).abs().amax(dim=1) > 0
    assert changed[new_ids].all() and int(changed.sum()) == len(new_ids)
