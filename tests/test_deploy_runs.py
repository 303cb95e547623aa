"""Runs of the deployments on a real Prefect server (tests/deploy_server.py): a process worker runs the
corpus deployment to COMPLETED (readable names, tags, artifacts; Cached on a rerun), an input error fails
with one line, and the scheduler creates the weekly refresh's runs, which a worker completes."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import pytest

from tests.deploy_server import (
    POOL, REPO, RUN_NAME, _cli, _deployments, _post, _run_corpus, _run_logs, _scheduled_runs, client,
)


@pytest.mark.slow
def test_worker_runs_the_corpus_deployment(server, registered, small_corpus):
    run, logs, artifacts, task_runs = _run_corpus(server, small_corpus)
    assert run.state.is_completed(), f"{run.state}\n{logs[-3000:]}"
    store = Path(small_corpus["store"]["uri"].removeprefix("file://"))
    assert sorted(store.rglob("manifest.json")), "no manifest in the store"
    summary = [a for a in artifacts if a.key == "corpus-et-summary"]
    assert summary and "manifest.json" in str(summary[0].data) and "computed" in str(summary[0].data)
    # the UI: a readable run name, tags for language and stage, task names without random suffixes
    assert RUN_NAME.match(run.name), run.name
    assert {"lang:et", "stage:corpus"} <= set(run.tags), run.tags
    curate = [t for t in task_runs if t.name == "corpus-et"]
    assert len(curate) == 1 and {"lang:et", "stage:corpus"} <= set(curate[0].tags), [t.name for t in task_runs]
    assert curate[0].state.name == "Completed"
    # summaries without missing values or long floats; the step table in human units
    text = str(summary[0].data)
    assert "n/a" not in text and "None" not in text and not re.search(r"\d\.\d{6,}", text), text
    table = [a for a in artifacts if a.key == "corpus-et-steps"]
    assert table, [a.key for a in artifacts]
    rows = json.loads(table[0].data) if isinstance(table[0].data, str) else table[0].data
    assert rows and all("step" in r and not re.search("[\U0001F000-\U0001FAFF]", r["step"]) for r in rows), rows
    assert all(isinstance(v, str) for r in rows for v in r.values()), rows  # formatted, no raw floats
    assert all(re.fullmatch(r"-|\d+(\.\d)? (ms|s)|\d+ (min|h) \d+ (s|min)", r["time"]) for r in rows), rows

    # the same parameters again: the committed stage is reused, and the UI says so the first time
    # (before, the second run showed "Completed" and only the third "Cached")
    run, logs, artifacts, task_runs = _run_corpus(server, small_corpus)
    assert run.state.is_completed(), f"{run.state}\n{logs[-3000:]}"
    curate = [t for t in task_runs if t.name == "corpus-et"]
    assert [t.state.name for t in curate] == ["Cached"], [(t.name, t.state) for t in task_runs]


@pytest.mark.slow
def test_input_error_fails_the_run_with_one_line(server, registered, small_corpus, tmp_path):
    """A missing source is an InputError: the run fails with a one-line state message naming it,
    and no traceback reaches the run's logs."""
    params = json.loads(json.dumps(small_corpus))
    params["corpus"]["sources"][0]["paths"] = [str(tmp_path / "no-such-dump.jsonl")]
    run, logs, _, task_runs = _run_corpus(server, params)
    assert run.state.is_failed(), run.state
    message = run.state.message or ""
    assert "\n" not in message.strip() and "no-such-dump.jsonl" in message, message
    assert "Traceback" not in logs, logs[-3000:]


