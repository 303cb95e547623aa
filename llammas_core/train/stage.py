"""Training as content-addressed stages: `tokenize` -> `cpt` -> `sft`, the training ones a trainer subprocess.

- "tokenize" (llammas_core.train.tokenize.run_tokenize): the CPT corpora as token blocks; key: ordered
  source ids, tokenizer fingerprint, block size, mixture probabilities and seed.
- "cpt" (`run_cpt`): key = the CPT view of the config (model, method, optim, cpt; not launch/telemetry/
  checkpoint cadence, so raising a wall-clock limit resumes the same stage) + the tokenize manifest id +
  the base model identity.
- "sft" (`run_sft`): key = the SFT view + the initial model (a CPT manifest id, or the base) + the SFT data ids.

Each training body writes the trainer's output straight into ctx.out_dir (model/, adapter/, metrics.json,
metrics.jsonl, loss.png, tensorboard/), keeps checkpoints in ctx.work_dir/checkpoints (stable across
attempts, so a retry resumes) and, with checkpoint.sync_to_store, mirrors complete checkpoints to
`<store>/checkpoints/<stage>/<key>/` so a retry on another machine resumes too.
Manifest extra fields: phase, metrics, model (relative folder), model_uri, adapter, method, init_model, data.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable

from llammas_core.errors import ConfigError
from llammas_core.stage import (
    StageContext,
    StageResult,
    committed_files,
    is_manifest_ref,
    open_manifest,
    read_manifest,
    run_stage,
)
from llammas_core.store import Store
from llammas_core.train.config import TrainConfig
from llammas_core.train.launch import launch_trainer
from llammas_core.train.vocab_stage import with_extended_vocab


def _fingerprint_path(source: str) -> str:
    """Identity of a plain file/folder source: path + (name, size, mtime) of its files."""
    path = Path(source.removeprefix("file://")).expanduser()
    if "://" in source and not source.startswith("file://"):
        return f"uri:{source}"
    if not path.exists():
        raise ConfigError(f"data source {source} does not exist")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(path) if path.is_dir() else p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"file:{path.resolve()}:{h.hexdigest()[:16]}"


def data_inputs(sources: list[str], endpoint_url: str | None = None) -> tuple[list[dict], list[str]]:
    """(manifests, extra key ids) for data sources."""
    manifests, extra = [], []
    for s in sources:
        if is_manifest_ref(s):
            manifests.append(read_manifest(s, endpoint_url))
        else:
            extra.append(_fingerprint_path(s))
    return manifests, extra


def model_inputs(base: str, revision: str | None, endpoint_url: str | None = None) -> tuple[list[dict], list[str]]:
    if is_manifest_ref(base):
        return [read_manifest(base, endpoint_url)], []
    return [], [f"model:{base}@{revision or ''}"]


def _model_dir_of(store: Store, manifest: dict, work_dir: Path) -> str:
    """A local folder holding a committed training stage's model/ (downloaded for remote stores)."""
    rel = manifest.get("model", "model").strip("/")
    entries = [f["path"] for f in manifest["files"] if f["path"].startswith(f"{rel}/")]
    if not entries:
        raise ConfigError(f"stage {manifest['id']} lists no files under {rel}/")
    # size + sha256 checked; in place for a local store, else a verified copy under the work dir
    files = committed_files(store, manifest, f"{rel}/", work_dir / "init-model")
    return str(files[0])[: -len(entries[0])] + rel


def _body(store: Store, config: TrainConfig, phase: str, init_model: Callable[[StageContext], tuple[str | None, str]],
          data_ids: list[str], log: Callable[[str], None], data_uri: str | None = None):
    def body(ctx: StageContext) -> dict:
        cfg_path = ctx.work_dir / f"{phase}_config.json"
        cfg_path.write_text(config.model_dump_json(indent=2))
        ckpt_dir = ctx.work_dir / "checkpoints"
        args = ["--checkpoint-dir", str(ckpt_dir), "--resume-from", "auto"]
        if data_uri:
            args += ["--data", data_uri]
        if config.checkpoint.sync_to_store:
            args += ["--sync-uri", store.url(f"checkpoints/{ctx.stage}/{ctx.key}")]
        init_path, init_id = init_model(ctx)
        if init_path:
            args += ["--init-model", init_path]
        args += ["--init-model-id", init_id]
        lineage = {"stage": ctx.prefix, "base_model": config.model.base, "data": data_ids}
        args += ["--lineage", json.dumps(lineage)]
        log(f"[{phase}] stage {ctx.prefix}: training (work dir {ctx.work_dir})")
        launch_trainer(cfg_path, phase, ctx.out_dir, config.launch, args, on_line=log)
        metrics = json.loads((ctx.out_dir / "metrics.json").read_text())
        exported = metrics.get("exported") or {}
        return {
            "phase": phase,
            "metrics": {k: metrics.get(k) for k in (
                "steps", "tokens", "tokens_per_s", "tokens_per_s_per_device", "mfu", "final_loss", "final_loss_avg10",
                "first_loss", "final_eval_loss", "peak_memory_gib", "device", "world_size", "global_batch",
                "train_seconds", "flops_per_token_convention", "cpt_data")},
            "model": exported.get("model"),
            "model_uri": store.url(f"{ctx.prefix}/{exported['model']}") if exported.get("model") else None,
            "adapter": exported.get("adapter"),
            "method": config.method.kind,
            "init_model": init_id,
            "data": data_ids,
        }

    return body


