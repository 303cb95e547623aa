"""Scaling law and allocation: fits recover known curves, the form is chosen on held-out points, the
allocation equals brute force on small grids, and the `allocation` stage commits what the issue asks for."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from llammas_core.errors import ConfigError, InputError
from llammas_core.scaling.allocate import allocate, uniform
from llammas_core.scaling.fit import Curve, choose, fit_curve

REPO = Path(__file__).resolve().parents[1]
XS = [1000, 2000, 5000, 10000, 20000, 50000]


def _noisy(f, xs=XS, eps=0.05):
    return [f(x) + eps * (-1) ** i for i, x in enumerate(xs)]


def test_saturating_fit_recovers_parameters_and_is_chosen():
    report = choose(XS, _noisy(lambda x: 60 - 400 * x ** -0.4), ceiling=100)
    assert report.chosen == "saturating"
    p = report.curve.params
    assert p["s_inf"] == pytest.approx(60, abs=0.5) and p["b"] == pytest.approx(0.4, abs=0.03)
    assert report.curve.concave
    c = report.candidates
    assert c["saturating"]["heldout_rmse"] < c["loglinear"]["heldout_rmse"]


def test_loglinear_chosen_for_log_data_and_fit_is_deterministic():
    ys = _noisy(lambda x: 10 + 3 * np.log(x))
    a, b = choose(XS, ys, ceiling=100), choose(XS, ys, ceiling=100)
    assert a.chosen == "loglinear" and a.curve.params == b.curve.params
    assert a.curve.params["beta"] == pytest.approx(3, abs=0.05)


def test_paper_form_has_its_ceiling_and_largest_holdout():
    report = choose(XS, _noisy(lambda x: 100 - 900 * x ** -0.3), holdout="largest", ceiling=100)
    paper = report.candidates["paper"]
    assert paper["params"]["s_inf"] == 100 and paper["params"]["b"] == pytest.approx(0.3, abs=0.02)
    assert report.chosen in ("paper", "saturating") and "largest" in report.note
    assert choose(XS, _noisy(lambda x: 50 - 90 * x ** -0.3), ceiling=None).candidates["paper"] == {
        "skipped": "no scaling.ceiling configured"}


def test_too_few_points_are_clear_errors():
    with pytest.raises(ConfigError, match="2 or more distinct sizes"):
        choose([1000, 1000], [10.0, 11.0])
    with pytest.raises(ConfigError, match="needs at least 3 distinct sizes"):
        fit_curve("saturating", [1000, 2000], [10.0, 12.0])
    with pytest.raises(ConfigError, match="at least 1"):
        choose([0, 10], [1.0, 2.0])
    two = choose([1000, 4000], [20.0, 26.0], ceiling=100)  # nothing can be held out: fewest parameters
    assert two.chosen == "paper" or two.chosen == "loglinear"
    assert "too few points" in two.note


def _brute(score, budget, caps, step, objective):
    langs = list(score)
    best = None
    ranges = [range(0, min(budget, caps.get(l) if caps.get(l) is not None else budget) + 1, step) for l in langs]
    for xs in itertools.product(*ranges):
        if sum(xs) != budget:
            continue
        vals = [score[l](x) for l, x in zip(langs, xs)]
        v = sum(vals) / len(vals) if objective == "mean" else min(vals)
        best = v if best is None else max(best, v)
    return best


@pytest.mark.parametrize("objective", ["mean", "min"])
def test_allocation_matches_brute_force_on_small_grids(objective):
    rng = np.random.default_rng(0)
    for trial in range(25):
        n = int(rng.integers(2, 5))
        curves = {}
        for i in range(n):
            if rng.random() < 0.5:
                curves[f"l{i}"] = Curve("saturating", {"s_inf": float(rng.uniform(30, 70)), "a": float(rng.uniform(5, 60)),
                                                      "b": float(rng.uniform(0.2, 1.5))})
            else:
                curves[f"l{i}"] = Curve("loglinear", {"alpha": float(rng.uniform(0, 20)), "beta": float(rng.uniform(0.5, 5))})
        score = {l: (lambda x, c=c: float(c(x))) for l, c in curves.items()}
        step = int(rng.choice([1, 2, 5]))
        budget = step * int(rng.integers(0, 12))
        caps = {l: (None if rng.random() < 0.5 else int(step * rng.integers(budget // step // n + 1, budget // step + 2)))
                for l in curves}
        got = allocate(score, budget, caps, step, objective, {l: c.concave for l, c in curves.items()})
        assert got.exact and sum(got.pairs.values()) == budget
        assert all(caps[l] is None or got.pairs[l] <= caps[l] for l in curves)
        value = got.mean if objective == "mean" else got.min
        assert value == pytest.approx(_brute(score, budget, caps, step, objective), abs=1e-9), (trial, got)
        base = uniform(score, budget, caps, step)
        assert sum(base.pairs.values()) == budget and value >= (base.mean if objective == "mean" else base.min) - 1e-9


def test_non_concave_curve_falls_back_to_checked_greedy():
    falling = Curve("loglinear", {"alpha": 50.0, "beta": -2.0})  # convex: greedy alone is not proven optimal
    convexish = {"a": lambda x: float(falling(x)), "b": lambda x: 0.001 * x * x}
    got = allocate(convexish, 20, {"a": None, "b": None}, 1, "mean", {"a": False, "b": True})
    assert not got.exact and "not proven" in got.method
    assert got.mean == pytest.approx(_brute(convexish, 20, {}, 1, "mean"))


def test_budget_errors():
    s = {"a": lambda x: float(np.log1p(x)), "b": lambda x: float(np.log1p(x))}
    with pytest.raises(ConfigError, match="exceeds what the languages have available"):
        allocate(s, 100, {"a": 10, "b": 20})
    with pytest.raises(ConfigError, match="multiple of the step"):
        allocate(s, 105, {}, step=10)


def test_allocation_stage_commits_fits_allocation_and_plot(tmp_path):
    from llammas_core.config import load_config
    from llammas_core.refs import remember, resolve_standalone
    from llammas_core.scaling.stage import allocation_caps, run_allocation

    cfg = load_config(REPO / "configs/demo-scaling.yaml",
                      [f"store.uri=file://{tmp_path}/store", f"store.work_dir={tmp_path}/work"])
    store = cfg.store.open()
    result = run_allocation(store, cfg.scaling, cfg.store.work_path, log=lambda s: None)
    m = result.manifest
    assert set(m["fits"]) == {"et", "fi", "lv"} and sum(m["allocation"].values()) == 60000
    assert m["allocation"]["lv"] <= 15000 and m["exact"]
    assert m["predicted_mean"] >= m["predicted_mean_uniform"]
    for f in m["fits"].values():
        assert f["chosen"] in f["candidates"] and "rmse" in f["candidates"][f["chosen"]]
    png = Path(m["uri"].removeprefix("file://")) / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((png.parent / "allocation.json").read_text())["allocation"] == m["allocation"]
    assert run_allocation(store, cfg.scaling, cfg.store.work_path, log=lambda s: None).skipped
    # `@allocation` resolves through the one reference resolver once the flow remembered it
    remember(store, "allocation", cfg.scaling, result.manifest_uri)
    assert resolve_standalone(store, cfg, {"allocation"}) == {"allocation": result.manifest_uri}
    assert allocation_caps(result.manifest_uri) == m["allocation"]  # what a MuIT mixture reads
    from llammas_core.stage import run_stage

    other = run_stage(store, "report", {"n": 1}, [], lambda ctx: {"rows": []}, tmp_path / "work").manifest_uri
    with pytest.raises(InputError, match="not an allocation stage"):
        allocation_caps(other)


def test_points_from_committed_evaluate_manifests(tmp_path):
    """Pilot results read from committed stages: a report's rows (task, metric, model, score) and an eval
    stage's metrics; a missing row is an error naming what the report has."""
    from llammas_core.scaling.config import ScalingConfig
    from llammas_core.scaling.stage import run_allocation
    from llammas_core.stage import run_stage
    from llammas_core.store import open_store

    store = open_store(f"file://{tmp_path}/store")
    uris = []
    for pairs, score in [(1000, 20.0), (4000, 26.0), (16000, 30.0)]:
        rows = [{"task": "flores_en-fi", "metric": "chrf", "model": "sft", "score": score},
                {"task": "flores_en-fi", "metric": "bleu", "model": "sft", "score": score / 3}]
        uris.append(run_stage(store, "report", {"pairs": pairs}, [], lambda ctx, rows=rows: {"rows": rows},
                              tmp_path / "work").manifest_uri)
    evals = run_stage(store, "eval", {"x": 1}, [], lambda ctx: {"task": "flores_en-et", "metrics": {"chrf": 33.0}},
                      tmp_path / "work").manifest_uri
    cfg = ScalingConfig(languages=["fi", "et"], budget=10000, step=1000,
                        points=[{"language": "et", "pairs": 1000, "score": 30.0}],
                        pilot_results=[{"language": "fi", "pairs": p, "manifest": u} for p, u in zip([1000, 4000, 16000], uris)]
                        + [{"language": "et", "pairs": 8000, "manifest": evals}])
    m = run_allocation(store, cfg, tmp_path / "work", log=lambda s: None).manifest
    assert [p["score"] for p in m["points"]["fi"]] == [20.0, 26.0, 30.0]
    assert m["points"]["et"] == [{"pairs": 1000, "score": 30.0}, {"pairs": 8000, "score": 33.0}]
    assert {i["id"] for i in m["inputs"]} == {u.rsplit("/", 1)[0].split("/store/")[1] for u in uris + [evals]}
    bad = cfg.model_copy(update={"metric": "comet"})
    with pytest.raises(InputError, match="no comet of model sft on flores_en-fi"):
        run_allocation(store, bad, tmp_path / "work", log=lambda s: None)


