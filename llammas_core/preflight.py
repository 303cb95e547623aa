"""Errors come early: everything a run will read is checked before its first long stage starts.

A missing SFT file must not surface after hours of CPT. `preflight` checks every section the flow
will run: each family's own validator (languages, numeric ranges, task files), and that every path
or store URI the sections name exists. References (`@name`) are checked by their resolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlparse

from pydantic import BaseModel

from llammas_core.errors import ConfigError, LlammasError
from llammas_core.refs import REF, refs_in
from llammas_core.secrets import credential_fields
from llammas_core.store import open_uri


def _looks_local(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~", "file://")) or Path(spec).expanduser().exists()


def source_exists(source: str, endpoint_url: str | None = None) -> bool:
    """A local file/folder or an object/prefix in a store; references and hub ids count as present."""
    if REF.match(source):
        return True
    scheme = urlparse(source).scheme
    if scheme == "s3":
        store, key = open_uri(source, endpoint_url)
        return store.exists(key) or next(iter(store.list(key)), None) is not None
    if scheme in ("http", "https", "hf"):
        return True
    return Path(source.removeprefix("file://")).expanduser().exists()


def _missing(field: str, sources: Iterable[str], endpoint_url: str | None) -> list[str]:
    return [f"{field}: {s} does not exist" for s in sources if not source_exists(s, endpoint_url)]


def _check_corpus(section, endpoint_url: str | None) -> list[str]:
    from llammas_core.corpus.validate import validate_corpus

    validate_corpus(section, endpoint_url)
    return []


def _check_train(train, endpoint_url: str | None) -> list[str]:
    problems = []
    if train.cpt.enabled:
        problems += _missing("train.cpt.sources", train.cpt.sources, endpoint_url)
    if train.sft.enabled:
        problems += _missing("train.sft.sources", train.sft.sources, endpoint_url)
    base = train.model.base
    if not REF.match(base) and (_looks_local(base) or urlparse(base).scheme == "s3"):
        problems += _missing("train.model.base", [base], endpoint_url)
    return problems


def _check_instructions(section, endpoint_url: str | None) -> list[str]:
    section.require_usable()
    problems = []
    for s in section.sources:
        problems += _missing(f"instructions.sources.{s.name}.paths", s.paths, endpoint_url)
    for b in section.bitext:
        problems += _missing(f"instructions.bitext.{b.name}.paths", b.paths, endpoint_url)
    problems += _missing("instructions.decontamination.eval_files", section.decontamination.eval_files, endpoint_url)
    t = section.translator
    if t is not None and t.backend != "openai" and _looks_local(t.model):
        problems += _missing("instructions.translator.model", [t.model], endpoint_url)
    return problems


def _check_evaluate(section, endpoint_url: str | None) -> list[str]:
    from llammas_core.evaluate.stage import input_errors

    return [f"evaluate.{message}" for message, _ in input_errors(section, skip_refs=True)]


# every section the main job runs, in order
PIPELINE_SECTIONS = ("corpus", "english_corpus", "tiny_base", "instructions", "train", "evaluate")

CHECKS: dict[str, Callable[[BaseModel, str | None], list[str]]] = {
    "corpus": _check_corpus,
    "english_corpus": _check_corpus,
    "train": _check_train,
    "instructions": _check_instructions,
    "evaluate": _check_evaluate,
}


def _produced(name: str, section) -> set[str]:
    """The reference names a section's stages produce in a pipeline run."""
    if name != "train":
        return {name}
    return {"base"} | ({"tokenized", "cpt"} if section.cpt.enabled else set()) | ({"sft"} if section.sft.enabled else set())


def _check_references(config: BaseModel, sections: Iterable[str]) -> list[str]:
    """In a pipeline run, every @name must be produced by an earlier (enabled) stage of the same run."""
    problems = []
    # several target languages: their stages (`@corpus_<xx>`, `@instructions_<xx>`) run before the sections
    # below read them, and the MuIT mixture over the per-language instructions is `@instructions`
    available = {"instructions"} if getattr(config, "muit", None) is not None else set()
    for lang, sec in (getattr(config, "per_language", None) or {}).items():
        available |= {f"{kind}_{lang}" for kind in ("corpus", "instructions") if getattr(sec, kind) is not None}
    for name in sections:
        section = getattr(config, name, None)
        if section is None:
            continue
        for ref in sorted(refs_in(section) - available):
            problems.append(f"{name} refers to @{ref}, which no earlier stage of this run produces "
                            f"(available: {', '.join('@' + a for a in sorted(available)) or 'none'})")
        available |= _produced(name, section)
    return problems


def preflight(config: BaseModel, sections: Iterable[str], endpoint_url: str | None = None,
              whole_run: bool = False) -> None:
    """Raise one ConfigError naming every problem found in the sections a run will execute.
    `whole_run`: the sections run in this order in one run (the pipeline), so their references must
    name earlier stages of it."""
    sections = list(sections)
    problems: list[str] = _check_references(config, sections) if whole_run else []
    per_language = [(f"per_language.{lang}.{kind}", kind, getattr(sec, kind))
                    for lang, sec in (getattr(config, "per_language", None) or {}).items()
                    for kind in ("corpus", "instructions") if kind in sections and getattr(sec, kind) is not None]
    for name, kind, section in [(n, n, getattr(config, n, None)) for n in sections] + per_language:
        if section is None:
            continue
        problems += [f"{f}: credentials in a URL are not accepted (use the environment)"
                     for f in credential_fields(section, name)]
        if kind not in CHECKS:
            continue
        try:
            problems += CHECKS[kind](section, endpoint_url)
        except LlammasError as e:
            problems.append(f"{name}: {e}" if not str(e).startswith(name) else str(e))
    if problems:
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:])})" if len(problems) > 1 else ""
        raise ConfigError(f"{problems[0]}{more}")
