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
          f"{summary['run_seconds']} s {summary['flow']})")
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


def _pilots(allocation: dict, languages: list[str], sizes: list[int], mt_component: str) -> None:
    """Each pilot's lineage: its evaluation report (an input of the allocation) scored the SFT model that
    trained on that pilot's instructions stage, whose translation component holds at most `pairs` records
    and whose MT'd Alpaca component is not empty."""
    assert sorted(allocation["fits"]) == sorted(languages), allocation
    assert {lang: [p["pairs"] for p in pts] for lang, pts in allocation["points"].items()} == {l: sizes for l in languages}
    assert sum(allocation["allocation"].values()) == allocation["budget"]
    reports = [i["uri"] for i in allocation["inputs"] if i["id"].startswith("report/")]
    assert len(reports) == len(languages) * len(sizes), allocation["inputs"]
    seen = set()
    for uri in reports:
        report = read_manifest(uri + "/manifest.json")
        (sft_path,) = [m["path"] for m in report["models"] if m["name"] == "sft"]
        sft = read_manifest(sft_path)
        (instr_uri,) = _inputs(sft, "instructions")
        instr = read_manifest(instr_uri + "/manifest.json")
        assert sft["data"] == [instr["id"]]
        lang, pairs = instr["config"]["language"], instr["config"]["name"].rsplit("-", 1)[1]
        comps = _stats(instr)["components"]
        assert 0 < comps["translation"]["kept"] <= int(pairs), (lang, pairs, comps)
        assert comps[mt_component.format(lang=lang)]["kept"] > 0, (lang, comps)  # MT'd Alpaca reaches SFT
        seen.add((lang, int(pairs)))
    assert seen == {(lang, n) for lang in languages for n in sizes}


@pytest.mark.slow
def test_rehearse_x_llama_scaling(tmp_path, s3_env):
    """The x-LLaMA scaling law: CoIT pilots (tiny NLLB MT, Alpaca + its MT + translation tasks, SFT, FLORES
    en-xx) for the first two languages at two sizes, then the fit and the allocation, on S3."""
    from llammas_core.rehearsal import SIZES

    summary = _rehearse("x-llama-scaling.yaml", tmp_path, s3_env)
    assert summary["flow"] == "scaling"
    allocation = read_manifest(summary["output"])
    assert allocation["stage"] == "allocation" and allocation["uri"].startswith("s3://my-llm-bucket/llammas/")
    _pilots(allocation, ["ar", "el"][:SIZES["scaling_languages"]], SIZES["pilot_sizes"], "alpaca_{lang}")


@pytest.mark.slow
def test_rehearse_demo_scaling_pilots(tmp_path, s3_env):
    """The CPU pilots demo, on S3 instead of its local store (its builtin tiny Marian as configured)."""
    from llammas_core.rehearsal import SIZES

    summary = _rehearse("demo-scaling-pilots.yaml", tmp_path, s3_env)
    assert summary["flow"] == "scaling"
    allocation = read_manifest(summary["output"])
    assert allocation["stage"] == "allocation" and allocation["uri"].startswith("s3://llammas-rehearsal/store/")
    _pilots(allocation, ["et"], SIZES["pilot_sizes"], "alpaca_{lang}")


@pytest.mark.slow
def test_rehearse_x_llama_muit(tmp_path, s3_env):
    """x-LLaMA's MuIT for the first two languages (ar, el): each language's instructions stage (tiny NLLB MT
    of Alpaca, en->xx translation tasks), the MuIT mixture over both, the m-LLaMA trained on it, one x-LLaMA
    per language on its own stage, and the per-language report with its macro average, on S3."""
    summary = _rehearse("x-llama-muit.yaml", tmp_path, s3_env)
    report = read_manifest(summary["output"])
    assert report["uri"].startswith("s3://my-llm-bucket/llammas/")
    per_language = report["per_language"]
    assert per_language["languages"] == ["ar", "el"]
    assert {m["model"] for m in per_language["macro"]} == {"base", "m-llama", "x-LLaMA"}
    models = {m["name"]: read_manifest(m["path"]) for m in report["models"] if m["name"] != "base"}
    assert sorted(models) == ["m-llama", "x-llama-ar", "x-llama-el"]
    (mix_uri,) = _inputs(models["m-llama"], "muit")
    mix = read_manifest(mix_uri + "/manifest.json")
    langs = {read_manifest(u + "/manifest.json")["config"]["language"] for u in _inputs(mix, "instructions")}
    assert langs == {"ar", "el"}
    for lang in ("ar", "el"):
        (instr_uri,) = _inputs(models[f"x-llama-{lang}"], "instructions")
        instr = read_manifest(instr_uri + "/manifest.json")
        assert instr["config"]["language"] == lang and instr_uri in _inputs(mix, "instructions")
        comps = _stats(instr)["components"]
        assert comps["translation"]["kept"] > 0 and comps[f"alpaca_{lang}"]["kept"] > 0, comps
    assert {e["task"] for e in report["evals"]} >= {"flores_en-ar", "flores_el-en", "belebele_ar", "belebele_el"}
