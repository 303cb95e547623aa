"""The evaluation stages: content-addressed (model, task) results, kill/resume, one more model,
validation before any model loads, the report stage and the pipeline's @base/@cpt/@sft wiring.

Real components throughout: tiny random Llamas saved as transformers folders, lm-eval for XCOPA,
sacrebleu for FLORES; run_task / load_model are wrapped only to count calls.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llammas_core.errors import ConfigError, InputError
from llammas_core.evaluate import engine, models
from llammas_core.evaluate.config import EvaluateConfig
from llammas_core.evaluate.stage import EVAL_STAGE, plan_evaluate, run_evaluate
from llammas_core.stage import run_stage
from llammas_core.store import LocalStore

REPO = Path(__file__).resolve().parents[1]

PREMISES = ["Mees jäi haigeks", "Tüdruk leidis raha", "Poiss kukkus maha", "Naine avas akna",
            "Koer haukus öösel", "Laps nuttis kõvasti", "Auto jäi seisma", "Vihma sadas palju"]
EN = ["The cat sleeps.", "I like tea.", "The sun is warm.", "We go home.", "It is cold today."]
ET = ["Kass magab.", "Mulle meeldib tee.", "Päike on soe.", "Me läheme koju.", "Täna on külm."]


def _tiny(folder: Path, seed: int, tokenizer) -> str:
    from llammas_core.train.tiny import tiny_llama

    tiny_llama(tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate=64, seed=seed).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    """Three tiny models (different seeds) and a small XCOPA-et and FLORES set."""
    root = tmp_path_factory.mktemp("evalkit")
    from llammas_core.train.tiny import train_tokenizer

    tokenizer = train_tokenizer(PREMISES + EN + ET + ["sest seetõttu tema see oli"] * 3, vocab_size=300)
    paths = {f"m{i}": _tiny(root / f"m{i}", seed=i, tokenizer=tokenizer) for i in range(3)}
    xcopa = root / "xcopa.et.jsonl"
    rows = [{"premise": p + ".", "choice1": "Ta läks koju.", "choice2": "Ta jäi magama.",
             "question": "cause" if i % 2 else "effect", "label": i % 2, "idx": i} for i, p in enumerate(PREMISES)]
    xcopa.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    flores = root / "flores.jsonl"
    flores.write_text("\n".join(json.dumps({"eng_Latn": e, "est_Latn": t, "id": i}, ensure_ascii=False)
                                for i, (e, t) in enumerate(zip(EN, ET))) + "\n", encoding="utf-8")
    return {"root": root, "models": paths, "xcopa": str(xcopa), "flores": str(flores)}


def _cfg(kit, names=("m0", "m1"), **over) -> EvaluateConfig:
    data = {
        "name": "t",
        "models": [{"name": n, "path": kit["models"][n], "chat": False, "batch_size": 8} for n in names],
        "tasks": [
            {"name": "xcopa_et", "kind": "xcopa", "data": kit["xcopa"]},
            {"name": "flores_en-et", "kind": "flores", "data": kit["flores"], "direction": "en-et",
             "max_new_tokens": 6},
        ],
        "bootstrap": {"samples": 200, "seed": 1},
        "contamination": {"enabled": False},
    }
    data.update(over)
    return EvaluateConfig.model_validate(data)


@pytest.fixture
def counted(monkeypatch):
    """Count run_task and load_model calls (the real functions still run)."""
    calls = {"run_task": [], "load_model": []}
    real_run, real_load = engine.run_task, models.load_model

    def run_task(model, task, out_dir):
        calls["run_task"].append((model.spec.name, task.name))
        return real_run(model, task, out_dir)

    def load_model(spec, *a, **kw):
        calls["load_model"].append(spec.name)
        return real_load(spec, *a, **kw)

    monkeypatch.setattr(engine, "run_task", run_task)
    monkeypatch.setattr(models, "load_model", load_model)
    return calls


def test_evaluate_writes_results_and_report_and_reuses_everything(kit, tmp_path, counted):
    store = LocalStore(tmp_path / "store")
    result = run_evaluate(store, _cfg(kit), tmp_path / "work", log=lambda _: None)
    assert sorted(counted["run_task"]) == [("m0", "flores_en-et"), ("m0", "xcopa_et"),
                                           ("m1", "flores_en-et"), ("m1", "xcopa_et")]
    assert counted["load_model"] == ["m0", "m1"]  # each model loaded once for all its tasks
    m = result.manifest
    assert m["stage"] == "report" and {f["path"] for f in m["files"]} >= {"report.md", "report.html", "scores.png"}
    assert len(m["evals"]) == 4 and not any(e["reused"] for e in m["evals"])
    for e in m["evals"]:
        em = store.read_json(f"{e['id']}/manifest.json")
        assert {f["path"] for f in em["files"]} >= {"results.json", "samples.jsonl"}
        assert em["model"] == e["model"] and em["task"] == e["task"]
    by = {(r["task"], r["metric"], r["model"]): r for r in m["rows"]}
    assert set(by) == {("xcopa_et", "acc", "m0"), ("xcopa_et", "acc", "m1"), ("flores_en-et", "bleu", "m0"),
                       ("flores_en-et", "bleu", "m1"), ("flores_en-et", "chrf", "m0"), ("flores_en-et", "chrf", "m1")}
    # the report's point estimates are the engine's own scores
    for e in m["evals"]:
        em = store.read_json(f"{e['id']}/manifest.json")
        for metric, value in em["metrics"].items():
            if (e["task"], metric, e["model"]) in by:
                assert by[(e["task"], metric, e["model"])]["score"] == pytest.approx(value, abs=1e-9)
    assert by[("xcopa_et", "acc", "m1")]["p_value"] is not None and by[("xcopa_et", "acc", "m0")]["delta"] is None
    md = store.local_path(f"{m['id']}/report.md").read_text()
    assert "| xcopa_et | acc | m1 |" in md

    counted["run_task"].clear(), counted["load_model"].clear()
    again = run_evaluate(store, _cfg(kit), tmp_path / "work2", log=lambda _: None)
    assert again.skipped and again.manifest_uri == result.manifest_uri
    assert counted == {"run_task": [], "load_model": []}  # nothing evaluated, no model loaded

    # one more model: only its pairs run; the report is new and covers all three
    third = run_evaluate(store, _cfg(kit, names=("m0", "m1", "m2")), tmp_path / "work", log=lambda _: None)
    assert sorted(counted["run_task"]) == [("m2", "flores_en-et"), ("m2", "xcopa_et")]
    assert counted["load_model"] == ["m2"]
    assert not third.skipped and {r["model"] for r in third.manifest["rows"]} == {"m0", "m1", "m2"}
    assert sum(e["reused"] for e in third.manifest["evals"]) == 4


def test_kill_then_resume_evaluates_only_what_is_missing(kit, tmp_path, counted):
    """A child process is SIGKILLed inside its third (model, task) evaluation; the resume runs the
    two missing pairs and loads only the model they need."""
    store_dir, work = tmp_path / "store", tmp_path / "work"
    cfg = _cfg(kit)
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from llammas_core.evaluate import engine
        from llammas_core.evaluate.config import EvaluateConfig
        from llammas_core.evaluate.stage import run_evaluate
        from llammas_core.store import LocalStore
        real, n = engine.run_task, [0]
        def run_task(model, task, out_dir):
            n[0] += 1
            if n[0] == 3:
                (out_dir / "partial.txt").write_text("half way")
                os.kill(os.getpid(), signal.SIGKILL)
            return real(model, task, out_dir)
        engine.run_task = run_task
        cfg = EvaluateConfig.model_validate_json({cfg.model_dump_json()!r})
        run_evaluate(LocalStore({str(store_dir)!r}), cfg, {str(work)!r}, log=lambda _: None)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    store = LocalStore(store_dir)
    plan = plan_evaluate(cfg, log=lambda _: None)
    assert len(plan.missing(store)) == 2  # two pairs committed before the kill, two not
    assert not list(store.list("report"))

    result = run_evaluate(store, cfg, work, log=lambda _: None)
    assert sorted(counted["run_task"]) == [("m1", "flores_en-et"), ("m1", "xcopa_et")]
    assert counted["load_model"] == ["m1"]
    assert [e["reused"] for e in result.manifest["evals"]] == [True, True, False, False]
    assert plan.missing(store) == []
    # the killed attempt's debris was not published
    for e in result.manifest["evals"]:
        assert "partial.txt" not in {f["path"] for f in store.read_json(f"{e['id']}/manifest.json")["files"]}


def test_bad_input_fails_before_any_model_is_loaded(kit, tmp_path, counted):
    store = LocalStore(tmp_path / "store")
    good = kit["models"]["m0"]
    # a model folder without weights, listed after a good one
    no_weights = tmp_path / "noweights"
    shutil.copytree(good, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    # a tokenizer without a chat template while chat is asked for
    no_template = tmp_path / "notemplate"
    shutil.copytree(good, no_template)
    (no_template / "chat_template.jinja").unlink(missing_ok=True)
    tc = json.loads((no_template / "tokenizer_config.json").read_text())
    tc.pop("chat_template", None)
    (no_template / "tokenizer_config.json").write_text(json.dumps(tc))
    # a task file with a missing field, and an empty task file
    missing_field = tmp_path / "bad.jsonl"
    missing_field.write_text(json.dumps({"premise": "A.", "choice1": "b", "question": "cause", "label": 0}) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")

    base = _cfg(kit, names=("m0",)).model_dump(mode="json")
    cases = [
        ({"models": base["models"] + [{"name": "x", "path": str(no_weights)}]}, InputError, "no weights"),
        ({"models": base["models"] + [{"name": "x", "path": str(no_template), "chat": True}]}, ConfigError,
         "chat template"),
        ({"tasks": base["tasks"] + [{"name": "bad", "kind": "xcopa", "data": str(missing_field)}]}, InputError,
         "choice2"),
        ({"tasks": base["tasks"] + [{"name": "empty", "kind": "xcopa", "data": str(empty)}]}, InputError, "empty task"),
        ({"models": [{"name": "x", "path": "@sft"}]}, ConfigError, "unresolved"),
    ]
    for over, exc, text in cases:
        cfg = EvaluateConfig.model_validate({**base, **over})
        with pytest.raises(exc, match=text):
            run_evaluate(store, cfg, tmp_path / "work", log=lambda _: None)
    assert counted == {"run_task": [], "load_model": []}
    assert not list(store.list(EVAL_STAGE))
    # a task without its required fields never gets past the config
    with pytest.raises(ValueError, match="direction"):
        EvaluateConfig.model_validate({**base, "tasks": [{"name": "f", "kind": "flores", "data": kit["flores"]}]})


@pytest.mark.slow  # a Prefect server start in a fresh process: ~30-70 s on 2 busy cores
def test_cli_run_evaluate_prints_the_report_manifest_last(kit, tmp_path):
    """`llammas run evaluate` as a user runs it (Prefect task with its artifacts, ephemeral server)."""
    import yaml

    cfg = {
        "store": {"uri": f"file://{tmp_path}/store", "work_dir": str(tmp_path / "work")},
        "corpus": {"language": "et", "sources": [{"name": "web", "kind": "jsonl", "paths": ["demo/web/docs.jsonl"]}]},
        "evaluate": {"name": "cli", "models": [{"name": "m0", "path": kit["models"]["m0"], "chat": False}],
                     "tasks": [{"name": "xcopa_et", "kind": "xcopa", "data": kit["xcopa"]}],
                     "bootstrap": {"samples": 100}, "contamination": {"enabled": False}},
    }
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "run", "evaluate", "--config", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f"output: file://{tmp_path}/store/report/") and last.endswith("/manifest.json")
    manifest = json.loads(Path(last.removeprefix("output: file://")).read_text())
    assert [r["model"] for r in manifest["rows"]] == ["m0"]
    assert (Path(last.removeprefix("output: file://")).parent / "report.html").is_file()
    # the artifacts the UI shows, read from the run's Prefect database
    import sqlite3

    with sqlite3.connect(tmp_path / "prefect" / "prefect.db") as db:
        arts = dict(db.execute("select key, type from artifact where key like 'cli-%'").fetchall())
    assert arts == {"cli-comparison": "table", "cli-report": "markdown", "cli-scores": "markdown",
                    "cli-progress": "progress"}, arts
    # defect 9: again, the task is Cached and its body does not run; the report is re-published on the
    # new flow run, so the latest run shows it. Run and task carry lang:et.
    again = subprocess.run([sys.executable, "-m", "flows.cli", "run", "evaluate", "--config", str(path)], cwd=REPO,
                           capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == last, again.stderr[-3000:]
    with sqlite3.connect(tmp_path / "prefect" / "prefect.db") as db:
        runs = db.execute("select id, name, tags from flow_run order by created").fetchall()
        assert len(runs) == 2 and all('"lang:et"' in tags for _, _, tags in runs), runs
        assert all(name.startswith("evaluate-et-") for _, name, _ in runs), runs
        task = db.execute("select state_name, tags from task_run where flow_run_id = ? and name like 'evaluate-%'",
                          (runs[1][0],)).fetchone()
        assert task[0] == "Cached" and '"lang:et"' in task[1], task
        latest = [k for (k,) in db.execute("select key from artifact where flow_run_id = ?", (runs[1][0],))]
    assert "cli-report" in latest and "cli-comparison" in latest, latest


def _publish_as_stage(store, kit, tmp_path, phase: str, data: list[str], init: str) -> str:
    """A training-stage-shaped output holding a real model: model/ + phase/data/init_model fields."""
    def body(ctx):
        shutil.copytree(kit["models"]["m1"], ctx.out_dir / "model")
        return {"phase": phase, "model": "model", "data": data, "init_model": init}

    return run_stage(store, phase, {"from": "test", "data": data}, [], body, tmp_path / "w").manifest_uri


def test_report_checks_contamination_along_the_model_lineage(kit, tmp_path, counted):
    """The SFT data of the evaluated stage model carries two XCOPA premises: the report says so."""
    store = LocalStore(tmp_path / "store")
    sft_data = tmp_path / "sft.jsonl"
    planted = [PREMISES[1] + ".", PREMISES[6] + "."]
    chats = [{"messages": [{"role": "user", "content": "Kirjuta lause."}, {"role": "assistant", "content": p}]}
             for p in planted]
    chats += [{"messages": [{"role": "user", "content": f"Küsimus {i}?"}, {"role": "assistant", "content": "Ei tea."}]}
              for i in range(10)]
    sft_data.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in chats) + "\n", encoding="utf-8")
    sft_uri = _publish_as_stage(store, kit, tmp_path, "sft", [f"file:{sft_data}:x"], "org/base@")
    cfg = EvaluateConfig.model_validate({
        "name": "lineage",
        "models": [{"name": "base", "path": kit["models"]["m0"], "chat": False},
                   {"name": "sft", "path": sft_uri, "chat": False}],
        "tasks": [{"name": "xcopa_et", "kind": "xcopa", "data": kit["xcopa"]}],
        "bootstrap": {"samples": 100},
        "contamination": {"n": 8, "threshold": 0.5},
    })
    result = run_evaluate(store, cfg, tmp_path / "work", log=lambda _: None)
    plan = plan_evaluate(cfg, log=lambda _: None)
    assert plan.identities["sft"] == f"stage:{json.loads(Path(sft_uri.removeprefix('file://')).read_text())['id']}"
    rows = result.manifest["contamination_rows"]
    assert len(rows) == 1 and rows[0]["source_kind"] == "sft" and rows[0]["via"].startswith("sft/")
    # the 8 scored items (each: premise, choices, question); the two planted premises are found, nothing else
    assert rows[0]["items"] == 8 and rows[0]["items_contaminated"] == 2
    assert rows[0]["docs_scanned"] == rows[0]["docs_total"] == 12
    md = store.local_path(f"{result.manifest['id']}/report.md").read_text()
    assert "## Contamination" in md and "| xcopa_et | 8 |" in md and "| 2 | 0.250 | file:" in md
    assert "| 12 of 12 |" in md and "n-gram size 8" in md


def test_evaluate_on_an_s3_store(kit, tmp_path, s3_endpoint, monkeypatch):
    """Results, samples and the report live in S3 (moto's server); a rerun reuses them."""
    from llammas_core.store import open_store

    store = open_store("s3://llammas-test/eval-run", endpoint_url=s3_endpoint)
    cfg = _cfg(kit, names=("m0", "m1"), tasks=[{"name": "xcopa_et", "kind": "xcopa", "data": kit["xcopa"]}])
    result = run_evaluate(store, cfg, tmp_path / "work", log=lambda _: None)
    assert result.manifest_uri.startswith("s3://llammas-test/eval-run/report/")
    with store.open_read(f"{result.manifest['id']}/report.html") as f:
        assert b"<table>" in f.read()
    assert run_evaluate(store, cfg, tmp_path / "work2", log=lambda _: None).skipped
