"""Evaluation fans out by model: several workers (threads in the core test, Prefect `evaluate-model` task
runs in the flow test) give the very report one worker gives, byte for byte; a retried model task
evaluates only its missing pairs; the device pool gives each worker its own GPU.

Real components: tiny random Llamas, lm-eval for XCOPA, sacrebleu for FLORES (the kit of
test_eval_stage); engine.run_task is wrapped only to record calls and their times.
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llammas_core.evaluate import engine
from llammas_core.evaluate.stage import assemble_report, evaluate_model, plan_evaluate, run_evaluate
from llammas_core.evaluate.workers import DevicePool, eval_workers, worker_devices
from llammas_core.store import LocalStore
from tests.test_eval_stage import _cfg, kit  # noqa: F401  (the session fixture)


@pytest.fixture
def calls(monkeypatch):
    """(model, task, thread, start, end) of every run_task call; the real function runs."""
    seen, real = [], engine.run_task

    def run_task(model, task, out_dir):
        start = time.monotonic()
        try:
            return real(model, task, out_dir)
        finally:
            seen.append((model.spec.name, task.name, threading.get_ident(), start, time.monotonic()))

    monkeypatch.setattr(engine, "run_task", run_task)
    return seen


def _report(store_dir: Path, manifest: dict) -> tuple[list, bytes, bytes]:
    folder = store_dir / manifest["id"]
    return manifest["rows"], (folder / "report.md").read_bytes(), (folder / "report.html").read_bytes()


def _sequential(kit, tmp_path, cfg) -> tuple[list, bytes, bytes, str]:
    """One worker's report, made in tmp/store and moved to tmp/sequential: the fan-out then writes the
    same paths (report.md names the result URIs), so the bytes can be compared."""
    result = run_evaluate(LocalStore(tmp_path / "store"), cfg, tmp_path / "work", log=lambda _: None)
    out = _report(tmp_path / "store", result.manifest)
    shutil.move(tmp_path / "store", tmp_path / "sequential")
    shutil.rmtree(tmp_path / "work")
    return (*out, result.manifest["id"])


def test_models_in_parallel_threads_give_the_sequential_report(kit, tmp_path, calls):  # noqa: F811
    cfg = _cfg(kit, names=("m0", "m1", "m2"))
    rows, md, html, report_id = _sequential(kit, tmp_path, cfg)
    calls.clear()

    store = LocalStore(tmp_path / "store")
    plan = plan_evaluate(cfg, log=lambda _: None)
    with ThreadPoolExecutor(3) as pool:  # the last model first: the report must not depend on the order
        futures = [pool.submit(evaluate_model, store, plan, m.name, tmp_path / "work", lambda _: None)
                   for m in reversed(cfg.models)]
        evals = [pair for f in futures for pair in f.result()]
    result = assemble_report(store, plan, evals, tmp_path / "work", log=lambda _: None)

    assert result.manifest["id"] == report_id
    assert _report(tmp_path / "store", result.manifest) == (rows, md, html)
    assert [(e["model"], e["task"]) for e in result.manifest["evals"]] == [
        (m, t) for m in ("m0", "m1", "m2") for t in ("xcopa_et", "flores_en-et")]
    # really in parallel: each model in its own thread, their evaluations overlapping in time
    spans = {m: (min(c[3] for c in calls if c[0] == m), max(c[4] for c in calls if c[0] == m)) for m in ("m0", "m1", "m2")}
    assert len({c[2] for c in calls}) == 3 and len(calls) == 6
    assert spans["m0"][0] < spans["m2"][1] and spans["m2"][0] < spans["m0"][1], spans


def test_the_report_needs_every_pair(kit, tmp_path):  # noqa: F811
    from llammas_core.errors import LlammasError

    cfg = _cfg(kit, names=("m0", "m1"), tasks=[{"name": "xcopa_et", "kind": "xcopa", "data": kit["xcopa"]}])
    store = LocalStore(tmp_path / "store")
    plan = plan_evaluate(cfg, log=lambda _: None)
    evals = evaluate_model(store, plan, "m1", tmp_path / "work", lambda _: None)
    with pytest.raises(LlammasError, match="1 .model, task. pairs have no result"):
        assemble_report(store, plan, evals, tmp_path / "work", log=lambda _: None)


def test_workers_and_devices():
    assert eval_workers(None, 3, gpus=0) == 2 and eval_workers(None, 1, gpus=0) == 1
    assert eval_workers(None, 3, gpus=8) == 3 and eval_workers(None, 5, gpus=2) == 2
    assert eval_workers(4, 3, gpus=0) == 3 and eval_workers(1, 3, gpus=2) == 1
    assert worker_devices(3, gpus=2) == ["cuda:0", "cuda:1", "cuda:0"]
    assert worker_devices(2, gpus=0) == [None, None]
    # a worker holds its device until it gives it back: with two GPUs, a third taker waits
    pool, held, order = DevicePool(worker_devices(2, gpus=2)), [], []

    def take(i):
        with pool.take() as device:
            held.append(device)
            order.append(("got", i, device))
            time.sleep(0.3)
            assert held.count(device) == 1  # nobody else holds it meanwhile
            held.remove(device)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(order) == 3 and {d for *_, d in order} == {"cuda:0", "cuda:1"}


# ------------------------------------------------------------------ the Prefect layer


def test_prefect_fans_out_per_model_retries_only_missing_pairs_and_reports_the_same(kit, tmp_path, calls, prefect_api,  # noqa: F811
                                                                                       monkeypatch):
    """Two models, two at once, each its own `evaluate-model` task run tagged like the evaluate task;
    m1's second pair fails once with a transient error: its task run is retried and evaluates that pair
    only. The report is byte-identical to one worker's."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    import tasks.evaluate as te
    from llammas_core.config import StoreConfig

    cfg = _cfg(kit, names=("m0", "m1"), workers=2)
    rows, md, html, report_id = _sequential(kit, tmp_path, cfg)
    calls.clear()
    failed = []
    real = engine.run_task

    def flaky(model, task, out_dir):
        if (model.spec.name, task.name) == ("m1", "flores_en-et") and not failed:
            failed.append(1)
            raise ConnectionError("the store went away for a moment")
        return real(model, task, out_dir)

    monkeypatch.setattr(engine, "run_task", flaky)
    monkeypatch.setattr(te, "evaluate_model_task", te.evaluate_model_task.with_options(retry_delay_seconds=0))
    store = StoreConfig(uri=f"file://{tmp_path}/store", work_dir=str(tmp_path / "work"))

    @flow
    def run():
        from prefect.context import FlowRunContext

        return te.evaluate_and_publish(store, cfg, "et"), FlowRunContext.get().flow_run.id

    uri, flow_run_id = run()
    manifest = LocalStore(tmp_path / "store").read_json(uri.removeprefix(f"file://{tmp_path}/store/"))
    assert manifest["id"] == report_id
    assert _report(tmp_path / "store", manifest) == (rows, md, html)
    # every pair evaluated once, m1's flores pair once more after the failure; the retry did not redo xcopa
    done = sorted((m, t) for m, t, *_ in calls)
    assert failed and done == [("m0", "flores_en-et"), ("m0", "xcopa_et"), ("m1", "flores_en-et"), ("m1", "xcopa_et")]
    assert {c[2] for c in calls if c[0] == "m0"}.isdisjoint({c[2] for c in calls if c[0] == "m1"})  # own threads
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    by = {r.name: r for r in runs}
    assert set(by) == {"evaluate-t", "evaluate-t-m0", "evaluate-t-m1"}, sorted(by)
    for r in runs:
        assert {"stage:evaluate", "lang:et"} <= set(r.tags), (r.name, r.tags)
        assert r.state.is_completed(), (r.name, r.state)
    assert by["evaluate-t-m1"].run_count == 2 and by["evaluate-t-m0"].run_count == 1