def _cleanup(store: Store, result: StageResult, work_root: Path) -> None:
    key = result.manifest["key"]
    stage = result.manifest["stage"]
    store.delete_prefix(f"checkpoints/{stage}/{key}")
    shutil.rmtree(Path(work_root).expanduser().resolve() / stage / key / "checkpoints", ignore_errors=True)


def _finish(store: Store, config: TrainConfig, result: StageResult, work_root: Path, log) -> StageResult:
    log(f"[{result.manifest['stage']}] {'reused' if result.skipped else 'committed'} {result.manifest_uri}")
    if config.checkpoint.cleanup_on_success and not result.skipped:
        _cleanup(store, result, work_root)
    return result


def run_cpt(store: Store, config: TrainConfig, tokenized_manifest_uri: str, work_root: str | Path,
            log: Callable[[str], None] = print) -> StageResult:
    """Continued pretraining of config.model.base on the blocks of a committed tokenize stage."""
    if not config.cpt.enabled:
        raise ConfigError("cpt is disabled in the config")
    work_root = Path(work_root)
    config = with_extended_vocab(store, config, work_root, log)
    tokenized = read_manifest(tokenized_manifest_uri, store.endpoint_url)
    if tokenized.get("stage") != "tokenize":
        raise ConfigError(f"{tokenized_manifest_uri} is not a tokenize stage (got {tokenized.get('stage')!r})")
    base_manifests, base_extra = model_inputs(config.model.base, config.model.revision, store.endpoint_url)

    def base_init(ctx: StageContext) -> tuple[str | None, str]:
        return resolve_base(config.model.base, config.model.revision, ctx.work_dir, store.endpoint_url)

    result = run_stage(store, "cpt", config.phase_view("cpt"), [tokenized] + base_manifests,
                       _body(store, config, "cpt", base_init, [tokenized["id"]], log, data_uri=tokenized_manifest_uri),
                       work_root, extra_key=base_extra)
    return _finish(store, config, result, work_root, log)


def run_sft(store: Store, config: TrainConfig, init_manifest_uri: str | None, work_root: str | Path,
            log: Callable[[str], None] = print) -> StageResult:
    """Instruction tuning of the model of a committed stage (`init_manifest_uri`, e.g. a CPT output), or of
    config.model.base when it is None."""
    if not config.sft.enabled:
        raise ConfigError("sft is disabled in the config")
    work_root = Path(work_root)
    manifests, extra = data_inputs(config.sft.sources, store.endpoint_url)
    data_ids = [m["id"] for m in manifests] + extra
    if init_manifest_uri is None:
        config = with_extended_vocab(store, config, work_root, log)
        init_manifests, init_extra = model_inputs(config.model.base, config.model.revision, store.endpoint_url)

        def init(ctx: StageContext) -> tuple[str | None, str]:
            return resolve_base(config.model.base, config.model.revision, ctx.work_dir, store.endpoint_url)
    else:
        m = read_manifest(init_manifest_uri, store.endpoint_url)
        init_manifests, init_extra = [m], []

        def init(ctx: StageContext) -> tuple[str | None, str]:
            if not m.get("model"):
                raise ConfigError(f"stage {m['id']} exported no model/ folder (LoRA without merge_for_serving); "
                                  "enable method.merge_for_serving to continue with SFT")
            return resolve_base(init_manifest_uri, None, ctx.work_dir, store.endpoint_url)[0], m["id"]

    result = run_stage(store, "sft", config.phase_view("sft"), manifests + init_manifests,
                       _body(store, config, "sft", init, data_ids, log), work_root, extra_key=extra + init_extra)
    return _finish(store, config, result, work_root, log)


def run_train(store: Store, config: TrainConfig, work_root: str | Path, log: Callable[[str], None] = print,
              executor_cfg=None) -> StageResult:
    """tokenize -> cpt (if enabled) then sft (if enabled); returns the last stage's result.

    SFT starts from the CPT output when CPT ran, else from config.model.base.
    """
    from llammas_core.train.tokenize import run_tokenize

    result: StageResult | None = None
    if config.cpt.enabled:
        tokenized = run_tokenize(store, config, work_root, log, executor_cfg)
        result = run_cpt(store, config, tokenized.manifest_uri, work_root, log)
    if config.sft.enabled:
        result = run_sft(store, config, result.manifest_uri if result else None, work_root, log)
    if result is None:
        raise ConfigError("nothing to do: cpt and sft are both disabled")
    return result


def resolve_base(base: str, revision: str | None, work_dir: Path, endpoint_url: str | None = None) -> tuple[str | None, str]:
    """(local model folder or None, identity) for model.base; a committed stage manifest (e.g. an
    earlier cpt stage, file:// or s3://) resolves to its model/ folder (downloaded when remote)."""
    if not is_manifest_ref(base):
        return None, f"{base}@{revision or ''}"
    store, m = open_manifest(base, endpoint_url)
    if not m.get("model"):
        raise ConfigError(f"stage {m['id']} has no exported model/ folder")
    return _model_dir_of(store, m, Path(work_dir)), m["id"]


__all__ = ["run_train", "run_cpt", "run_sft", "resolve_base", "data_inputs", "model_inputs"]
