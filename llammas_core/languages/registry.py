"""The language registry: one `Language` per code, loaded from languages.yaml (package data), any extra
YAML files named in LLAMMAS_LANGUAGES (os.pathsep-separated), and `register(Language(...))` calls.

Every family asks here instead of keeping its own table: codes of the MT models and benchmarks, LID
labels and thresholds, splitting, corpus filter defaults and stops, XCOPA connectives, QA normalisation,
translation-task templates. A capability a language lacks is a ConfigError that names the language, what
is missing and what it has (`no XCOPA for lv; FLORES and Belebele are available`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llammas_core.errors import ConfigError

DATA = Path(__file__).with_name("languages.yaml")
ENV = "LLAMMAS_LANGUAGES"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lid(_Model):
    lid176: str | None = Field(None, description="Label of the language in fastText lid.176 (without __label__).")
    glotlid: list[str] = Field(default_factory=list, description="GlotLID labels; their probabilities are summed.")
    lid176_threshold: float | None = Field(None, ge=0, le=1, description="Document threshold with lid.176.")
    glotlid_threshold: float | None = Field(None, ge=0, le=1, description="Document threshold with GlotLID.")


class Corpus(_Model):
    filters: dict[str, Any] | None = Field(
        None, description="Tuned corpus filter defaults (FiltersConfig overrides); None: none tuned for it.")
    extra_stops: list[str] = Field(default_factory=list, description="Line endings counted as a sentence end.")
    closers: list[str] = Field(default_factory=list, description="Quotes/brackets that may follow a stop.")


class Xcopa(_Model):
    code: str = Field(description="Language code of the XCOPA files (test.<code>.jsonl).")
    cause: str = Field(description="Connective before a cause (lm-eval's xcopa utils).")
    effect: str = Field(description="Connective before an effect.")


class QA(_Model):
    rule: Literal["squad", "mlqa"] = Field(
        "mlqa", description="squad: SQuAD v1.1 (ASCII punctuation, a/an/the); mlqa: MLQA's (Unicode punctuation, "
        "the language's articles, whitespace or mixed CJK segmentation).")
    articles: str | None = Field(None, description="mlqa: regex of the articles replaced by a space (MLQA's).")
    segmentation: Literal["whitespace", "mixed"] = Field("whitespace", description="mlqa: token splitting.")


class Instructions(_Model):
    names: dict[str, str] = Field(
        default_factory=dict, description="Language names as this language's templates write them ({src}/{tgt}).")
    translate_input: list[str] = Field(default_factory=list, description="Translation instructions (source in input).")
    translate_inline: list[str] = Field(default_factory=list, description="Translation instructions with {text}.")
    prompts: dict[Literal["input", "plain"], list[tuple[str, float]]] | None = Field(
        None, description="Weighted Alpaca user-turn templates, with and without an input.")


class Language(_Model):
    """Everything the pipeline knows about one language."""

    code: str = Field(description="llammas code: ISO 639-1 where one exists, else ISO 639-3.")
    name: str = Field(description="English name.")
    native: str | None = Field(None, description="Native name.")
    iso639_3: str = Field(description="ISO 639-3 code.")
    script: str = Field(description="ISO 15924 script code (Latn, Cyrl, Hans...).")
    flores: str | None = Field(None, description="FLORES-200 code (est_Latn).")
    nllb: str | None = Field(None, description="NLLB-200 code.")
    m2m100: str | None = Field(None, description="M2M100 code.")
    madlad: str | None = Field(None, description="MADLAD-400 target prefix (<2et>).")
    belebele: str | None = Field(None, description="Belebele config name.")
    lid: Lid = Lid()
    words: str | None = Field(None, description="datatrove word-tokenizer language; None: the code.")
    sentences: str | None = Field(None, description="spaCy sentencizer language; None: the code.")
    corpus: Corpus = Corpus()
    xcopa: Xcopa | None = None
    qa: QA = QA()
    instructions: Instructions = Instructions()


# capability -> (how errors name it, the Language attribute that holds it); grouped for "... are available"
CAPABILITIES: dict[str, dict[str, tuple[str, Any]]] = {
    "evaluation": {"flores": ("FLORES", lambda x: x.flores), "belebele": ("Belebele", lambda x: x.belebele),
                   "xcopa": ("XCOPA", lambda x: x.xcopa)},
    "translation": {"nllb": ("NLLB", lambda x: x.nllb), "m2m100": ("M2M100", lambda x: x.m2m100),
                    "madlad": ("MADLAD", lambda x: x.madlad)},
    "lid": {"lid176": ("lid.176", lambda x: x.lid.lid176), "glotlid": ("GlotLID", lambda x: x.lid.glotlid or None)},
    "corpus": {"filters": ("tuned corpus filter defaults", lambda x: x.corpus.filters)},
    "templates": {"translate_templates": ("translation-task templates",
                                          lambda x: x.instructions.translate_input or None)},
}
_CAP = {cap: (group, label, get) for group, caps in CAPABILITIES.items() for cap, (label, get) in caps.items()}


def _read(path: Path) -> tuple[dict, dict[str, Language]]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"language registry file {path}: {e}") from e
    if not isinstance(raw, dict) or not isinstance(raw.get("languages", {}), dict):
        raise ConfigError(f"language registry file {path}: expected a mapping with a `languages:` mapping")
    out = {}
    for code, entry in (raw.get("languages") or {}).items():
        if not isinstance(code, str):  # YAML 1.1 reads `no:` (Norwegian) as false
            raise ConfigError(f"language registry file {path}: language key {code!r} is not a string; quote it")
        try:
            out[code] = Language.model_validate({"code": code, **(entry or {})})
        except ValidationError as e:
            raise ConfigError(f"language registry file {path}, language {code!r}: {e}") from e
    return raw.get("defaults") or {}, out


class Registry:
    def __init__(self) -> None:
        self.defaults, self.languages = _read(DATA)
        for extra in filter(None, os.environ.get(ENV, "").split(os.pathsep)):
            defaults, langs = _read(Path(extra).expanduser())
            self.defaults = {**self.defaults, **defaults}
            self.languages.update(langs)


@functools.lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry()


def reload() -> None:
    """Re-read languages.yaml and LLAMMAS_LANGUAGES (forgets register() calls)."""
    _registry.cache_clear()


def register(language: Language) -> Language:
    """Add (or replace) a language for this process. Worker processes see only YAML files (LLAMMAS_LANGUAGES)."""
    _registry().languages[language.code] = language
    return language


def defaults() -> dict:
    return _registry().defaults


def codes() -> list[str]:
    """The supported language codes, sorted."""
    return sorted(_registry().languages)


def find(code: str) -> Language | None:
    """The language of a llammas code, or of any of its other codes (est, est_Latn, ...); None when unknown."""
    langs = _registry().languages
    if code in langs:
        return langs[code]
    for lang in langs.values():
        if code in (lang.iso639_3, lang.flores, lang.nllb, lang.belebele):
            return lang
    return None


def get(code: str) -> Language:
    """The language of `code` (any of its codes), or a ConfigError listing the supported ones."""
    lang = find(code)
    if lang is None:
        raise ConfigError(f"language {code!r} is not in the language registry (supported: {', '.join(codes())}); "
                          f"add it to a YAML file named in {ENV} or with llammas_core.languages.register()")
    return lang


def has(code: str, capability: str) -> bool:
    lang = find(code)
    return lang is not None and bool(_CAP[capability][2](lang))


def require(code: str, capability: str) -> Any:
    """The language's value of `capability` (flores, belebele, xcopa, nllb, m2m100, madlad, lid176, glotlid,
    filters, translate_templates), or a ConfigError naming what is missing and what is available."""
    lang = get(code)
    group, label, getter = _CAP[capability]
    value = getter(lang)
    if value is None:
        others = [lb for cap, (lb, g) in CAPABILITIES[group].items() if cap != capability and g(lang)]
        listed = " and ".join([", ".join(others[:-1]), others[-1]] if len(others) > 2 else others)
        avail = f"; {listed} {'is' if len(others) == 1 else 'are'} available" if others else ""
        raise ConfigError(f"no {label} for {lang.code}{avail}")
    return value


def english_name(code: str) -> str:
    """English name of a language (the code itself when unknown: names are for humans)."""
    lang = find(code)
    return lang.name if lang else code


def flores_code(code: str) -> str:
    """FLORES-200 code of a language; a code the registry does not know is taken as a FLORES code already."""
    return require(code, "flores") if find(code) else code


def word_tokenizer(code: str) -> str:
    """The language code datatrove's word tokenizer (and so its filters) is built for."""
    lang = get(code)
    return lang.words or lang.code


