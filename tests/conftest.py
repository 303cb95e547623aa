"""Shared fixtures: a real S3 endpoint (moto's server over HTTP on loopback), the data kit path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# session fixtures shared by several test files: the Prefect server of tests/test_deploy_*.py (server,
# registered, small_corpus) and the tiny training kit of tests/test_train_*.py (kit, tokenized, cpt_run)
pytest_plugins = ["tests.deploy_server", "tests.train_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def shared_data(*parts: str) -> Path:
    """A path in ../shared/data, or a clean skip when the kit is not beside the repo."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is optional)")
    return path


# Under pytest-xdist (`make test`: -n 2 --dist loadgroup) the tests that use one of these module or
# session fixtures run on one worker, so each is built once, as in a serial run (first match wins).
XDIST_GROUPS = {"main_job": "main-job", "server": "deploy-server", "registered": "deploy-server",
                "small_corpus": "deploy-server", "slurm_cluster": "cluster", "ray_two_nodes": "cluster",
                "cpt_run": "train-kit", "tokenized": "train-kit"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        group = next((g for fixture, g in XDIST_GROUPS.items() if fixture in names), None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


ENDPOINT_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "LLAMMAS_S3_ENDPOINT_URL", "LLAMMAS_S3_REGION")


@pytest.fixture(autouse=True)
def no_inherited_s3_endpoint():
    """Each test starts with no S3 endpoint in the environment: only a store opened with
    `endpoint_url` (as StoreConfig.open does) may set it, so a reader that misses it fails here too."""
    saved = {k: os.environ.pop(k) for k in ENDPOINT_VARS if k in os.environ}
    yield
    for k in ENDPOINT_VARS:
        os.environ.pop(k, None)
    os.environ.update(saved)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real HTTP S3 endpoint on 127.0.0.1 with a fresh bucket `llammas-test`."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    import boto3

    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="llammas-test")
    yield url
    server.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def tiny_eval_model(tmp_path_factory) -> Path:
    """A tiny random Llama + byte-level BPE tokenizer (with a chat template) saved as a model folder,
    its tokenizer trained on the bundled demo/eval texts; shared by the evaluation tests."""
    import json as _json

    from llammas_core.train.tiny import save_tiny_base

    texts = []
    for path in sorted((REPO / "demo" / "eval").rglob("*")):
        if path.suffix in (".jsonl", ".json"):
            for line in path.read_text(encoding="utf-8").splitlines():
                texts += [str(v) for v in _json.loads(line).values() if isinstance(v, str)]
        elif path.suffix == ".csv":
            texts += path.read_text(encoding="utf-8").splitlines()
    out = tmp_path_factory.mktemp("tiny-eval") / "model"
    save_tiny_base(out, texts * 3, vocab_size=600, hidden_size=64, layers=2)
    return out


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """A Prefect test server (its own PREFECT_HOME) for the tests of a module that run flows and read
    their task runs and artifacts back."""
    old = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    try:
        with prefect_test_harness(server_startup_timeout=180):
            yield
    finally:
        if old is None:
            os.environ.pop("PREFECT_HOME", None)
        else:
            os.environ["PREFECT_HOME"] = old
