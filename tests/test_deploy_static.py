"""The deployment definitions without a server: deploy/prefect.yaml matches deployments.py and the
models, the compose and Kubernetes files wire up (they cannot run here: no container engine), the images
install the locked versions, the run forms' schemas keep their bounds, and the docs list every deployment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
POOL = "llammas-process"


def test_prefect_yaml_matches_the_models_and_deployments_py():
    from deploy.deployments import DEPLOYMENTS
    from llammas_core.config import LlammasConfig, StoreConfig
    from llammas_core.corpus.config import CorpusConfig

    spec = yaml.safe_load((DEPLOY / "prefect.yaml").read_text())
    deps = {d["name"]: d for d in spec["deployments"]}
    assert {n: d["entrypoint"] for n, d in deps.items()} == {n: e for n, (e, _) in DEPLOYMENTS.items()}
    assert spec["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $LLAMMAS_REPO }}"}}]
    assert deps["corpus-refresh"]["schedules"] == [{"cron": "0 3 * * 1", "timezone": "UTC", "active": True}]
    for d in deps.values():
        assert d["work_pool"]["name"] == POOL
        p = d["parameters"]
        if "corpus" in p:
            CorpusConfig.model_validate(p["corpus"])
        if "store" in p:
            StoreConfig.model_validate(p["store"])
        if "config" in p:
            LlammasConfig.model_validate(p["config"])


def test_compose_file_is_consistent():
    text = (DEPLOY / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert {"postgres", "prefect-server", "minio", "createbuckets", "worker"} <= services.keys()
    # the server is built with the same constraints as the worker (not an upstream image that
    # resolves its own SQLAlchemy)
    assert services["prefect-server"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["prefect-server"]["build"]["target"] == "server"
    assert services["worker"]["build"]["target"] == "worker"
    server_env = services["prefect-server"]["environment"]
    assert server_env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert server_env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    worker = services["worker"]
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "--pool" in worker["command"] and POOL in worker["command"]
    assert worker["environment"]["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
    # every depends_on condition names a service that can satisfy it
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s healthcheck, it has none"
    # every required variable (${VAR} / ${VAR:?...}) is in .env.example
    example = {line.split("=", 1)[0] for line in (DEPLOY / ".env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    required = set(re.findall(r"\$\{(\w+)(?::\?[^}]*)?\}", text))
    assert required <= example, f"missing from .env.example: {required - example}"


def test_images_install_the_locked_versions():
    """Both images install with -c constraints.txt, and constraints.txt locks what this test run
    uses: a Prefect server with SQLAlchemy 2.1 never schedules a run (see the scheduler test)."""
    from importlib.metadata import version

    docker = (DEPLOY / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", docker, flags=re.M)[1:]
    targets = {s.split()[2]: s for s in stages if " AS " in s.split("\n")[0]}
    assert {"server", "worker"} <= targets.keys()
    for name in ("server", "worker"):
        assert re.search(r"pip install -c \S*constraints.txt", targets[name]), name
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "constraints.txt").read_text(), flags=re.M))
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    for package in ("prefect", "sqlalchemy", "fastapi", "starlette", "pydantic"):
        assert pins.get(package) == version(package), (package, pins.get(package), version(package))
    spec = yaml.safe_load((DEPLOY / "prefect.yaml").read_text())
    assert spec["prefect-version"] == version("prefect")
    k8s = yaml.safe_load_all((DEPLOY / "k8s/prefect-server.yaml").read_text())
    images = [c["image"] for d in k8s if d and d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]]
    assert images and all(i.startswith("llammas-prefect-server") for i in images), images


def test_k8s_manifests_parse_and_wire_up():
    files = sorted(f for f in (DEPLOY / "k8s").glob("*.yaml") if f.name != "kustomization.yaml")
    kustomization = yaml.safe_load((DEPLOY / "k8s/kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [f.name for f in files]
    docs = [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for expected in [("Namespace", "llammas"), ("StatefulSet", "postgres"), ("Service", "postgres"),
                     ("Deployment", "prefect-server"), ("Service", "prefect-server"),
                     ("Deployment", "prefect-worker"), ("StatefulSet", "minio"), ("Service", "minio")]:
        assert expected in kinds
    pods = {}
    for d in docs:
        assert d.get("apiVersion") and d["metadata"].get("name")
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == "llammas", d["metadata"]["name"]
        if d["kind"] in ("Deployment", "StatefulSet"):
            tmpl = d["spec"]["template"]
            assert d["spec"]["selector"]["matchLabels"].items() <= tmpl["metadata"]["labels"].items()
            pods[d["metadata"]["name"]] = tmpl["metadata"]["labels"]
    for svc in (d for d in docs if d["kind"] == "Service"):  # each Service selects some workload's pods
        assert any(svc["spec"]["selector"].items() <= labels.items() for labels in pods.values()), svc


def _descriptions(node, path=""):
    if isinstance(node, dict):
        if isinstance(node.get("description"), str):
            yield path, node["description"]
        for k, v in node.items():
            yield from _descriptions(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _descriptions(v, f"{path}[{i}]")


def _form_schemas() -> dict:
    from deploy.deployments import build
    from llammas_core.config import load_config

    return {d.name: d._parameter_openapi_schema.model_dump() for d in
            build(load_config(REPO / "configs/demo.yaml"), None, None, "0 3 * * 1", "UTC")}


def test_field_descriptions_render_in_the_form():
    """The UI renders descriptions as Markdown and drops anything that looks like an HTML tag:
    `<store>/checkpoints/<stage>/<key>/` showed as `/checkpoints///`. Placeholders belong in code
    spans, where they are shown as written."""
    bad = []
    for name, schema in _form_schemas().items():
        for path, text in _descriptions(schema):
            outside_code = re.sub(r"`[^`]*`", "", text)
            if re.search(r"<[A-Za-z/!][^>]*>", outside_code):  # what HTML calls a tag
                bad.append(f"{name}{path}: {text}")
    assert not bad, "\n".join(bad)


def _model_schema() -> dict:
    from llammas_core.config import LlammasConfig

    return LlammasConfig.model_json_schema()


def test_run_form_schema_is_plain_where_it_can_be():
    """Optional leaves (`max_steps: int | None`) are plain typed inputs carrying their bounds, not
    "int | None" pickers whose errors read "not valid under any of the given schemas"; Optional
    sections keep the None choice; the pipeline's corpus section is required, not "(Optional)"."""
    schemas = _form_schemas()
    pipeline = schemas["pipeline"]["definitions"]
    # bounds sit in allOf: Prefect's UI drops a property's own minimum/maximum/pattern before it validates
    assert pipeline["CPTConfig"]["properties"]["max_steps"] == {
        "type": "integer", "allOf": [{"minimum": 1}], "title": "Max Steps",
        "description": pipeline["CPTConfig"]["properties"]["max_steps"]["description"]}
    # every bound of the models survives where the UI keeps it: no property carries its own
    kept = ("type", "title", "description", "default", "enum", "items", "anyOf", "allOf", "$ref", "properties",
            "required", "format", "const", "examples", "example", "prefixItems", "maxItems", "minItems",
            "additionalProperties", "position", "block_type_slug")
    text = json.dumps(pipeline)
    assert text.count('"minimum"') == json.dumps(_model_schema()).count('"minimum"') > 80
    for definition in pipeline.values():
        for name, prop in (definition.get("properties") or {}).items():
            assert set(prop) <= set(kept), (name, sorted(set(prop) - set(kept)))
    assert "corpus" in pipeline["LlammasConfig"]["required"]
    assert "anyOf" not in pipeline["LlammasConfig"]["properties"]["corpus"]
    assert [o.get("type") for o in pipeline["LlammasConfig"]["properties"]["train"]["anyOf"]] == [None, "null"]
    for schema in schemas.values():  # what the form validates is still the flow's parameters
        assert schema["required"] == [k for k in schema["required"]]
    assert schemas["corpus"]["required"] == ["corpus"]


def test_docs_list_every_deployment():
    """Defect 8: deploy/README.md and the deployments.py docstring listed four deployments, not six."""
    import deploy.deployments as d

    readme = (REPO / "deploy" / "README.md").read_text()
    flow = {"corpus-refresh": "corpus"}
    for name in d.DEPLOYMENTS:
        assert f"| `{flow.get(name, name)}/{name}` |" in readme, name
        assert f"`{name}`" in d.__doc__, name
