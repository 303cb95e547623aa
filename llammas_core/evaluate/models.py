"""Resolve, check and load the models under evaluation.

`validate_model` fails fast (before any weights are read) on a folder without weights, a stage
manifest without an exported model, or chat=True with a tokenizer that has no chat template.
`load_model` resolves a stage manifest URI to its model/ folder (downloaded to a local cache for
remote stores, like training does), then loads tokenizer + model (bf16 on CUDA by default).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llammas_core.errors import ConfigError, InputError
from llammas_core.evaluate.spec import ModelSpec
from llammas_core.threads import model_lock

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.safetensors.index.json", "*.gguf")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".safetensors.index.json", ".gguf")


@dataclass
class LoadedModel:
    """A loaded model ready for evaluation."""

    spec: ModelSpec
    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers tokenizer
    device: str
    is_chat: bool  # generation prompts go through the tokenizer's chat template
    local_path: str | None = None  # the folder it was loaded from (None for a hub id)
    identity: str = ""  # stable id: stage id for manifests, path/hub id otherwise
    extra: dict = field(default_factory=dict)


def _default_cache() -> Path:
    return Path(os.environ.get("LLAMMAS_EVAL_CACHE", Path.home() / ".cache" / "llammas" / "eval"))


def _is_local_dir(path: str) -> bool:
    return "://" not in path and Path(path).expanduser().is_dir()


def _has_weights(names: list[str]) -> bool:
    return any(n.endswith(_WEIGHT_SUFFIXES) and not n.endswith("training_args.bin") for n in names)


def _manifest_model(path: str) -> tuple[Any, str, dict, list[str]]:
    """(store, model folder relative to the stage, manifest, file names under it) for a stage manifest ref."""
    from llammas_core.stage import open_manifest

    store, m = open_manifest(path)
    if not m.get("model"):
        raise ConfigError(f"stage {m.get('id')} has no exported model/ folder ({path})")
    rel = str(m["model"]).strip("/")
    names = [f["path"][len(rel) + 1:] for f in m.get("files", []) if f["path"].startswith(rel + "/")]
    return store, rel, m, names


def _check_chat(spec: ModelSpec, has_template: bool, where: str) -> None:
    if spec.chat is True and not has_template:
        raise ConfigError(f"model {spec.name}: chat=True but the tokenizer in {where} has no chat template "
                          "(set chat: false or 'auto', or add chat_template.jinja)")


def _folder_has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        try:
            return bool(json.loads(cfg.read_text(encoding="utf-8")).get("chat_template"))
        except ValueError as e:
            raise InputError(f"{cfg}: not valid JSON ({e})") from e
    return False


def validate_model(spec: ModelSpec) -> None:
    """Clear errors before any weights load: missing folder, no weights, no tokenizer, chat without template."""
    from llammas_core.stage import is_manifest_ref

    path = spec.path
    if is_manifest_ref(path):
        store, rel, m, names = _manifest_model(path)
        where = f"{m['id']}/{rel}"
        if not _has_weights(names):
            raise InputError(f"model {spec.name}: stage {where} holds no weights (*.safetensors / "
                             f"pytorch_model*.bin); files: {sorted(names)[:10]}")
        if spec.chat is True:
            has = any(n in ("chat_template.jinja", "chat_template.json") for n in names)
            if not has and "tokenizer_config.json" in names:
                from llammas_core.stage import committed_file

                cfg = committed_file(store, m, f"{rel}/tokenizer_config.json", _default_cache() / "models")
                has = bool(json.loads(cfg.read_text(encoding="utf-8")).get("chat_template"))
            _check_chat(spec, has, where)
        return
    p = Path(path).expanduser()
    if "://" in path or p.exists() or path.startswith((".", "/", "~")):
        if "://" in path:
            raise InputError(f"model {spec.name}: {path} is not a committed stage manifest")
        if not p.is_dir():
            raise InputError(f"model {spec.name}: {path} is not a folder")
        names = [q.name for q in p.iterdir()]
        if "config.json" not in names:
            raise InputError(f"model {spec.name}: {path} has no config.json (not a transformers model folder)")
        if not _has_weights(names):
            raise InputError(f"model {spec.name}: {path} holds no weights (*.safetensors / pytorch_model*.bin)")
        if not any(n in names for n in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")):
            raise InputError(f"model {spec.name}: {path} has no tokenizer files")
        _check_chat(spec, _folder_has_chat_template(p), path)
        return
    # A hub id: nothing local to check before loading; the chat check runs on the tokenizer in load_model.
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise InputError(f"model {spec.name}: {path} is neither a local folder nor a stage manifest, and the hub "
                         "is offline (HF_HUB_OFFLINE=1)")


def resolve_model_dir(spec: ModelSpec, cache_dir: str | Path | None = None) -> tuple[str, str]:
    """(what from_pretrained loads: a local folder or hub id, identity). Remote stage models are
    downloaded to <cache>/models/<stage id>/<model>/ and verified against the manifest (sha256)."""
    from llammas_core.stage import is_manifest_ref

    if not is_manifest_ref(spec.path):
        if _is_local_dir(spec.path):
            return str(Path(spec.path).expanduser().resolve()), str(Path(spec.path).expanduser().resolve())
        return spec.path, f"{spec.path}@{spec.revision or ''}"
    from llammas_core.stage import committed_files

    store, rel, m, _ = _manifest_model(spec.path)
    local = store.local_path(f"{m['id']}/{rel}")
    cache = Path(cache_dir or _default_cache()) / "models"
    # Every file checked against the manifest's size + sha256 (downloaded to the cache for remote stores).
    committed_files(store, m, prefix=rel + "/", cache_dir=cache)
    folder = Path(local) if local is not None else cache / m["id"] / rel
    return str(folder), m["id"]


def pick_device(spec: ModelSpec) -> str:
    import torch

    if spec.device:
        return spec.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(spec: ModelSpec, device: str):
    import torch

    if spec.dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, spec.dtype)


def wrap_loaded(spec: ModelSpec, model, tokenizer, device: str | None = None, local_path: str | None = None,
                identity: str = "") -> LoadedModel:
    """A LoadedModel around an already built model/tokenizer (tests, benchmarks, in-memory models)."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    _check_chat(spec, has_template, spec.path)
    is_chat = has_template if spec.chat == "auto" else bool(spec.chat)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = device or str(next(model.parameters()).device)
    model.eval()
    return LoadedModel(spec=spec, model=model, tokenizer=tokenizer, device=device, is_chat=is_chat,
                       local_path=local_path, identity=identity or spec.path)


def load_model(spec: ModelSpec, cache_dir: str | Path | None = None) -> LoadedModel:
    """validate_model, resolve, then load tokenizer + causal LM onto the device in eval mode (one
    thread at a time: evaluation fans out over threads, see llammas_core.threads)."""
    validate_model(spec)
    source, identity = resolve_model_dir(spec, cache_dir)
    with model_lock():
        return _load(spec, source, identity)


def _load(spec: ModelSpec, source: str, identity) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {} if _is_local_dir(source) else {"revision": spec.revision}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kw)
    except OSError as e:
        raise InputError(f"model {spec.name}: cannot load a tokenizer from {source}: {e}") from e
    # Fail on the template before reading weights (hub ids reach this point unchecked).
    _check_chat(spec, bool(getattr(tokenizer, "chat_template", None)), source)
    device = pick_device(spec)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype(spec, device), **kw)
    except OSError as e:
        raise InputError(f"model {spec.name}: cannot load weights from {source}: {e}") from e
    model.to(device)
    return wrap_loaded(spec, model, tokenizer, device=device, local_path=source if _is_local_dir(source) else None,
                       identity=identity)


__all__ = ["LoadedModel", "validate_model", "load_model", "resolve_model_dir", "wrap_loaded", "pick_device"]
