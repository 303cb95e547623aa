"""Several target languages in one run (x-LLaMA's MuIT): template expansion, the MuIT mixture's caps and
dedup, the per-language report table, and configs/demo-multilingual.yaml end to end through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from llammas_core.config import LlammasConfig, load_config
from llammas_core.errors import ConfigError
from llammas_core.evaluate.by_language import per_language
from llammas_core.evaluate.spec import ModelSpec, TaskSpec
from llammas_core.multilingual.config import MuitConfig
from llammas_core.multilingual.mixture import combine
from llammas_core.stage import read_manifest
from tests.conftest import REPO

DEMO = REPO / "configs" / "demo-multilingual.yaml"


def test_templates_expand_per_language_and_round_trip():
    cfg = load_config(str(DEMO))
    assert cfg.languages == ["et", "fi", "lv"] and list(cfg.per_language) == ["et", "fi", "lv"]
    fi = cfg.per_language["fi"].instructions
    assert fi.language == "fi" and fi.translator.tgt_lang == "fi" and fi.name == "demo-muit-fi"
    assert fi.bitext[0].paths[1].endswith("en-fi.fi")
    assert cfg.per_language["et"].instructions.bitext[0].paths[1].endswith("demo.et")  # the override
    names = [t.name for t in cfg.evaluate.tasks]
    assert {"flores_en-lv", "flores_lv-en", "xcopa_et"} <= set(names) and "xcopa_lv" not in names
    assert any(s.startswith("xcopa_lv: no xcopa for lv") for s in cfg.evaluate.skipped)
    # what Prefect stores and hands back validates to the same config: no second expansion
    assert LlammasConfig.model_validate(cfg.model_dump(mode="json")) == cfg


def test_language_stages_are_references_of_the_run():
    """`@corpus_<xx>` of a listed language is what a multilingual CPT reads; another language's is refused."""
    from llammas_core.preflight import _check_references, PIPELINE_SECTIONS

    cpt = ["train.cpt.enabled=true", "train.cpt.max_steps=5", "train.cpt.probabilities=[0.5,0.5]"]
    ok = load_config(str(DEMO), cpt + ['train.cpt.sources=["@corpus_et","@corpus_lv"]'])
    assert _check_references(ok, PIPELINE_SECTIONS) == []
    bad = load_config(str(DEMO), cpt + ['train.cpt.sources=["@corpus_et","@corpus_de"]'])
    (problem,) = _check_references(bad, PIPELINE_SECTIONS)
    assert "train refers to @corpus_de" in problem and "@corpus_fi" in problem and "@instructions_lv" in problem