@pytest.mark.slow
def test_retry_keeps_the_run_name(server, registered, small_corpus, tmp_path):
    """Retry in the UI re-runs the failed run itself: its name, and so every link to it, stays. The run
    fails on a source that is not there yet; the source arrives; Retry (the request the UI's button sends:
    state AwaitingRetry, not forced) and a worker complete the same run under the same name. The name is
    set to another minute of the scheme first: a flow that renamed on each start would change it."""
    import shutil

    params = json.loads(json.dumps(small_corpus))
    later = tmp_path / "arrives-later.jsonl"
    params["corpus"]["sources"][0]["paths"] = [str(later)]
    run, logs, _, _ = _run_corpus(server, params)
    assert run.state.is_failed() and RUN_NAME.match(run.name), (run.name, run.state)
    name = "corpus-et-2020-01-01-0000"
    with client(server) as c:
        c.update_flow_run(run.id, name=name)
    shutil.copyfile(small_corpus["corpus"]["sources"][0]["paths"][0], later)
    status, body = _post(server, f"/flow_runs/{run.id}/set_state",
                         {"state": {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the UI"},
                          "force": False})
    assert status in (200, 201) and body["status"] == "ACCEPT", body
    _cli(server, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once", timeout=240)
    retried, logs, _, _ = _run_logs(server, run.id)
    assert retried.state.is_completed(), f"{retried.state}\n{logs[-3000:]}"
    assert retried.run_count >= 2 and retried.name == name, (retried.run_count, retried.name)


@pytest.mark.slow
def test_scheduler_creates_the_weekly_refresh_runs(server, registered):
    """The server's scheduler (not the client) creates upcoming runs of the README's weekly
    `corpus-refresh`: with SQLAlchemy 2.1 it failed every loop and the Upcoming tab stayed empty."""
    refresh = _deployments(server)["corpus/corpus-refresh"]
    runs = _scheduled_runs(server, refresh.id, 3)
    assert len(runs) >= 3, f"no upcoming runs: {(server.home / 'server.log').read_text()[-3000:]}"
    for run in runs:
        assert run.state.is_scheduled() and run.auto_scheduled
        when = run.expected_start_time.astimezone(dt.timezone.utc)
        assert (when.weekday(), when.hour, when.minute) == (0, 3, 0), when  # Mondays 03:00 UTC
        assert run.parameters["corpus"]["language"] == "et"
    assert "bulk DML" not in (server.home / "server.log").read_text()


@pytest.mark.slow
def test_scheduled_runs_carry_the_scheme_name(server, registered):
    """Upcoming shows the naming scheme's name: the scheduler names its runs with a random slug (Prefect has
    no name template for them); deploy/run_names.py renames them to what the flow's namer gives them."""
    from deploy.run_names import name_scheduled_runs

    refresh = _deployments(server)["corpus/corpus-refresh"]
    runs = _scheduled_runs(server, refresh.id, 3)
    assert runs, "no scheduled runs"
    with client(server) as c:
        renamed = name_scheduled_runs(c)
        assert name_scheduled_runs(c) == []  # named once: the scheme's names stay
        after = [c.read_flow_run(r.id) for r in runs]
    for run in after:
        when = run.expected_start_time.astimezone(dt.timezone.utc)
        assert run.name == f"corpus-et-{when:%Y-%m-%d}-0300" and run.state.is_scheduled(), (run.name, when)
    assert {new for _, new in renamed} >= {r.name for r in after}
    assert not any(RUN_NAME.match(old) for old, _ in renamed)  # the scheduler's own names were slugs


@pytest.mark.slow
def test_scheduled_run_completes_through_a_worker(server, registered, small_corpus):
    """An every-minute schedule (test only), anchored so its first run is due at once: the
    scheduler creates the run, a process worker takes it, and it completes."""
    from prefect import Flow
    from prefect.schedules import Interval

    anchor = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    flow = Flow.from_source(source=str(REPO), entrypoint="flows/corpus.py:corpus_flow")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.api}):
        deployment_id = flow.to_deployment(
            name="corpus-every-minute", parameters=small_corpus, work_pool_name=POOL,
            schedules=[Interval(60, anchor_date=anchor)]).apply(work_pool_name=POOL)
    try:
        runs = _scheduled_runs(server, deployment_id, 1)
        assert runs and runs[0].auto_scheduled, f"scheduler made no run: {(server.home / 'server.log').read_text()[-3000:]}"
        first = min(runs, key=lambda r: r.expected_start_time)
        assert abs((first.expected_start_time - anchor).total_seconds()) < 1
        while dt.datetime.now(dt.timezone.utc) < first.expected_start_time:
            time.sleep(0.2)
        # due now; the next one is a minute away, outside the worker's 10 s prefetch
        _cli(server, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once", timeout=240)
        run, logs, _, _ = _run_logs(server, first.id)
        assert run.state.is_completed(), f"{run.state}\n{logs[-3000:]}"
        assert RUN_NAME.match(run.name), run.name
    finally:
        with client(server) as c:
            c.delete_deployment(deployment_id)  # the serve test below expects our names only
