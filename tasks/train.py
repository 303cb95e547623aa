"""Prefect tasks of the training flow, thin wrappers over llammas_core.train: tokenize -> cpt -> sft.

Each task has its own cache key (verified against the store: a wiped store recomputes), its own summary
artifact with rounded numbers and, for the training stages, a progress artifact that moves with the
trainer's `[phase] step N/M` lines, ends at 100 % and is reused by the retries of the same task run
(never one per attempt), and a loss plot. Training runs as a subprocess inside the core
(llammas_core.train.launch), so wall-clock limits hold and a stuck run can be killed; a retried task
resumes from the stage's latest checkpoint.
"""

from __future__ import annotations

import re
import time

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact

from llammas_core.config import StoreConfig, TinyBaseConfig
from llammas_core.corpus.config import ExecutorConfig
from llammas_core.stage import read_manifest
from llammas_core.train.config import TrainConfig
from llammas_core.train.stage import data_inputs, run_cpt, run_sft
from llammas_core.train.tiny import run_tiny_base
from llammas_core.train.tokenize import run_tokenize, tokenize_view
from tasks.common import (
    RETRIES,
    RETRY_DELAYS,
    artifact_key,
    identity_key,
    one_line_errors,
    remember_result,
    retry_transient_only,
    run_log,
    cache_key_over,
)


def _tiny_identity(store: StoreConfig, corpus_uris: list[str], tiny: TinyBaseConfig) -> str:
    return identity_key("tiny-base", store.uri, [read_manifest(u, store.endpoint_url)["id"] for u in corpus_uris], tiny)


_tiny_key = cache_key_over(_tiny_identity, "corpus_uris", "tiny")


@task(name="tiny-base", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_tiny_key, persist_result=True, task_run_name="tiny-base")
@one_line_errors
def tiny_base_task(store: StoreConfig, corpus_uris: list[str], tiny: TinyBaseConfig) -> str:
    cfg = tiny.model_dump()
    result = run_tiny_base(store.open(), corpus_uris, store.work_path, vocab_size=cfg.pop("vocab_size"),
                           max_docs=cfg.pop("max_docs"), **cfg)
    remember_result(store, _tiny_identity(store, corpus_uris, tiny), result.manifest_uri)
    return result.manifest_uri


# ----------------------------------------------------------------------------- identities (cache keys)


def _tokenize_identity(store: StoreConfig, train: TrainConfig) -> str:
    manifests, files = data_inputs(train.cpt.sources, store.endpoint_url)  # manifest ids; plain files by path, size and mtime
    return identity_key("tokenize", store.uri, train.model.base, train.model.revision,
                        train.model.extend_vocab, train.model.trust_remote_code,
                        [m["id"] for m in manifests] + files, tokenize_view(train))


def _cpt_identity(store: StoreConfig, train: TrainConfig, tokenized_uri: str) -> str:
    return identity_key("cpt", store.uri, train.phase_view("cpt"), read_manifest(tokenized_uri, store.endpoint_url)["id"])


def _sft_identity(store: StoreConfig, train: TrainConfig, init_uri: str | None) -> str:
    init = read_manifest(init_uri, store.endpoint_url)["id"] if init_uri else f"{train.model.base}@{train.model.revision or ''}"
    return identity_key("sft", store.uri, train.phase_view("sft"), init)


# ----------------------------------------------------------------------------- artifacts


class StageProgress:
    """Log each trainer line; move one progress artifact per task run on `[phase] step N/M` lines.

    The artifact is looked up by key and task run id before one is created, so a retry of the same task
    run moves the artifact of the first attempt instead of adding one; `done()` sets it to 100 %."""

    STEP = re.compile(r"\[(\w+)\] step (\d+)/(\d+)")

    def __init__(self, key: str, description: str):
        self.log = run_log()
        self.key = artifact_key(key)
        self.artifact_id = self._existing() or create_progress_artifact(0.0, key=self.key, description=description)
        self.last = 0.0

    def _existing(self):
        try:
            from prefect.client.orchestration import get_client
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, ArtifactFilterTaskRunId
            from prefect.context import TaskRunContext

            ctx = TaskRunContext.get()
            if ctx is None:
                return None
            with get_client(sync_client=True) as client:
                found = client.read_artifacts(artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[self.key]), task_run_id=ArtifactFilterTaskRunId(any_=[ctx.task_run.id])))
            return found[0].id if found else None
        except Exception as e:  # cosmetic: a new artifact is the fallback
            self.log(f"progress artifact lookup failed: {e}")
            return None

    def _set(self, percent: float) -> None:
        try:
            update_progress_artifact(self.artifact_id, progress=percent)
        except Exception as e:  # progress is cosmetic: never fail training over it
            self.log(f"progress artifact not updated: {e}")

    def __call__(self, line: str) -> None:
        self.log(line)
        match = self.STEP.search(line)
        if match and time.monotonic() - self.last > 2:
            self.last = time.monotonic()
            self._set(100.0 * int(match.group(2)) / max(1, int(match.group(3))))

    def done(self) -> None:
        self._set(100.0)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def publish_summary(stage: str, manifest_uri: str, manifest: dict, skipped: bool, fields: dict) -> None:
    """A markdown summary of a stage with rounded numbers (None values left out)."""
    lines = [f"### {stage}: {'reused' if skipped else 'computed'}", f"- output: `{manifest_uri}`"]
    lines += [f"- {k}: {_fmt(v)}" for k, v in fields.items() if v is not None and not isinstance(v, (dict, list))]
    create_markdown_artifact("\n".join(lines), key=artifact_key(f"{stage}-summary"), description=f"{stage} summary")


