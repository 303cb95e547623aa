"""Shared training fixtures (a plugin of tests/conftest.py: one tiny base, tokenized corpus and CPT run
per session for tests/test_train_*.py): a tiny Llama base and its data kit, the tokenize stage, one CPT
job in-process, and the configs the tests build on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llammas_core.train.config import TrainConfig

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
