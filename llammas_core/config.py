"""Top-level configuration: one YAML file per setting (configs/demo.yaml, configs/llammas-et.yaml).

Each flow takes its section plus the store section as parameters; the same pydantic models
render as forms in the Prefect UI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llammas_core.corpus.config import CorpusConfig
from llammas_core.errors import ConfigError
from llammas_core.secrets import scrub
from llammas_core.instructions.config import InstructionsConfig
from llammas_core.secrets import NO_USERINFO, refuse_credentials
from llammas_core.store import Store, open_store
from llammas_core.train.config import TrainConfig
from llammas_core.evaluate.config import EvaluateConfig
from llammas_core.scaling.config import ScalingConfig
from llammas_core.languages import LanguageCode
from llammas_core.multilingual.config import LanguageSections, MuitConfig, check_languages, expand_languages


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    # the pattern (no userinfo) is also checked by the Prefect server, before it stores a run's parameters
    uri: str = Field("file://./.llammas/store", description="file://folder (default) or s3://bucket/prefix.",
                     json_schema_extra={"pattern": NO_USERINFO})
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, Ceph, R2); empty: AWS. "
                                     "Credentials come from the environment, never from this URL.",
                                     json_schema_extra={"pattern": NO_USERINFO})
    region: str | None = Field(None, description="S3 region; empty: from the AWS config chain.")
    work_dir: str = Field("./.llammas/work", description="Local scratch for stages in progress (resumable).")
    umask: str = Field("022", pattern=r"^0?[0-7]{3}$",
                       description="Octal umask of committed files and folders in a local store (022: readable "
                                   "by group and others, for a shared store; 077: owner only).")

    @field_validator("uri", "endpoint_url")
    @classmethod
    def _no_credentials(cls, value: str | None, info) -> str | None:
        from llammas_core.secrets import has_userinfo, scrub

        if has_userinfo(value):  # it would be stored with the run's parameters in the Prefect database
            raise ValueError(f"credentials in a URL are not accepted ({scrub(value)}); use the environment "
                             "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)")
        return value

    def open(self) -> Store:
        return open_store(self.uri, endpoint_url=self.endpoint_url, region=self.region, umask=int(self.umask, 8))

    @property
    def work_path(self) -> Path:
        return Path(self.work_dir).expanduser().resolve()


class TinyBaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vocab_size: int = 2000
    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 128
    max_docs: int = Field(5000, description="Corpus documents the tokenizer is trained on.")


class LlammasConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: StoreConfig = StoreConfig()
    corpus: CorpusConfig | None = None
    english_corpus: CorpusConfig | None = Field(
        None, description="The pivot-language corpus mixed into continued pretraining (Llammas: English, 25%)."
    )
    tiny_base: TinyBaseConfig | None = Field(
        None, description="Build a random-init tiny Llama + tokenizer from the corpora (demo/CI); train.model.base: '@tiny_base'."
    )
    instructions: InstructionsConfig | None = Field(
        None, description="Instruction data: machine-translated instruction sets, translation tasks from bitext and "
                          "the SFT mixture (train.sft.sources: ['@instructions']).")
    train: TrainConfig | None = Field(None, description="Continued pretraining and instruction tuning.")
    evaluate: EvaluateConfig | None = Field(
        None, description="Evaluate models (in the pipeline '@base', '@cpt', '@sft') on a task suite; one report "
                          "with bootstrap CIs and paired deltas against the baseline.")
    scaling: ScalingConfig | None = Field(
        None, description="x-LLaMA scaling law: CoIT pilots per language and translation-data size, a curve fitted "
                          "per language and the allocation of a budget of translation pairs ('@allocation').")

    languages: list[LanguageCode] | None = Field(
        None, description="Several target languages in one run (x-LLaMA's MuIT): each gets its own corpus and "
                          "instructions stages (`per_language`), combined by `muit` into one SFT set.")
    per_language: dict[str, LanguageSections] = Field(
        default_factory=dict, description="The sections of each target language (in YAML usually written once "
                                          "under `for_each_language` with `{lang}`, plus overrides here).")
    muit: MuitConfig | None = Field(
        None, description="The multilingual instruction mixture over the per-language instructions stages "
                          "('@instructions' in `train`), its per-language caps or weights, and the x-LLaMA comparison.")

    @model_validator(mode="before")
    @classmethod
    def _expand_languages(cls, data):
        return expand_languages(data)

    @model_validator(mode="after")
    def _languages_agree(self) -> "LlammasConfig":
        check_languages(self.languages, self.per_language, self.muit)
        if self.languages and self.instructions is not None:
            raise ValueError("a config with `languages` has its instructions per language (for_each_language / "
                             "per_language), not a top-level `instructions` section")
        return self

    @model_validator(mode="after")
    def _no_credentials_anywhere(self) -> "LlammasConfig":
        refuse_credentials(self)  # every URL field of every section; key sources known to the scrubber
        return self


def set_dotted(data: dict, dotted: str, value: Any) -> None:
    """Apply one `--set a.b.c=value` override; list items by index (sources.0.paths)."""
    keys = dotted.split(".")
    node: Any = data
    for i, key in enumerate(keys[:-1]):
        nxt = keys[i + 1]
        if isinstance(node, list):
            node = node[int(key)]
            continue
        if key not in node or node[key] is None:
            node[key] = [] if nxt.isdigit() else {}
        node = node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (`X | None`, `list[X]`, `dict[str, X]`), if any."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def did_you_mean(loc: tuple, root: type[BaseModel] | None = None) -> str:
    """' (did you mean `max_steps`?)' for an unknown key at `loc`, from the fields of the model there."""
    import difflib

    cls: type[BaseModel] | None = root or LlammasConfig
    for part in loc[:-1]:
        if cls is None:
            return ""
        if isinstance(part, int) or part not in cls.model_fields:
            continue  # a list index or a union member's tag
        cls = _model_in(cls.model_fields[part].annotation)
    if cls is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(cls.model_fields), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def load_config(path: str | Path, overrides: list[str] | None = None) -> LlammasConfig:
    """YAML + `key=value` overrides (values parsed as YAML) -> validated config, or a ConfigError that
    names the `--set` a bad value came from and suggests the closest key for an unknown one."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    keys: dict[str, str] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"--set {scrub(item)!r}: the value is not valid YAML ({problem}); quote it, e.g. "
                              f"--set '{key}=\"...\"'") from None
        try:
            set_dotted(data, key.strip(), value)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ConfigError(f"--set {scrub(item)!r}: {e}") from None
        keys[key.strip()] = item
    try:
        return LlammasConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        hint = did_you_mean(tuple(first["loc"])) if first["type"] == "extra_forbidden" else ""
        origin = next((f"--set {scrub(item)!r}: " for k, item in keys.items()
                       if where == k or where.startswith(k + ".") or k.startswith(where + ".")), f"{path}: ")
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{origin}{where}: {msg}{hint} ({e.error_count()} error(s))") from None
