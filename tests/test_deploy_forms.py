"""Deployments registered on a real Prefect server (tests/deploy_server.py): deploy/deployments.py and
deploy/prefect.yaml register what the README promises, the UI is served, and its run form marks a bad
field (through the validation endpoint, and in headless Chromium)."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.deploy_server import POOL, REPO, _expected_names, _get, _post, client


@pytest.mark.slow
def test_deployments_registered(server, registered):
    from llammas_core.config import load_config

    deps = registered.final
    assert set(deps) == _expected_names() and {"corpus/corpus-refresh", "corpus/corpus"} <= set(deps)
    assert {n: d.id for n, d in deps.items()} == registered.first_ids  # updated in place
    assert f"prefect worker start --pool {POOL}" in registered.output

    refresh, corpus = deps["corpus/corpus-refresh"], deps["corpus/corpus"]
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in refresh.schedules] == [("0 3 * * 1", "UTC", True)]
    assert corpus.schedules == []
    for d in deps.values():
        assert d.work_pool_name == POOL
        assert d.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]

    # the UI form is pre-filled from the config and renders the nested models
    cfg = load_config(REPO / "configs/demo.yaml")
    # (None values of optional leaves are left out: the same config once validated)
    assert type(cfg.corpus).model_validate(refresh.parameters["corpus"]) == cfg.corpus
    assert type(cfg.store).model_validate(refresh.parameters["store"]) == cfg.store
    schema = refresh.parameter_openapi_schema
    assert schema["properties"]["corpus"]["$ref"] == "#/definitions/CorpusConfig"
    defs = schema["definitions"]
    assert {"sources", "executor", "lid", "dedup", "filters"} <= defs["CorpusConfig"]["properties"].keys()
    assert {"name", "kind", "paths"} <= defs["SourceConfig"]["properties"].keys()
    assert defs["ExecutorConfig"]["properties"]["kind"]["enum"] == ["local", "ray", "slurm"]
    assert {"uri", "endpoint_url"} <= defs["StoreConfig"]["properties"].keys()
    for name in {"train/train", "pipeline/pipeline"} & deps.keys():  # one GPU job at a time
        assert deps[name].global_concurrency_limit.limit == 1

    with client(server) as c:
        pool = c.read_work_pool(POOL)
    assert pool.type == "process"
    assert "command" in pool.base_job_template["variables"]["properties"]  # the process worker's template


@pytest.mark.slow
def test_prefect_yaml_registers_the_same(registered):
    deps = registered.from_yaml
    assert set(deps) == _expected_names()
    refresh = deps["corpus/corpus-refresh"]
    assert [(s.schedule.cron, s.schedule.timezone) for s in refresh.schedules] == [("0 3 * * 1", "UTC")]
    assert refresh.work_pool_name == POOL
    # LLAMMAS_REPO unset at deploy time: the worker fills in its own checkout when a run starts
    assert refresh.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $LLAMMAS_REPO }}"}}]
    assert "sources" in refresh.parameters["corpus"]
    for name in {"train/train", "pipeline/pipeline"} & deps.keys():
        assert deps[name].global_concurrency_limit.limit == 1
    assert refresh.parameter_openapi_schema["definitions"]["CorpusConfig"]["properties"]["sources"]


@pytest.mark.slow
def test_ui_is_served(server):
    assert _get(f"{server.api}/health") == (200, "true")
    status, html = _get(f"{server.url}/")
    assert status == 200 and "<title>Prefect Server</title>" in html
    script = re.search(r'src="(/assets/[^"]+\.js)"', html).group(1)
    assert _get(f"{server.url}{script}", 10)[0] == 200  # the app bundle itself
    assert json.loads(_get(f"{server.url}/ui-settings")[1])["api_url"] == server.api  # the UI calls this API


@pytest.mark.slow
def test_form_errors_point_at_the_field(server, registered):
    """A negative max_steps in the run form: the UI's validation endpoint marks that field with the
    bound it breaks (before: "-1 is not valid under any of the given schemas"), and creating the
    run is refused naming the field. (In the pipeline form, `train` is an optional section, a
    Train/None choice: the form marks the whole section there; creating the run names the field.)"""
    deps = registered.final
    if "train/train" not in deps:
        pytest.skip("no train deployment")
    for name, train_path in (("train/train", ["config", "train"]), ("pipeline/pipeline", ["config", "train"])):
        d = deps.get(name)
        if d is None:
            continue
        params = json.loads(json.dumps(d.parameters))
        node = params
        for part in train_path:
            node = node[part]
        node["cpt"]["max_steps"] = -1
        if name == "train/train":
            status, body = _post(server, "/ui/schemas/validate",
                                 {"schema": d.parameter_openapi_schema, "values": params})
            assert status == 200 and body["valid"] is False, body
            errors = body["errors"]
            for part in [*train_path, "cpt", "max_steps"]:
                hits = [e for e in errors if isinstance(e, dict) and e.get("property") == part]
                assert hits, f"{part!r} not marked: {json.dumps(body)[:800]}"
                errors = hits[0]["errors"]
            assert errors == ["-1 is less than the minimum of 1"], errors
            # an empty field (null) is still valid: it means the default
            node["cpt"]["max_steps"] = None
            status, body = _post(server, "/ui/schemas/validate",
                                 {"schema": d.parameter_openapi_schema, "values": params})
            assert body["valid"] is True, body
            node["cpt"]["max_steps"] = -1
        status, body = _post(server, f"/deployments/{d.id}/create_flow_run", {"parameters": params})
        assert status == 409 and ".".join([*train_path, "cpt", "max_steps"]) in body["detail"], body


@pytest.mark.slow
def test_ui_renders_the_run_form(server, registered, tmp_path):
    """deploy/screenshot.py's shot of the corpus run form renders (skipped without Chromium)."""
    import shutil

    chromium = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if chromium is None:
        pytest.skip("no chromium on PATH")
    Image = pytest.importorskip("PIL.Image")

    from deploy.screenshot import shoot

    corpus = registered.final["corpus/corpus"]
    png = tmp_path / "form.png"
    shoot(chromium, f"{server.url}/deployments/deployment/{corpus.id}/run", png, tmp_path / "profile")
    with Image.open(png) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "a blank page"  # None: more colours than that


