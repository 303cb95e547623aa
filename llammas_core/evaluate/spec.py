"""What to evaluate: ModelSpec (which checkpoint, chat or not) and TaskSpec (which task, data, settings).

Both are plain pydantic models, so they validate from YAML/JSON configs and hash stably
(`model_dump(mode="json")`) for content-addressed results.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from llammas_core.languages import LanguageCode

TaskKind = Literal["xcopa", "belebele", "flores", "qa", "lm_eval"]
Backend = Literal["hf", "vllm"]


class ModelSpec(BaseModel):
    """One model to evaluate."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short label used in reports and result paths, e.g. 'base', 'cpt', 'sft'.")
    path: str = Field(description="Local model folder, store URI of a committed stage manifest (file:// or s3://, "
                                  "resolved to its model/ folder), or a hub id (only when online).")
    revision: str | None = Field(default=None, description="Hub revision for a hub id; ignored for local folders.")
    chat: bool | Literal["auto"] = Field(
        default="auto",
        description="Use the tokenizer's chat template for generation tasks. 'auto': use it when the tokenizer "
                    "has one; True: require it (error before loading weights when absent); False: never.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="Weights dtype. 'auto': bfloat16 on CUDA, float32 on CPU.")
    device: str | None = Field(default=None, description="torch device; None picks cuda when available, else cpu.")
    batch_size: int = Field(default=16, ge=1, description="Batch size for log-likelihood requests and generation.")
    backend: Backend = Field(
        default="hf", description="lm-eval backend for log-likelihood tasks: 'hf' (in-process HFLM over the loaded "
                                  "model) or 'vllm' (lm-eval's VLLM, only where vllm is installed).")
    languages: list[LanguageCode] | None = Field(
        default=None, description="Evaluate only on the tasks of these languages (a model trained for one "
                                  "language, e.g. an x-LLaMA); empty: every task.")
    group: str | None = Field(
        default=None, description="Label shared by models of one kind (the x-LLaMAs, one per language): one row "
                                  "of the report's macro average over languages.")


class TaskSpec(BaseModel):
    """One evaluation task with its data and settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Label used in reports and result paths, e.g. 'xcopa_et', 'flores_en-et'.")
    kind: TaskKind = Field(description="xcopa | belebele | flores | qa, or lm_eval for any lm-eval task by name "
                                       "(lm_eval_task) with lm-eval's own data.")
    data: str | None = Field(
        default=None,
        description="Scored data: a local file or folder, or a store URI (file:// or s3://; downloaded to a local "
                    "cache first). xcopa: a jsonl file (premise, choice1, choice2, question, label) or the XCOPA "
                    "folder (test.et.jsonl). belebele: a CSV/JSONL in the Belebele schema or a folder with "
                    "*-test.csv. flores: flores200_sib_subset.jsonl-like JSONL (one field per FLORES language code) "
                    "or a folder with `parallel/devtest.<lang>` files. qa: SQuAD-format JSON lines or a SQuAD JSON. "
                    "Unused for lm_eval.")
    fewshot_data: str | None = Field(
        default=None,
        description="Where few-shot examples come from (file or store URI, same format as data). Default: the "
                    "dev/validation split next to `data` (val.et.jsonl, *-dev.csv, flores_split=dev rows or "
                    "`parallel/dev.<lang>`, *-dev.json). Scored items are never used as their own examples.")
    lm_eval_task: str | None = Field(default=None, description="For kind lm_eval: the lm-eval task or group name.")
    direction: str | None = Field(default=None, description="flores: 'src-tgt' with language-registry codes, e.g. "
                                                            "'en-et' or 'et-en' (their FLORES codes pick the columns).")
    language: LanguageCode | None = Field(
        default=None, description="Language of the task data (a language-registry code, e.g. 'et'; default: the "
                                  "registry's default target): picks the XCOPA connectives and the Belebele files.")
    num_fewshot: int = Field(default=0, ge=0, description="Few-shot examples per prompt (0 = zero-shot).")
    fewshot_seed: int = Field(default=1234, description="Seed of the few-shot sampler.")
    limit: int | None = Field(default=None, ge=1, description="Score only the first `limit` items (subsets, demos).")
    max_new_tokens: int = Field(default=256, ge=1, description="Generation tasks: most new tokens per item.")
    num_beams: int = Field(default=1, ge=1, description="Generation tasks: beam width (1 = greedy, the default).")
    do_sample: bool = Field(default=False, description="Generation tasks: sample instead of greedy/beam search.")
    spm_model: str | None = Field(
        default=None, description="flores: local path of the flores200 SentencePiece model for spBLEU. sacrebleu "
                                  "would download it; without a local copy with a matching sha256 spBLEU is skipped.")
    spm_sha256: str | None = Field(default=None, description="Expected sha256 of spm_model (required with it).")
    comet_model: str | None = Field(
        default=None, description="flores: local COMET checkpoint path; scored in a subprocess with `comet_python` "
                                  "(unbabel-comet needs transformers<5). Skipped, and reported so, when absent.")
    comet_python: str | None = Field(default=None, description="Python executable of an environment with "
                                                               "unbabel-comet installed (for comet_model).")

    @field_validator("direction")
    @classmethod
    def _direction(cls, v: str | None) -> str | None:
        if v is not None and (v.count("-") != 1 or not all(v.split("-"))):
            raise ValueError(f"direction must look like 'en-et', got {v!r}")
        return v

    @model_validator(mode="after")
    def _by_kind(self) -> "TaskSpec":
        if self.kind == "flores" and not self.direction:
            raise ValueError(f"task {self.name}: flores needs direction, e.g. 'en-et'")
        if self.kind == "lm_eval" and not self.lm_eval_task:
            raise ValueError(f"task {self.name}: kind lm_eval needs lm_eval_task (an lm-eval task name)")
        if self.kind not in ("lm_eval",) and not self.data:
            raise ValueError(f"task {self.name}: kind {self.kind} needs data (a file, folder or store URI)")
        if bool(self.spm_model) != bool(self.spm_sha256):
            raise ValueError(f"task {self.name}: spm_model and spm_sha256 go together")
        return self

    def generation_kwargs(self) -> dict:
        """Settings passed to `generate` (greedy unless beams/sampling are asked for)."""
        return {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams, "do_sample": self.do_sample}


__all__ = ["ModelSpec", "TaskSpec", "TaskKind"]
