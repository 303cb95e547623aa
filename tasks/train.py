"""Prefect tasks of the training flow: thin wrappers over llammas_core.train.

Training runs as a subprocess inside the core (llammas_core.train.launch), so wall-clock limits
hold and a stuck run can be killed; a retried task resumes from the stage's latest checkpoint.
"""

from __future__ import annotations

from prefect import task

from llammas_core.config import StoreConfig, TinyBaseConfig
from llammas_core.train.config import TrainConfig
from llammas_core.train.stage import run_train
from llammas_core.train.tiny import run_tiny_base
from tasks.common import (
    ProgressLog,
    RETRIES,
    RETRY_DELAYS,
    identity_key,
    publish_stage_artifacts,
    remember_result,
    retry_transient_only,
    verified_cache_key,
)


def _train_identity(store: StoreConfig, train: TrainConfig) -> str:
    # sources are manifest URIs (content-addressed) or paths; launch settings don't change the result
    return identity_key("train", store.uri, train.phase_view("cpt"), train.phase_view("sft"))


def _train_key(context, parameters) -> str:
    return verified_cache_key(parameters["store"], lambda: _train_identity(parameters["store"], parameters["train"]))


@task(name="tiny-base", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only)
def tiny_base_task(store: StoreConfig, corpus_uris: list[str], tiny: TinyBaseConfig) -> str:
    cfg = tiny.model_dump()
    result = run_tiny_base(store.open(), corpus_uris, store.work_path, vocab_size=cfg.pop("vocab_size"),
                           max_docs=cfg.pop("max_docs"), **cfg)
    return result.manifest_uri


@task(name="train", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_train_key, persist_result=True, task_run_name="train-{train.name}")
def train_task(store: StoreConfig, train: TrainConfig) -> str:
    log = ProgressLog(f"train-{train.name}-progress", f"{train.name}: training steps")
    result = run_train(store.open(), train, store.work_path, log)
    publish_stage_artifacts(f"train-{train.name}", result.manifest_uri, result.manifest, result.skipped)
    publish_loss_plot(store, result.manifest)
    remember_result(store, _train_identity(store, train), result.manifest_uri)
    return result.manifest_uri


def publish_loss_plot(store: StoreConfig, manifest: dict) -> None:
    """The loss curve PNG as a Prefect artifact (inline data URI: no public bucket needed)."""
    import base64

    from prefect.artifacts import create_markdown_artifact

    from tasks.common import artifact_key

    png = next((f for f in manifest.get("files", []) if f["path"].endswith("loss.png")), None)
    if png is None or png["bytes"] > 2_000_000:
        return
    with store.open().open_read(f"{manifest['id']}/{png['path']}") as f:
        data = base64.b64encode(f.read()).decode()
    create_markdown_artifact(f"![loss](data:image/png;base64,{data})", key=artifact_key(f"{manifest['stage']}-loss"),
                             description=f"{manifest['id']} loss curve")
