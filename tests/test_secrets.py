"""Credentials never reach configs, logs, the store or the Prefect database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import jsonschema
import pytest
import yaml

from llammas_core.config import StoreConfig, load_config
from llammas_core.errors import ConfigError
from llammas_core.secrets import scrub
from tests.conftest import REPO

CANARY_PW = "canaryPW7x9q"


@pytest.mark.parametrize("text, secret", [
    (f"http://alice:{CANARY_PW}@minio:9000/bucket failed", CANARY_PW),
    (f"https://{CANARY_PW}@host/x", CANARY_PW),
    (f"api_key={CANARY_PW} next", CANARY_PW),
    (f'{{"aws_secret_access_key": "{CANARY_PW}"}}', CANARY_PW),
    (f"Authorization: Bearer {CANARY_PW}", CANARY_PW),
    (f"Authorization: Basic {CANARY_PW}", CANARY_PW),
    (f"http://AKIAEXAMPLE:wJalr/{CANARY_PW}/bPx@minio:9000 failed", CANARY_PW),  # secret keys hold `/`
    (f"https://alice:p@{CANARY_PW}@host/x", CANARY_PW),  # and `@`
    (f"token={CANARY_PW}", CANARY_PW),
])
def test_scrub(text, secret):
    clean = scrub(text)
    assert secret not in clean and "***" in clean


def test_scrub_keeps_ordinary_text():
    for text in ["s3://bucket/prefix/manifest.json", "pad_token=<pad> max_new_tokens=128", "tokens: 5000",
                 "user@example.com wrote", "http://127.0.0.1:9000/bucket", "token=5", "Token: 12 of 40",
                 "https://medium.com/@user"]:
        assert scrub(text) == text


def test_endpoint_with_credentials_is_refused_without_echoing_them(tmp_path):
    for url in (f"http://alice:{CANARY_PW}@minio:9000", f"http://AKIA:wJalr/{CANARY_PW}@minio:9000"):
        with pytest.raises(ValueError) as e:
            StoreConfig(endpoint_url=url)
        assert CANARY_PW not in str(e.value) and "credentials in a URL" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(REPO / "configs" / "demo.yaml", [f"store.endpoint_url=http://alice:{CANARY_PW}@minio:9000"])
    assert CANARY_PW not in str(e.value) and "store.endpoint_url" in str(e.value)


def test_flow_parameter_schema_refuses_credentials():
    """The Prefect server validates a run's parameters against this schema before it stores them."""
    from prefect.utilities.callables import parameter_schema

    from flows.corpus import corpus_flow

    schema = parameter_schema(corpus_flow).model_dump_for_openapi()
    store_schema = {**schema["definitions"]["StoreConfig"], "definitions": schema["definitions"]}
    jsonschema.validate({"uri": "s3://bucket/x", "endpoint_url": "http://minio:9000"}, store_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"endpoint_url": f"http://alice:{CANARY_PW}@minio:9000"}, store_schema)


def _grep_tree(root, needles: list[str]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {n}" for n in needles if n.encode() in data]
    return hits


def test_canary_credentials_leak_nowhere(tmp_path, s3_endpoint):
    """Canary AWS keys and an API key in the environment, a canary password in an endpoint URL: after a
    real corpus run on S3 and a refused run, none of them is in the output, the store, the work dir or
    the Prefect database."""
    key_id, secret, api_key = f"AKIA{uuid.uuid4().hex[:16].upper()}", f"canarySecret{uuid.uuid4().hex}", \
        f"canaryApiKey{uuid.uuid4().hex}"
    bucket_prefix = f"s3://llammas-test/canary-{uuid.uuid4().hex[:8]}"
    cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    cfg["store"] = {"uri": bucket_prefix, "endpoint_url": s3_endpoint, "work_dir": str(tmp_path / "work")}
    cfg["corpus"]["sources"] = [{"name": "web", "kind": "jsonl", "paths": [str(REPO / "demo" / "web" / "docs.jsonl")]}]
    cfg["corpus"]["dedup"] = {"exact": True, "minhash": False}
    cfg["corpus"]["executor"] = {"kind": "local", "tasks": 1, "workers": 1}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "OPENAI_API_KEY": api_key,
           "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_LOGGING_LEVEL": "DEBUG"}
    cli = [sys.executable, "-m", "flows.cli", "run", "corpus", "--config", str(tmp_path / "cfg.yaml")]
    ok = subprocess.run(cli, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr[-2000:]
    refused = subprocess.run(cli + ["--set", f"store.endpoint_url=http://alice:{CANARY_PW}@127.0.0.1:1"], env=env,
                             cwd=REPO, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "credentials in a URL" in refused.stderr
    needles = [secret, api_key, CANARY_PW]
    output = ok.stdout + ok.stderr + refused.stdout + refused.stderr
    assert not [n for n in needles if n in output]
    assert (tmp_path / "prefect").exists()
    assert not _grep_tree(tmp_path / "prefect", needles + [key_id])  # the Prefect database and logs
    assert not _grep_tree(tmp_path / "work", needles + [key_id])
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    prefix = bucket_prefix.split("/", 3)[3]
    objects = s3.list_objects_v2(Bucket="llammas-test", Prefix=prefix).get("Contents", [])
    assert objects, "the run wrote nothing to the store"
    for obj in objects:
        body = s3.get_object(Bucket="llammas-test", Key=obj["Key"])["Body"].read()
        assert not [n for n in needles + [key_id] if n.encode() in body], obj["Key"]
