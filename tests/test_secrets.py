"""Credentials never reach configs, logs, the store or the Prefect database (the whole pipeline with
canary keys on S3: tests/test_s3_pipeline.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import jsonschema
import pytest

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


class _EchoingEndpoint:
    """A loopback OpenAI-style endpoint that answers every request 400, echoing the bearer key it got."""

    def __enter__(self):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                body = f'{{"error": "context length exceeded for key {key}"}}'.encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __exit__(self, *exc):
        self.server.shutdown()


def test_a_key_echoed_by_the_translation_endpoint_leaks_nowhere(tmp_path):
    """The translator's endpoint echoes the API key in its 400 body: the run fails with that reason,
    but the key is not in the CLI output, the logs, the store, the work dir or the Prefect database."""
    key = f"sk-canary-{uuid.uuid4().hex}"
    with _EchoingEndpoint() as base_url:
        env = {**os.environ, "LLAMMAS_CANARY_KEY": key, "PREFECT_HOME": str(tmp_path / "prefect"),
               "PREFECT_LOGGING_LEVEL": "DEBUG"}
        sets = [f"store.uri=file://{tmp_path}/store", f"store.work_dir={tmp_path}/work",
                "instructions.translator.backend=openai", "instructions.translator.model=canary-mt",
                f"instructions.translator.base_url={base_url}", "instructions.translator.api_key_env=LLAMMAS_CANARY_KEY",
                "instructions.translator.max_retries=0", "instructions.decontamination.eval_root=null"]
        proc = subprocess.run([sys.executable, "-m", "flows.cli", "run", "instructions", "--config",
                               str(REPO / "configs" / "demo.yaml"), *[a for s in sets for a in ("--set", s)]],
                              env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "HTTP 400" in output and "context length exceeded for key ***" in output, output[-3000:]
    assert key not in output
    assert not _grep_tree(tmp_path / "prefect", [key])  # states, task runs, logs, events, results
    assert not _grep_tree(tmp_path / "work", [key])
    assert not (tmp_path / "store").exists() or not _grep_tree(tmp_path / "store", [key])


@pytest.mark.parametrize("field, value", [
    ("instructions.translator.base_url", "http://apiuser:{pw}@127.0.0.1:5063/v1"),
    ("instructions.sources.0.paths.0", "s3://AKIAX:wJalr/{pw}@minio:9000/bucket/alpaca.json"),
    ("corpus.sources.0.paths.0", "https://alice:{pw}@example.org/docs.jsonl"),
    ("evaluate.tasks.0.data", "http://bob:{pw}@127.0.0.1/xcopa"),
])
def test_credentials_are_refused_in_every_url_field(field, value):
    with pytest.raises(ConfigError) as e:
        load_config(REPO / "configs" / "demo.yaml", [f"{field}={value.format(pw=CANARY_PW)}"])
    assert field.removeprefix("instructions.") in str(e.value) and CANARY_PW not in str(e.value)


def test_scrub_redacts_the_values_of_known_secrets(monkeypatch):
    from llammas_core.secrets import register_secret_env, scrub_exception

    monkeypatch.setenv("MY_MT_KEY", "sk-canary-XYZ123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMIcanary")
    register_secret_env("MY_MT_KEY")
    assert scrub("context length exceeded for key sk-canary-XYZ123") == "context length exceeded for key ***"
    assert "wJalrXUtnFEMIcanary" not in scrub("signature for wJalrXUtnFEMIcanary does not match")
    try:
        try:
            raise ValueError("HTTP 400: key sk-canary-XYZ123")
        except ValueError as inner:
            raise RuntimeError("translation failed") from inner
    except RuntimeError as e:
        scrub_exception(e)
        assert "sk-canary" not in str(e.__cause__)