@pytest.mark.slow
def test_browser_marks_a_negative_max_steps_before_any_run(server, registered, tmp_path):
    """Defect 9: the form's validation request carried a schema without 87 of the 92 `minimum` bounds
    (Prefect's UI copies only some keywords of each property), so a bad number came back only as a
    pop-up after submit. In headless Chromium: type -1 into the train form's CPT Max Steps, submit:
    the field is marked with its bound and no run is created."""
    import shutil

    chromium = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if chromium is None:
        pytest.skip("no chromium on PATH")
    from deploy.browser import Browser

    train = registered.final.get("train/train")
    if train is None:
        pytest.skip("no train deployment")
    with client(server) as c:
        runs_before = len(c.read_flow_runs())
    field = ("(() => { const l = Array.from(document.querySelectorAll('label'))"
             ".filter(l => /^Max Steps/.test(l.textContent.trim()))[0]; if (!l) return null;"
             " let el = l; for (let i = 0; i < 6 && el && !el.querySelector('input'); i++) el = el.parentElement;"
             " const input = el && el.querySelector('input'); if (!input) return null;"
             " input.setAttribute('data-test', 'max-steps'); input.scrollIntoView({block: 'center'});"
             " return input.getBoundingClientRect().toJSON(); })()")
    browser = Browser(chromium, tmp_path / "profile")
    try:
        browser.send("Page.navigate", url=f"{server.url}/deployments/deployment/{train.id}/run")
        browser.wait_for(field, timeout=90)
        time.sleep(0.5)
        value = "document.querySelector('[data-test=max-steps]').value"
        for _ in range(5):  # a busy page may re-render under the first keys: until the field reads -1
            box = browser.js("document.querySelector('[data-test=max-steps]').getBoundingClientRect().toJSON()")
            browser.click(box["x"] + 10, box["y"] + box["height"] / 2)
            browser.js("document.querySelector('[data-test=max-steps]').select()")  # the default (30), selected
            browser.key("Backspace", code=8)
            browser.type("-1")
            time.sleep(1.5)  # the form takes the value on its own schedule
            browser.key("Tab", code=9)
            time.sleep(1.5)
            if browser.js(value) == "-1":
                break
        assert browser.js(value) == "-1"
        browser.js("Array.from(document.querySelectorAll('button')).find(b => b.textContent.trim() === 'Submit').click()")
        message = browser.wait_for(
            "(() => { const p = document.querySelector('[data-test=max-steps]').closest('.schema-form-property');"
            " return p && (p.innerText.match(/-1 is less than the minimum of 1/) || [null])[0]; })()", timeout=60)
        assert message == "-1 is less than the minimum of 1"
    finally:
        browser.close()
    with client(server) as c:
        assert len(c.read_flow_runs()) == runs_before  # refused in the form: no run
