"""The whole demo pipeline on a real S3 endpoint (moto's server on loopback) with only
`store.endpoint_url` set: no AWS_ENDPOINT_URL* in the environment, so every stage (corpus, tiny-base,
instructions, tokenize, CPT, SFT, evaluate) must carry the configured endpoint to its store reads.
The same run has canary credentials in its environment: none reaches the output, the Prefect
database and logs, the work dir or the store."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from llammas_core.stage import read_manifest
from llammas_core.store import S3Store
from tests.conftest import REPO
from tests.test_secrets import CANARY_PW, _grep_tree


@pytest.mark.slow  # the whole demo on S3: its own Prefect server, two trainer subprocesses
def test_pipeline_on_s3_with_only_store_endpoint_url(tmp_path, s3_endpoint):
    prefix = f"s3://llammas-test/pipeline-{uuid.uuid4().hex[:8]}"
    key_id, secret, api_key = f"AKIA{uuid.uuid4().hex[:16].upper()}", f"canarySecret{uuid.uuid4().hex}", \
        f"canaryApiKey{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_LOGGING_LEVEL="DEBUG", AWS_ACCESS_KEY_ID=key_id,
               AWS_SECRET_ACCESS_KEY=secret, OPENAI_API_KEY=api_key)
    sets = [f"store.uri={prefix}", f"store.endpoint_url={s3_endpoint}", f"store.work_dir={tmp_path}/work",
            # the demo, smaller: every stage still runs and reads its inputs from S3
            "corpus.dedup.minhash=false", "train.cpt.max_steps=4", "train.cpt.eval_every_steps=4",
            "train.checkpoint.every_steps=4", "train.sft.epochs=1", "evaluate.tasks.0.limit=4",
            "evaluate.tasks.1.limit=4", "evaluate.tasks.2.limit=2", "evaluate.tasks.2.max_new_tokens=8"]
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "run", "pipeline", "--config", "configs/demo.yaml",
                           *[a for s in sets for a in ("--set", s)]],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    uri = proc.stdout.strip().splitlines()[-1].removeprefix("output: ")
    assert uri.startswith(prefix + "/report/")
    report = read_manifest(uri, s3_endpoint)
    paths = {m["name"]: m["path"] for m in report["models"]}
    stages = [read_manifest(paths[n], s3_endpoint)["stage"] for n in ("base", "cpt", "sft")]
    assert stages == ["tiny-base", "cpt", "sft"] and all(p.startswith(prefix) for p in paths.values())
    assert "amazonaws.com" not in proc.stdout + proc.stderr
    refused = subprocess.run([sys.executable, "-m", "flows.cli", "run", "corpus", "--config", "configs/demo.yaml",
                              "--set", f"store.endpoint_url=http://alice:{CANARY_PW}@127.0.0.1:1"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "credentials in a URL" in refused.stderr
    needles = [secret, api_key, CANARY_PW]
    assert not [n for n in needles if n in proc.stdout + proc.stderr + refused.stdout + refused.stderr]
    assert (tmp_path / "prefect").exists()
    assert not _grep_tree(tmp_path / "prefect", needles + [key_id])  # the Prefect database and logs
    assert not _grep_tree(tmp_path / "work", needles + [key_id])
    store = S3Store(prefix, endpoint_url=s3_endpoint)
    keys = [k for k, _ in store.list("")]
    assert len(keys) > 50
    for key in keys:
        with store.open_read(key) as f:
            body = f.read()
        assert not [n for n in needles + [key_id] if n.encode() in body], key
