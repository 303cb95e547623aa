"""SIGTERM stops a `llammas run` within seconds: trainer terminated, lease released, one line, and a
rerun resumes (before: 155 s to 4 minutes of retries against the dead API server, then
`error: ConnectError`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import REPO


def _trainers(root) -> list[str]:
    found = subprocess.run(["pgrep", "-f", f"llammas_core.train.trainer --config {root}"], capture_output=True, text=True)
    return found.stdout.split()


@pytest.mark.slow  # a real CPT run through the CLI: Prefect server, tokenize, one trainer subprocess
def test_sigterm_to_the_process_group_stops_a_cpt_run_in_seconds(tmp_path):
    from llammas_core.train.tiny import save_tiny_base

    words = "tere hommikust kuidas läheb mul hästi aitäh väga ilus ilm täna eesti keel".split()
    docs = [" ".join(words[(i * 3 + k) % len(words)] for k in range(40)) for i in range(120)]
    (tmp_path / "et.jsonl").write_text("\n".join(json.dumps({"text": d}) for d in docs))
    save_tiny_base(tmp_path / "base", docs, vocab_size=300, hidden_size=32, layers=1, heads=2, kv_heads=1,
                   intermediate=64, max_position=128)
    cfg = {"store": {"uri": f"file://{tmp_path}/store", "work_dir": f"{tmp_path}/work"},
           "train": {"name": "stop", "language": "et", "method": {"kind": "full"},
                     "model": {"base": str(tmp_path / "base"), "gradient_checkpointing": False},
                     "cpt": {"sources": [str(tmp_path / "et.jsonl")], "probabilities": [1.0], "block_size": 64,
                             "max_steps": 100000},
                     "sft": {"enabled": False}, "optim": {"micro_batch_size": 4},
                     "checkpoint": {"every_steps": 10, "keep_last": 1}, "launch": {"launcher": "python"}}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    log = tmp_path / "out.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", "train", "--verbose", "--config",
                                 str(tmp_path / "cfg.yaml")],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while ("[cpt] checkpoint checkpoint-" not in log.read_text(errors="replace") and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.5)
        assert proc.poll() is None and _trainers(tmp_path), log.read_text()[-3000:]
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)  # as Ctrl-C, `timeout`, Slurm or systemd do: the API server dies too
        proc.wait(timeout=120)
        seconds = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text(errors="replace")
    last = text.strip().splitlines()[-1]
    assert proc.returncode == 128 + signal.SIGTERM and "interrupted by SIGTERM" in text, text[-2000:]
    assert "ConnectError" not in last and text.count("error: interrupted") == 1
    assert seconds < 20, f"{seconds:.1f} s to stop"  # ~8 s; room for a loaded 2-core machine
    time.sleep(0.5)
    assert not _trainers(tmp_path)
    assert not [p for p in (tmp_path / "store").rglob("locks/**/*") if p.is_file()]  # a rerun takes over at once
    assert list((tmp_path / "work" / "cpt").glob("*/checkpoints/checkpoint-*/COMPLETE"))  # and resumes from here