def test_unknown_override_language_is_an_error(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("languages: [et]\nfor_each_language: {instructions: {name: 'x-{lang}', bitext: []}}\n"
                 "per_language: {fi: {}}\n")
    with pytest.raises(ConfigError, match="fi, not in `languages`"):
        load_config(str(p))


def _rows(lang: str, n_trans: int, n_en: int) -> list[dict]:
    trans = [{"messages": [{"role": "user", "content": f"{lang} t{i}"}, {"role": "assistant", "content": "x"}],
              "component": "translation"} for i in range(n_trans)]
    en = [{"messages": [{"role": "user", "content": f"en {i}"}, {"role": "assistant", "content": "y"}],
           "component": "alpaca_en"} for i in range(n_en)]
    return trans + en


def test_muit_caps_translation_and_keeps_one_copy_of_shared_records():
    rows, acct = combine({"et": _rows("et", 10, 4), "fi": _rows("fi", 6, 4)}, MuitConfig(), {"et": 3, "fi": 50})
    assert acct["et"]["translation"] == {"available": 10, "cap": 3, "kept": 3}
    assert acct["fi"]["translation"]["kept"] == 6
    assert acct["fi"]["removed"] == {"muit:duplicate": 4}  # the English records came with et
    assert len(rows) == 3 + 4 + 6
    for a in acct.values():
        assert a["kept"] + sum(a["removed"].values()) == a["in"]


def test_per_language_rows_macro_and_deltas():
    tasks = [TaskSpec(name=f"flores_en-{l}", kind="flores", direction=f"en-{l}", data="x") for l in ("et", "fi")]
    models = [ModelSpec(name="base", path="b"), ModelSpec(name="m", path="m"),
              ModelSpec(name="x-et", path="x", languages=["et"], group="x-LLaMA"),
              ModelSpec(name="x-fi", path="y", languages=["fi"], group="x-LLaMA")]
    scores = {("et", "base"): 10, ("et", "m"): 14, ("et", "x-et"): 12, ("fi", "base"): 20, ("fi", "m"): 22,
              ("fi", "x-fi"): 30}
    rows = [{"task": f"flores_en-{l}", "metric": "chrf", "model": m, "score": s,
             "delta": None if m == "base" else s - scores[(l, "base")]} for (l, m), s in scores.items()]
    out = per_language(rows, tasks, models)
    fam = "FLORES en→xx chrf"
    assert [(r["language"], r["model"]) for r in out["rows"]] == [
        ("et", "base"), ("et", "m"), ("et", "x-et"), ("fi", "base"), ("fi", "m"), ("fi", "x-fi")]
    macro = {m["model"]: m for m in out["macro"]}
    assert macro["m"]["scores"][fam] == 18 and macro["m"]["deltas"][fam] == 3
    assert macro["x-LLaMA"]["scores"][fam] == 21 and macro["x-LLaMA"]["deltas"][fam] == 6
    assert per_language(rows[:3], tasks[:1], models[:3]) is None  # one language: no such table


@pytest.mark.slow  # the whole multilingual demo: about 4.5 minutes on 2 shared cores
def test_demo_multilingual_pipeline(tmp_path):
    """The shipped demo, plus the optional multilingual CPT its train section describes (one CPT over the
    three languages' corpora at 50/25/25, shared by every SFT arm)."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    cpt = ["train.cpt.enabled=true", 'train.cpt.sources=["@corpus_et","@corpus_fi","@corpus_lv"]',
           "train.cpt.probabilities=[0.5,0.25,0.25]", "train.cpt.max_steps=10"]
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "run", "pipeline", "--config", str(DEMO),
                           "--set", f"store.uri=file://{tmp_path}/store", "--set", f"store.work_dir={tmp_path}/work",
                           *[a for kv in cpt for a in ("--set", kv)]],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    report = read_manifest(last.removeprefix("output: "))
    summary = report["per_language"]
    assert summary["languages"] == ["et", "fi", "lv"]
    for lang in ("et", "fi"):  # FLORES both ways and Belebele for at least two languages
        row = next(r for r in summary["rows"] if r["language"] == lang and r["model"] == "m-llama")
        assert {"FLORES en→xx chrf", "FLORES xx→en chrf", "Belebele acc"} <= set(row["scores"])
        assert all(d is not None for d in row["deltas"].values())
    macro = {m["model"]: m for m in summary["macro"]}
    assert set(macro) == {"base", "m-llama", "m-llama-uniform", "x-LLaMA"}
    assert macro["m-llama"]["languages"] == macro["m-llama-uniform"]["languages"] == ["et", "fi", "lv"]
    assert {e["model"] for e in report["evals"]} == {"base", "m-llama", "m-llama-uniform", "x-llama-et", "x-llama-fi",
                                                     "x-llama-lv"}
    # the scaling check: the allocated and the uniform split of one budget, each an m-LLaMA, on the same tasks
    models = {m["name"]: read_manifest(m["path"]) for m in report["models"] if m["name"].startswith("m-llama")}
    mixes = {name: [read_manifest(i["uri"] + "/manifest.json") for i in m["inputs"] if i["id"].startswith("muit/")]
             for name, m in models.items()}
    caps = {name: mix["config"]["translation_caps"] for name, (mix,) in mixes.items()}
    (allocation,) = [read_manifest(str(p)) for p in (tmp_path / "store" / "allocation").glob("*/manifest.json")]
    assert caps["m-llama"] == allocation["allocation"] != caps["m-llama-uniform"] == allocation["uniform"]
    assert sum(caps["m-llama"].values()) == sum(caps["m-llama-uniform"].values()) == 60
    per_model = {name: {e["task"] for e in report["evals"] if e["model"] == name} for name in models}
    assert per_model["m-llama"] == per_model["m-llama-uniform"]
    # one CPT (tokenized from the three corpora at 50/25/25) under every SFT arm
    (cpt,) = [read_manifest(str(p)) for p in (tmp_path / "store" / "cpt").glob("*/manifest.json")]
    (tokenized,) = [read_manifest(str(p)) for p in (tmp_path / "store" / "tokenize").glob("*/manifest.json")]
    assert tokenized["id"] in {i["id"] for i in cpt["inputs"]}
    corpora = sorted(read_manifest(i["uri"] + "/manifest.json")["language"] for i in tokenized["inputs"]
                     if i["id"].startswith("corpus/"))
    assert corpora == ["et", "fi", "lv"] and tokenized["config"]["probabilities"] == [0.5, 0.25, 0.25]
    assert not any(e["model"] == "x-llama-et" and not e["task"].endswith(("-et", "_et", "et-en"))
                   for e in report["evals"])
    md = open(f"{tmp_path}/store/{report['id']}/report.md", encoding="utf-8").read()
    assert "## Per language" in md and "## Macro average over languages" in md and "## Not evaluated" in md
    for tag in ("corpus-fi", "instructions-demo-muit-lv", "muit-demo-muit", "sft-demo-mllama-fi"):
        assert any(ln.startswith(tag) for ln in proc.stdout.splitlines()), tag


def test_report_plots_the_languages(tmp_path):
    """With several target languages the report holds languages.png (a panel per family, a bar per model
    and language), linked from report.md below the per-language table and embedded in report.html."""
    import base64

    from llammas_core.evaluate.report import write_report

    tasks = [TaskSpec(name=f"flores_en-{l}", kind="flores", direction=f"en-{l}", data="x") for l in ("et", "fi")]
    models = [ModelSpec(name="base", path="b"), ModelSpec(name="m", path="m")]
    rows = [{"task": f"flores_en-{l}", "kind": "flores", "metric": "chrf", "model": m, "n": 10, "score": s,
             "ci_low": s - 1, "ci_high": s + 1, "baseline": "base", "delta": None if m == "base" else 2.0,
             "delta_low": 1.0, "delta_high": 3.0, "p_value": None if m == "base" else 0.01}
            for l, m, s in (("et", "base", 10.0), ("et", "m", 12.0), ("fi", "base", 20.0), ("fi", "m", 22.0))]
    summary = per_language(rows, tasks, models)
    files = write_report(tmp_path, "t", rows, {"baseline": "base", "samples": 10, "per_language": summary}, None)
    png = (tmp_path / "languages.png").read_bytes()
    assert files["language_plot"] == "languages.png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report.md").read_text()
    section = md.split("## Per language", 1)[1].split("\n## ", 1)[0]
    assert "](languages.png)" in section and "| fi | m |" in section
    assert base64.b64encode(png).decode() in (tmp_path / "report.html").read_text()
    single = write_report(tmp_path / "one", "t", rows[:2], {"baseline": "base", "samples": 10}, None)
    assert single["language_plot"] is None and not (tmp_path / "one" / "languages.png").exists()
