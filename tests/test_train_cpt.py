"""Continued pretraining on a tiny CPU Llama (tests/train_fixtures.py runs one CPT job the tests share):
loss and telemetry, checkpoints, resume (from the store, after a kill), NaN and deadline handling, the
launcher's typed errors, an integrity error, and two-process DDP. Subprocess tests cost ~10-30 s each."""

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

from llammas_core.errors import ConfigError, LlammasError, TransientError
from llammas_core.train.launch import NonFiniteLossError, TrainerCrashed, WallClockLimit, build_command, run_command, trainer_env

from tests.train_fixtures import cpt_config, _losses


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