def test_config_errors_and_pilot_expansion():
    from llammas_core.config import load_config
    from llammas_core.scaling.config import ScalingConfig
    from llammas_core.scaling.pilots import expand_pilots

    with pytest.raises(Exception, match="not in the language registry"):
        ScalingConfig(languages=["xx-nope"], budget=1)
    with pytest.raises(Exception, match="not in scaling.languages"):
        ScalingConfig(languages=["et"], budget=1, points=[{"language": "fi", "pairs": 1, "score": 1.0}])
    cfg = load_config(REPO / "configs/x-llama-scaling.yaml")
    pilots = expand_pilots(cfg.scaling)
    assert len(pilots) == 6 * 5
    p = next(p for p in pilots if p.language == "zh" and p.pairs == 50000)
    comp = next(c for c in p.instructions.mixture.components if c.name == "translation")
    assert comp.max_records == 50000 and p.instructions.language == "zh" and p.instructions.translator.tgt_lang == "zh"
    assert p.instructions.name.endswith("-zh-50000") and p.evaluate.tasks[0].direction == "en-zh"
    assert p.train.sft.sources == ["@instructions"]
    rehearsal = expand_pilots(load_config(REPO / "configs/demo-scaling-pilots.yaml").scaling)
    assert [(p.language, p.pairs) for p in rehearsal] == [("et", 20), ("et", 60)]
    broken = cfg.scaling.model_copy(update={"pilot": cfg.scaling.pilot.model_copy(update={"translation_component": "nope"})})
    with pytest.raises(ConfigError, match="scaling pilot ar at 10,000 pairs: its mixture has no component 'nope'"):
        expand_pilots(broken)


@pytest.mark.slow  # a Prefect server start: ~50 s on a busy 2-core box
def test_demo_scaling_runs_from_the_command_line(tmp_path):
    """`llammas run scaling` on the CPU demo: the flow, the task with its artifacts, `output:` last."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "flows.cli", "run", "scaling", "--config", "configs/demo-scaling.yaml",
                           "--verbose",  # the task's log lines (quiet by default: they go to the full log)
                           "--set", f"store.uri=file://{tmp_path}/store", "--set", f"store.work_dir={tmp_path}/work"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f"output: file://{tmp_path}/store/allocation/")
    manifest = json.loads(Path(last.removeprefix("output: file://")).read_text())
    assert manifest["predicted_mean"] >= manifest["predicted_mean_uniform"]
    assert "predicted chrf: mean" in proc.stdout + proc.stderr