def sentence_splitter(code: str) -> str:
    """spaCy language of the sentencizer (a code the registry does not know passes through)."""
    lang = find(code)
    return (lang.sentences or lang.code) if lang else code


def script_prefixes(code: str) -> tuple[str, ...]:
    """Unicode character-name prefixes of the letters of the language's script (LATIN, CYRILLIC, CJK...)."""
    script = get(code).script
    table = defaults().get("scripts", {})
    if script not in table:
        raise ConfigError(f"script {script!r} of {code} has no entry in the registry's defaults.scripts")
    return tuple(table[script])


def lid_threshold(code: str, model: Literal["lid176", "glotlid"] = "lid176") -> float:
    """Document-level LID threshold of a language for lid.176 or GlotLID (the registry default otherwise)."""
    lang = find(code)
    own = getattr(lang.lid, f"{model}_threshold") if lang else None
    return own if own is not None else float(defaults()["lid"][f"{model}_threshold"])


def lid_label_map(code: str | None = None, model: Literal["lid176", "glotlid"] = "lid176") -> dict[str, str]:
    """Model label -> llammas code. lid.176: only the target's own label when it differs from its code (two
    registry languages may share a lid.176 label); GlotLID: every language's labels, the target's winning."""
    langs = list(_registry().languages.values())
    target = find(code) if code else None
    out: dict[str, str] = {}
    if model == "glotlid":
        for lang in langs + ([target] if target else []):
            out.update({label: lang.code for label in lang.lid.glotlid})
    elif target and target.lid.lid176 and target.lid.lid176 != target.code:
        out[target.lid.lid176] = target.code
    return out


