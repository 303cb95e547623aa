"""Every shipped recipe config rehearsed end to end at toy size (`llammas rehearse`): the same stages,
@references, input formats and S3 paths (moto's S3 server on loopback), tiny Llama/Marian/NLLB models.
Asserts the lineage a GPU run would have. About a minute or two per config on 2 idle cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from llammas_core.stage import read_manifest
from tests.conftest import REPO

CONFIGS = sorted(p.name for p in (REPO / "configs").glob("*.yaml") if p.name != "rehearsal.yaml")


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server of its own: each rehearsal writes the buckets its config names."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _rehearse(name: str, tmp, endpoint: str) -> dict:
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect"), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "rehearse", "--config", f"configs/{name}",
                           "--root", str(tmp / "root"), "--endpoint-url", endpoint],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp / "root" / "rehearsal.json").read_text())
    assert proc.stdout.strip().splitlines()[-1] == f"output: {summary['output']}"
    print(f"rehearsal {name}: {summary['seconds']} s ({summary['prepare_seconds']} s inputs/models, "
          f"{summary['run_seconds']} s pipeline)")
    return summary


@pytest.fixture
def s3_env(s3, monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_ENDPOINT_URL_S3": s3}.items():
        monkeypatch.setenv(k, v)
    return s3


def _inputs(m: dict, stage: str) -> list[str]:
    return [i["uri"] for i in m["inputs"] if i["id"].startswith(stage + "/")]


def _stats(instr: dict) -> dict:
    from llammas_core.stage import open_manifest

    store, m = open_manifest(instr["uri"] + "/manifest.json")
    with store.open_read(f"{m['id']}/stats.json") as f:
        return json.loads(f.read())


def _machine_translated(instr: dict, pool: str, n: int) -> None:
    """Every record of the source went through MT into `pool` and is accounted for: kept in the mixture, or
    quarantined/removed with its reason, and some reach the mixture. (The tiny random MT model stops thanks
    to a calibrated EOS bias; outputs it still runs on past the length cap are quarantined as
    output_truncated.)"""
    acct = instr["pools"][pool]
    assert acct["in"] == n, acct
    assert acct["kept"] + sum(acct["removed"].values()) + sum(acct["quarantined"].values()) == n, acct
    assert acct["kept"] > 0, acct


def test_every_config_has_a_rehearsal():
    assert {"llammas-et.yaml", "x-llama-coit-et.yaml"} <= set(CONFIGS)


@pytest.mark.slow
def test_rehearse_llammas_et(tmp_path, s3_env):
    summary = _rehearse("llammas-et.yaml", tmp_path, s3_env)
    report = read_manifest(summary["output"])
    assert report["stage"] == "report" and report["uri"].startswith("s3://my-llm-bucket/llammas/")
    assert {e["model"] for e in report["evals"]} == {"base", "cpt", "sft"}  # evaluation covers base, CPT and SFT
    paths = {m["name"]: m["path"] for m in report["models"]}
    cpt, sft = read_manifest(paths["cpt"]), read_manifest(paths["sft"])
    # SFT continues from CPT on the instructions stage (not an undeclared file)
    assert sft["init_model"] == cpt["id"]
    (instr_uri,) = _inputs(sft, "instructions")
    instr = read_manifest(instr_uri + "/manifest.json")
    assert sft["data"] == [instr["id"]]
    comps = _stats(instr)["components"]
    assert set(comps) == {"alpaca_en", "alpaca_et_mt", "alpaca_est", "oasst1_en", "translation"}
    for name, c in comps.items():  # no weights or caps configured: each takes its whole pool
        assert c["planned"] == c["available"] and c["kept"] > 0, (name, c)  # MT'd Alpaca too
    assert comps["alpaca_et_mt"]["pool"] == "alpaca-cleaned@et" and comps["translation"]["pool"] == "bitext"
    _machine_translated(instr, "alpaca-cleaned@et", 40)
    # CPT reads the tokenize stage: Estonian and English corpora at 75/25, a prefix of each, no repeats
    (tok_uri,) = _inputs(cpt, "tokenize")
    tok = read_manifest(tok_uri + "/manifest.json")
    assert tok["mixture"]["probabilities"] == [0.75, 0.25] and tok["mixture"]["stopping"] == "first_exhausted"
    docs = tok["documents"]
    assert [d["source"].split("/")[0] for d in docs] == ["corpus", "corpus"]
    share = docs[0]["drawn"] / (docs[0]["drawn"] + docs[1]["drawn"])
    assert 0.6 < share < 0.9, docs
    assert any(d["drawn"] == d["documents"] for d in docs) and all(d["drawn"] <= d["documents"] for d in docs)
    corpora = [read_manifest(u + "/manifest.json") for u in _inputs(tok, "corpus")]
    assert sorted(c["config"]["language"] for c in corpora) == ["en", "et"]


@pytest.mark.slow
def test_rehearse_x_llama_coit(tmp_path, s3_env):
    from transformers import AutoTokenizer

    from llammas_core.stage import open_manifest
    from llammas_core.train.sft_data import encode_chat, load_chat_records

    summary = _rehearse("x-llama-coit-et.yaml", tmp_path, s3_env)
    sft = read_manifest(summary["output"])
    assert sft["stage"] == "sft"
    (instr_uri,) = _inputs(sft, "instructions")
    instr = read_manifest(instr_uri + "/manifest.json")
    assert sft["data"] == [instr["id"]]
    comps = _stats(instr)["components"]
    assert set(comps) == {"alpaca_en", "alpaca_et", "translation"}
    assert all(c["kept"] > 0 for c in comps.values()), comps  # the MT'd Alpaca too
    _machine_translated(instr, "alpaca@et", 40)
    # one x-LLaMA training string exactly as the model sees it: Stanford Alpaca's prompt_input
    store, m = open_manifest(summary["output"])
    model_dir = tmp_path / "sft-model"
    for f in m["files"]:
        if f["path"].startswith("model/") and not f["path"].endswith(".safetensors"):
            store.get_file(f"{m['id']}/{f['path']}", model_dir / f["path"][len("model/"):])
    tok = AutoTokenizer.from_pretrained(model_dir)
    rec = next(r for r in load_chat_records(instr_uri + "/manifest.json") if r.get("component") == "translation")
    enc = encode_chat(rec, tok, 512)
    text = tok.decode(enc["input_ids"])
    print("x-LLaMA SFT training string:\n" + text)
    user = rec["messages"][0]
    assert text == (f"<s>Below is an instruction that describes a task, paired with an input that provides further "
                    f"context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
                    f"{user['content']}\n\n### Input:\n{user['input']}\n\n### Response:{rec['messages'][1]['content']}</s>")
    assert tok.decode([i for i, lab in zip(enc["input_ids"], enc["labels"]) if lab != -100]) == rec["messages"][1]["content"] + "</s>"


def _others() -> list:
    """Configs beyond the two recipes (demo*.yaml already run on CPU as they are). A config whose only flow
    is `scaling` is not driven by `llammas rehearse` yet: listed as skipped, with the reason."""
    import yaml

    out = []
    for name in CONFIGS:
        if name in ("llammas-et.yaml", "x-llama-coit-et.yaml") or name.startswith("demo"):
            continue
        raw = yaml.safe_load((REPO / "configs" / name).read_text(encoding="utf-8"))
        if raw.get("languages"):  # TODO(issue 14): the overlay swaps models and inputs of top-level sections only
            out.append(pytest.param(name, marks=pytest.mark.skip(reason=f"{name}: the rehearsal overlay does not cover "
                                                                  "per-language sections yet (configs/demo-multilingual.yaml "
                                                                  "runs the same machinery on CPU)")))
            continue
        if not any(raw.get(s) for s in ("corpus", "instructions", "train")):
            out.append(pytest.param(name, marks=pytest.mark.skip(reason=f"{name}: its flow is not the pipeline "
                                                                  "(e.g. scaling); llammas rehearse runs the pipeline")))
        else:
            out.append(name)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", _others())
def test_rehearse_every_other_config(name, tmp_path, s3_env):
    """A config added later is rehearsed too: end to end to its last stage."""
    summary = _rehearse(name, tmp_path, s3_env)
    assert read_manifest(summary["output"])["stage"] in ("report", "sft", "cpt", "instructions", "corpus")
