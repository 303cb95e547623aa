"""`@base`, `@cpt`, `@sft` for the evaluation: what the training stages produced, found by following
the manifest the training flow returned (sft -> its init model cpt -> its init model, the base)."""

from __future__ import annotations

from llammas_core.errors import ConfigError
from llammas_core.evaluate.config import EvaluateConfig
from llammas_core.stage import MANIFEST, read_manifest

__all__ = ["resolve_model_refs", "training_refs"]



def resolve_model_refs(cfg: EvaluateConfig, refs: dict[str, str]) -> EvaluateConfig:
    """Replace `@name` model paths (`@base`, `@cpt`, `@sft`) with what the pipeline produced."""
    refs = {(k if k.startswith("@") else f"@{k}"): v for k, v in refs.items()}  # "sft" or "@sft"
    models = []
    for m in cfg.models:
        if m.path.startswith("@"):
            if m.path not in refs:
                raise ConfigError(f"evaluate: model {m.name} refers to {m.path}, but the pipeline produced only "
                                  f"{sorted(refs) or 'nothing'}")
            m = m.model_copy(update={"path": refs[m.path]})
        models.append(m)
    return cfg.model_copy(update={"models": models})


def _manifest_uri_of(folder_uri: str) -> str:
    return folder_uri.rstrip("/") + "/" + MANIFEST


def training_refs(final_manifest_uri: str, base: str | None = None) -> dict[str, str]:
    """`@sft`, `@cpt`, `@base` for the manifest the training flow returned (the last stage), by
    following each stage's `init_model`: sft -> cpt -> base. `base` (train.model.base, resolved)
    fills `@base` when the lineage ends in a hub id or plain path."""
    refs: dict[str, str] = {}
    uri = final_manifest_uri
    for _ in range(4):
        m = read_manifest(uri)
        phase = m.get("phase")
        if phase in ("cpt", "sft") and f"@{phase}" not in refs:
            refs[f"@{phase}"] = uri
        else:
            refs.setdefault("@base", uri)
            break
        init = m.get("init_model") or ""
        inputs = {i["id"]: i.get("uri") for i in m.get("inputs", [])}
        if init in inputs and inputs[init]:
            uri = _manifest_uri_of(inputs[init])
            continue
        # hub id / local folder: "<path>@<revision>"
        if init:
            path, _, rev = init.rpartition("@")
            refs.setdefault("@base", base or path)
        break
    if "@base" not in refs and base:
        refs["@base"] = base
    return refs
