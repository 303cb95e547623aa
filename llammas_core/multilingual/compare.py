"""The models a multilingual run compares: the m-LLaMA (the `@sft` of the MuIT mixture), one x-LLaMA per
language (CoIT on that language's instructions alone, `muit.per_language_models`) and, for the scaling
check, the m-LLaMA trained on the uniform split of the translation budget (`muit.compare_uniform`).

`with_language_models` adds the extra models to a resolved `evaluate` section: each x-LLaMA is evaluated on
its own language's tasks (`languages: [xx]`) and shares the `x-LLaMA` row of the macro average; the uniform
model is evaluated on every task, beside the allocated one.
"""

from __future__ import annotations

from llammas_core.errors import ConfigError
from llammas_core.evaluate.config import EvaluateConfig
from llammas_core.evaluate.spec import ModelSpec

XLLAMA = "x-LLaMA"


def xllama_name(lang: str) -> str:
    return f"x-llama-{lang}"


def with_language_models(evaluate: EvaluateConfig, written: EvaluateConfig, outputs: dict[str, str],
                         languages: list[str]) -> EvaluateConfig:
    """`evaluate` (resolved) plus the x-LLaMA models (`outputs["sft_<lang>"]`) and the uniform model
    (`outputs["sft_uniform"]`), set up like the model that `written` (as configured) names `@sft`."""
    extra_keys = [f"sft_{lang}" for lang in languages] + ["sft_uniform"]
    if not any(k in outputs for k in extra_keys):
        return evaluate
    at = next((i for i, m in enumerate(written.models) if m.path == "@sft"), None)
    if at is None:
        raise ConfigError("evaluate: the per-language (x-LLaMA) or uniform models are compared with the model "
                          "at '@sft'; the evaluate section has none")
    sft = evaluate.models[at].model_dump()
    models = [m.model_dump() for m in evaluate.models]
    for lang in languages:
        if f"sft_{lang}" in outputs:
            models.append({**sft, "name": xllama_name(lang), "path": outputs[f"sft_{lang}"], "languages": [lang],
                           "group": XLLAMA})
    if "sft_uniform" in outputs:
        models.append({**sft, "name": f"{sft['name']}-uniform", "path": outputs["sft_uniform"]})
    return EvaluateConfig.model_validate({**evaluate.model_dump(), "models": models})


__all__ = ["with_language_models", "xllama_name", "XLLAMA", "ModelSpec"]