def publish_loss_plot(store: StoreConfig, manifest: dict, name: str) -> None:
    """The loss curve PNG as a Prefect artifact (inline data URI: no public bucket needed)."""
    import base64

    png = next((f for f in manifest.get("files", []) if f["path"].endswith("loss.png")), None)
    if png is None or png["bytes"] > 2_000_000:
        return
    with store.open().open_read(f"{manifest['id']}/{png['path']}") as f:
        data = base64.b64encode(f.read()).decode()
    create_markdown_artifact(f"![loss](data:image/png;base64,{data})", key=artifact_key(f"{manifest['stage']}-{name}-loss"),
                             description=f"{manifest['id']} loss curve")


def _training_summary(stage: str, result) -> None:
    m = result.manifest.get("metrics") or {}
    publish_summary(stage, result.manifest_uri, result.manifest, result.skipped, {
        "steps": m.get("steps"), "tokens": m.get("tokens"), "first loss": m.get("first_loss"),
        "final loss": m.get("final_loss"), "validation loss": m.get("final_eval_loss"),
        "tokens/s": m.get("tokens_per_s"), "MFU": m.get("mfu"), "peak memory GiB": m.get("peak_memory_gib"),
        "train seconds": m.get("train_seconds"), "init model": result.manifest.get("init_model")})


# ----------------------------------------------------------------------------- tasks


_tokenize_key = cache_key_over(_tokenize_identity, "train")


@task(name="tokenize", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_tokenize_key, persist_result=True, task_run_name="tokenize-{train.name}")
@one_line_errors
def tokenize_task(store: StoreConfig, train: TrainConfig, executor: ExecutorConfig | None = None) -> str:
    """The CPT corpora as token blocks (datatrove executor: local, Ray or Slurm)."""
    result = run_tokenize(store.open(), train, store.work_path, run_log(), executor)
    m = result.manifest
    publish_summary(f"tokenize-{train.name}", result.manifest_uri, m, result.skipped, {
        "blocks": m.get("blocks"), "block size": m.get("block_size"), "tokens": m.get("tokens"),
        "documents drawn": (m.get("mixture") or {}).get("documents_drawn"),
        "source tokens": (m.get("stats") or {}).get("source_tokens"),
        "tokens/s per core": (m.get("stats") or {}).get("tokens_per_s_per_core"),
        "tokenize seconds": (m.get("stats") or {}).get("tokenize_seconds")})
    remember_result(store, _tokenize_identity(store, train), result.manifest_uri)
    return result.manifest_uri


def _train_stage(stage: str, store: StoreConfig, train: TrainConfig, run, identity) -> str:
    """Run a training stage with its progress artifact (completed at the end), summary, loss plot and refs."""
    progress = StageProgress(f"{stage}-{train.name}-progress", f"{train.name}: {stage.upper()} steps")
    result = run(progress)
    progress.done()
    _training_summary(f"{stage}-{train.name}", result)
    publish_loss_plot(store, result.manifest, train.name)
    remember_result(store, identity(), result.manifest_uri)
    return result.manifest_uri


_cpt_key = cache_key_over(_cpt_identity, "train", "tokenized_uri")


@task(name="cpt", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_cpt_key, persist_result=True, task_run_name="cpt-{train.name}")
@one_line_errors
def cpt_task(store: StoreConfig, train: TrainConfig, tokenized_uri: str) -> str:
    """Continued pretraining on the token blocks; returns the cpt manifest URI (its model/ is a HF checkpoint)."""
    return _train_stage("cpt", store, train, lambda log: run_cpt(store.open(), train, tokenized_uri, store.work_path, log),
                        lambda: _cpt_identity(store, train, tokenized_uri))


_sft_key = cache_key_over(_sft_identity, "train", "init_uri")


@task(name="sft", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_sft_key, persist_result=True, task_run_name="sft-{train.name}")
@one_line_errors
def sft_task(store: StoreConfig, train: TrainConfig, init_uri: str | None = None) -> str:
    """Instruction tuning of the model of `init_uri` (a cpt manifest), or of train.model.base when None."""
    return _train_stage("sft", store, train, lambda log: run_sft(store.open(), train, init_uri, store.work_path, log),
                        lambda: _sft_identity(store, train, init_uri))
