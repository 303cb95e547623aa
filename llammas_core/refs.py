"""References between stages: `@name` in a config section names the output of another stage.

One resolver for every name (`@corpus`, `@english_corpus`, `@tiny_base`, `@instructions`,
`@tokenized`, `@cpt`, `@sft`, `@base`, `@allocation`):
- in a pipeline run, from the outputs the run has already produced (`substitute`);
- in a flow run alone, from the store (`resolve_standalone`): every stage remembers its output under
  the identity of the (resolved) config section that produced it, so the same config finds it again.

A new stage adds a line to NAMES, not a special case.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel

from llammas_core.errors import ConfigError, InputError
from llammas_core.stage import MANIFEST, canonical_json
from llammas_core.store import Store, open_uri

REF = re.compile(r"^@([a-z_]+)$")


@dataclass(frozen=True)
class Name:
    section: str  # dotted path in the top-level config
    kind: str | None  # the stage kind that remembers its output; None: the value itself (after resolution)
    flow: str  # the flow a user runs to produce it


NAMES: dict[str, Name] = {
    "corpus": Name("corpus", "corpus", "corpus"),
    "english_corpus": Name("english_corpus", "corpus", "corpus"),
    "tiny_base": Name("tiny_base", "tiny_base", "train"),  # built by the first flow that needs it
    "instructions": Name("instructions", "instructions", "instructions"),
    "tokenized": Name("train", "tokenize", "train"),
    "cpt": Name("train", "cpt", "train"),
    "sft": Name("train", "sft", "train"),
    "base": Name("train.model.base", None, "train"),
    "allocation": Name("scaling", "allocation", "scaling"),
}


def _disabled(model: BaseModel) -> set[str]:
    """Fields of a section that are sub-sections switched off (`enabled: false`, e.g. `train.sft`): their
    references are not used, so they are neither checked nor resolved (left as written)."""
    return {name for name in type(model).model_fields
            if isinstance(v := getattr(model, name), BaseModel) and getattr(v, "enabled", True) is False}


def refs_in(value: Any) -> set[str]:
    """The names referenced anywhere in a config section (model, dict, list or string), except inside
    disabled sub-sections (see `_disabled`)."""
    if isinstance(value, BaseModel):
        off = _disabled(value)
        return set().union(set(), *(refs_in(getattr(value, f)) for f in type(value).model_fields if f not in off))
    if isinstance(value, str):
        m = REF.match(value)
        return {m.group(1)} if m else set()
    if isinstance(value, dict):
        return set().union(*(refs_in(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(refs_in(v) for v in value)) if value else set()
    return set()


def _replace(value: Any, sub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return sub(value) if REF.match(value) else value
    if isinstance(value, dict):
        return {k: _replace(v, sub) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, sub) for v in value]
    return value


def substitute(section: Any, outputs: dict[str, str], where: str = "config") -> Any:
    """The section with every `@name` replaced by outputs[name] (a manifest URI, or a path for @base)."""
    def sub(ref: str) -> str:
        name = ref[1:]
        if name not in outputs:
            known = ", ".join(f"@{n}" for n in sorted(outputs)) or "nothing"
            raise ConfigError(f"{where} refers to {ref}, but this run produced only {known}")
        return outputs[name]

    if isinstance(section, BaseModel):
        off = _disabled(section)
        dump = section.model_dump()
        return type(section).model_validate({k: v if k in off else _replace(v, sub) for k, v in dump.items()})
    return _replace(section, sub)


# ---------------------------------------------------------------------------- memory in the store

def section_id(kind: str, section: Any) -> str:
    if isinstance(section, BaseModel):
        section = section.model_dump(mode="json")
    return hashlib.sha256(canonical_json({"kind": kind, "section": section}).encode()).hexdigest()[:24]


def _pointer(kind: str, section: Any) -> str:
    return f"refs/sections/{kind}/{section_id(kind, section)}.json"


def remember(store: Store, kind: str, section: Any, manifest_uri: str) -> None:
    """Record that `section` (resolved: no @refs left) produced the stage at manifest_uri."""
    store.write_json(_pointer(kind, section), {"kind": kind, "manifest_uri": manifest_uri})


def recall(store: Store, kind: str, section: Any, endpoint_url: str | None = None) -> str | None:
    """The committed output remembered for `section`, or None (never remembered, or since deleted)."""
    pointer = _pointer(kind, section)
    if not store.exists(pointer):
        return None
    uri = store.read_json(pointer)["manifest_uri"]
    try:
        out_store, key = open_uri(uri, endpoint_url)
    except InputError:
        return None
    return uri if out_store.exists(key if key.endswith(MANIFEST) else f"{key}/{MANIFEST}") else None


def _get(config: BaseModel, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


def resolve_standalone(store: Store, config: BaseModel, names: set[str],
                       endpoint_url: str | None = None) -> dict[str, str]:
    """outputs[name] for each name, found in the store by the identity its (resolved) config section
    gives it. A missing output is a ConfigError that says which flow to run first."""
    outputs: dict[str, str] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> str:
        if name in outputs:
            return outputs[name]
        if name in chain:
            raise ConfigError(f"@{name} refers to itself through {' -> '.join('@' + c for c in chain)}")
        if name not in NAMES:
            raise ConfigError(f"unknown reference @{name}; known: {', '.join('@' + n for n in sorted(NAMES))}")
        spec = NAMES[name]
        section = _get(config, spec.section)
        if section is None:
            raise ConfigError(f"@{name} refers to the `{spec.section}` section, which this config does not have")
        inner = {n: resolve(n, chain + (name,)) for n in refs_in(section)}
        resolved = substitute(section, inner, where=spec.section)
        if spec.kind is None:
            outputs[name] = resolved
            return resolved
        uri = recall(store, spec.kind, resolved, endpoint_url)
        if uri is None:
            raise ConfigError(
                f"@{name} ({spec.kind} stage of the `{spec.section}` section) has not been committed in {store.uri} "
                f"for this config: run `llammas run {spec.flow}` (or the pipeline) first")
        outputs[name] = uri
        return uri

    for n in sorted(names):
        resolve(n, ())
    return outputs


def resolve_section(config: BaseModel, name: str) -> Any:
    """A section of the top-level config with its references resolved from the store (a flow run alone).

    `config` is the whole config (it has `store`): `@corpus` in `train` is the corpus stage that the
    `corpus` section of this very config committed."""
    section = getattr(config, name)
    names = refs_in(section)
    if not names:
        return section
    store_cfg = config.store
    outputs = resolve_standalone(store_cfg.open(), config, names, store_cfg.endpoint_url)
    return substitute(section, outputs, where=name)


def closure(config: BaseModel, names: set[str]) -> set[str]:
    """`names` and every name their sections refer to, transitively (`@sft` -> `@instructions`, `@tiny_base`...)."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out or name not in NAMES:
            continue
        out.add(name)
        section = _get(config, NAMES[name].section)
        if section is not None:
            todo += refs_in(section)
    return out
