"""Several target languages in one run (x-LLaMA's MuIT): the `languages`, `for_each_language`,
`per_language` and `muit` parts of a llammas config.

In YAML a run lists its target languages and writes the per-language sections once, as templates:

    languages: [et, fi, lv]
    for_each_language:            # `{lang}` (and `{flores}`, `{belebele}`: the registry's codes) in any string
      corpus: {...}               # optional: one corpus stage per language
      instructions: {...}         # one instructions stage per language: MT into it, en->xx translation tasks
      evaluate_tasks: [...]       # evaluation tasks per language, added to `evaluate.tasks`
    per_language:                 # optional overrides per language, merged into its expanded template
      lv: {instructions: {bitext: [...]}}   # (mappings merged key by key, lists replaced)
    muit: {...}                   # the MuIT mixture over the per-language instruction stages

Loading expands the templates (`expand_languages`): `per_language` then holds every language's full
sections (what the Prefect form shows and what a flow run receives; expanding again changes nothing), and
`evaluate.tasks` the per-language tasks. A task a language cannot have is left out and listed in
`evaluate.skipped` with the reason (no XCOPA for lv; no Belebele file for lv in the data kit), so the
report says what was not evaluated.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llammas_core.corpus.config import CorpusConfig
from llammas_core.errors import ConfigError
from llammas_core.instructions.config import InstructionsConfig
from llammas_core.languages import find, has

TEMPLATE = "for_each_language"
REGISTRY_KINDS = ("flores", "belebele", "xcopa")  # task kinds whose existence the registry knows


class LanguageSections(BaseModel):
    """The stages of one target language."""

    model_config = ConfigDict(extra="forbid")

    corpus: CorpusConfig | None = Field(None, description="The language's web corpus (optional: x-LLaMA has none).")
    instructions: InstructionsConfig | None = Field(
        None, description="The language's instruction data: MT into it and en<->xx translation tasks.")


class MuitConfig(BaseModel):
    """The MuIT mixture: the per-language instruction stages combined into one SFT set (m-LLaMA)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("muit", pattern=r"^[A-Za-z0-9_.-]+$", description="Name of the mixture stage and its task.")
    translation_component: str = Field(
        "translation", description="The component of each language's mixture that `translation_caps` caps.")
    translation_caps: dict[str, int] | str | None = Field(
        None, description="Translation-task records per language: {et: 50000, ...}, or '@allocation' (the scaling "
                          "stage's allocation); empty: all of them.")
    caps_from: Literal["allocation", "uniform"] = Field(
        "allocation", description="With '@allocation': its chosen allocation, or its uniform split of the same budget.")
    weights: dict[str, float] | None = Field(
        None, description="Share of `total` per language (after the caps); empty: every language's records.")
    total: int | None = Field(None, ge=1, description="Mixture size; required with weights.")
    seed: int = Field(42, description="Seed of the sampling and of the final order.")
    dedup: bool = Field(True, description="Exact dedup of conversations across languages (the English records "
                                          "every language's stage holds enter once; the first language wins).")
    shard_records: int = Field(50_000, ge=1, description="Records per Parquet shard.")
    per_language_models: bool = Field(
        False, description="Also train one CoIT model per language on its own instructions (x-LLaMA), evaluated "
                           "beside the multilingual model (m-LLaMA).")
    compare_uniform: bool = Field(
        False, description="With '@allocation': also a MuIT mixture and model with the uniform split, evaluated "
                           "beside the allocated one (the scaling check).")

    @model_validator(mode="after")
    def _check(self) -> "MuitConfig":
        if self.weights is not None and self.total is None:
            raise ValueError("muit.total is required with muit.weights")
        if isinstance(self.translation_caps, str) and self.translation_caps != "@allocation":
            raise ValueError(f"muit.translation_caps: a mapping of language -> records or '@allocation', "
                             f"got {self.translation_caps!r}")
        if self.compare_uniform and self.translation_caps != "@allocation":
            raise ValueError("muit.compare_uniform needs translation_caps: '@allocation'")
        return self


# --------------------------------------------------------------------------- templates


def fill(value: Any, mapping: dict[str, str]) -> Any:
    """`value` with every `{key}` of `mapping` replaced in every string (literal replacement: chat
    templates' `{{ }}` and unknown `{...}` are left alone)."""
    if isinstance(value, str):
        for k, v in mapping.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, dict):
        return {k: fill(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, mapping) for v in value]
    return value


def merge(base: Any, override: Any) -> Any:
    """`override` merged into `base`: mappings key by key, anything else (lists too) replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return copy.deepcopy(override)


def placeholders(lang: str) -> dict[str, str]:
    """`{lang}` and the registry's benchmark codes of the language (those it has)."""
    out = {"lang": lang}
    entry = find(lang)
    for key in ("flores", "belebele"):
        code = getattr(entry, key, None) if entry else None
        if code:
            out[key] = code
    return out