def translation_templates(code: str) -> tuple[list[str], list[str], dict[str, str]] | None:
    """(input templates, inline templates, language names) of the language's own translation instructions."""
    lang = find(code)
    if not lang or not lang.instructions.translate_input:
        return None
    names = lang.instructions.names or {c: english_name(c) for c in codes()}
    return list(lang.instructions.translate_input), list(lang.instructions.translate_inline), names


def prompt_templates(code: str, fallback: str) -> dict[str, list[tuple[str, float]]]:
    """Weighted Alpaca prompt templates of a language, else those of `fallback`."""
    lang = find(code)
    if lang and lang.instructions.prompts:
        return lang.instructions.prompts
    return get(fallback).instructions.prompts or {}


def xcopa_connectives(code: str) -> dict[str, str]:
    x = require(code, "xcopa")
    return {"cause": x.cause, "effect": x.effect}


def with_filter_defaults() -> list[str]:
    return [c for c in codes() if _registry().languages[c].corpus.filters is not None]


def default_target() -> str:
    return str(defaults().get("target", codes()[0]))


class _Choices:
    """Annotated metadata: the JSON schema (Prefect's form) offers the registry's codes as a choice,
    read when the schema is built, so YAML/registered extras are offered too."""

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        if target.get("type") == "string":
            target["enum"] = codes()
        else:  # Optional: the string branch of anyOf
            for branch in target.get("anyOf", []):
                if branch.get("type") == "string":
                    branch["enum"] = codes()
        return schema


LanguageCode = Annotated[str, _Choices()]