def _exists(candidate: str) -> bool:
    from pathlib import Path

    if "://" in candidate and not candidate.startswith("file://"):
        return True  # a store URI: checked when read
    return Path(candidate.removeprefix("file://")).expanduser().exists()


def _why_not(task: dict, lang: str, optional: bool) -> str | None:
    """Why a per-language task cannot run for `lang` (None: it can). Missing data skips only an
    `optional: true` task (a benchmark the data kit has for some languages); otherwise preflight reports it."""
    kind = task.get("kind")
    if kind in REGISTRY_KINDS and not has(lang, kind):
        return f"no {kind} for {lang} in the language registry"
    unfilled = [str(task.get(k)) for k in ("name", "data", "direction") if "{" in str(task.get(k) or "")]
    if unfilled:
        return f"{', '.join(unfilled)}: a placeholder has no value for {lang}"
    data = task.get("data")
    candidates = data if isinstance(data, list) else [data] if data else []
    if optional and candidates and not any(_exists(c) for c in candidates):
        return f"no data ({', '.join(candidates)})"
    return None


def expand_languages(data: Any) -> Any:
    """A raw config mapping with its `for_each_language` templates expanded into `per_language` and
    `evaluate.tasks` (see the module docstring); anything else is returned unchanged."""
    if not isinstance(data, dict) or data.get(TEMPLATE) is None:
        return data
    data = dict(data)
    template = data.pop(TEMPLATE)
    langs = data.get("languages")
    if not isinstance(langs, list) or not langs:
        raise ConfigError(f"`{TEMPLATE}` needs `languages`, a list of target language codes")
    if not isinstance(template, dict):
        raise ConfigError(f"`{TEMPLATE}` must be a mapping of section templates")
    overrides = data.get("per_language") or {}
    unknown = sorted(set(overrides) - set(langs))
    if unknown:
        raise ConfigError(f"per_language names {', '.join(unknown)}, not in `languages`")
    sections, tasks, skipped = {}, [], []
    for lang in langs:
        own = merge(fill(template, placeholders(lang)), overrides.get(lang) or {})
        for name in ("corpus", "instructions"):
            if isinstance(own.get(name), dict):
                own[name] = {"language": lang, **own[name]}
        translator = (own.get("instructions") or {}).get("translator")
        if isinstance(translator, dict):
            own["instructions"]["translator"] = {"tgt_lang": lang, **translator}
        for task in own.pop("evaluate_tasks", None) or []:
            task = {"language": lang, **task} if task.get("kind") in ("xcopa", "belebele", "qa") else dict(task)
            reason = _why_not(task, lang, bool(task.pop("optional", False)))
            if reason is None:
                tasks.append(task)
            else:
                skipped.append(f"{task.get('name')}: {reason}")
        sections[lang] = own
    data["per_language"] = sections
    if tasks or skipped:
        evaluate = dict(data.get("evaluate") or {})
        if not evaluate:
            raise ConfigError(f"{TEMPLATE}.evaluate_tasks needs an `evaluate` section (its models)")
        evaluate["tasks"] = list(evaluate.get("tasks") or []) + tasks
        evaluate["skipped"] = list(evaluate.get("skipped") or []) + skipped
        data["evaluate"] = evaluate
    return data


def check_languages(languages: list[str] | None, per_language: dict[str, LanguageSections], muit) -> None:
    """The parts agree: every listed language has its sections, and the caps/weights name listed languages."""
    if not languages:
        if per_language or muit is not None:
            raise ValueError("per_language and muit need `languages`")
        return
    if len(set(languages)) != len(languages):
        raise ValueError(f"a language is listed twice in `languages`: {languages}")
    missing = [lang for lang in languages if lang not in per_language]
    if missing:
        raise ValueError(f"no sections for {', '.join(missing)}: give `{TEMPLATE}` or `per_language`")
    extra = sorted(set(per_language) - set(languages))
    if extra:
        raise ValueError(f"per_language names {', '.join(extra)}, not in `languages`")
    for lang, sec in per_language.items():
        for name in ("corpus", "instructions"):
            s = getattr(sec, name)
            if s is not None and s.language != lang:
                raise ValueError(f"per_language.{lang}.{name}.language is {s.language}")
    if muit is not None:
        for field in ("translation_caps", "weights"):
            value = getattr(muit, field)
            if isinstance(value, dict) and (bad := sorted(set(value) - set(languages))):
                raise ValueError(f"muit.{field} names {', '.join(bad)}, not in `languages`")
        names = [s.instructions.name for s in per_language.values() if s.instructions is not None]
        if len(set(names)) != len(names):
            raise ValueError(f"each language's instructions need a name of their own (use `{{lang}}`): {names}")
