"""The `evaluate:` section of a llammas config: which models, which tasks, how to compare them.

In the main job the models are `@base`, `@cpt` and `@sft`; the pipeline resolves those references to
stage manifest URIs (or the base model's path / hub id) before the evaluation runs
(`llammas_core.refs`; a flow run alone finds them in the store). A task's data may be given as a list of
candidate paths, the first existing one wins, so one config serves the data kit (../shared/data) when
it is there and the bundled demo files (demo/eval) when not.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llammas_core.evaluate.spec import ModelSpec, TaskSpec

__all__ = ["BootstrapConfig", "ContaminationConfig", "EvaluateConfig"]


class BootstrapConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples: int = Field(1000, ge=10, description="Bootstrap resamples per task (the same indices for every model).")
    seed: int = Field(12345, description="Seed of the resampling (numpy PCG64, combined with the task name).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Two-sided confidence level of intervals.")


class ContaminationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Check n-gram overlap between each evaluation set and the training data.")
    follow_lineage: bool = Field(
        True, description="Check the training data each model's stage manifest names (SFT mixture, CPT corpora, "
                          "followed back through the init model's stage).")
    sources: list[str] = Field(
        default_factory=list,
        description="Further training data to check (manifest URIs, files or folders of JSONL/Parquet/JSON).")
    n: int = Field(8, ge=2, description="Word n-gram size (after normalisation: NFKC, lower case, no punctuation).")
    threshold: float = Field(0.5, gt=0.0, le=1.0,
                             description="An evaluation text counts as contaminated when at least this fraction "
                                         "of its n-grams occurs in the training sample.")
    sample_docs: int = Field(20000, ge=1, description="Training documents sampled per source (seeded reservoir).")
    max_scan: int = Field(200000, ge=1, description="Most documents read per source to draw the sample from.")
    seed: int = Field(0, description="Seed of the reservoir sample.")


class EvaluateConfig(BaseModel):
    """Models x tasks, compared with bootstrap CIs and paired deltas against a baseline model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("eval", description="Label of this evaluation (report title, artifact keys).")
    models: list[ModelSpec] = Field(
        min_length=1, description="Models to compare, in report order. In the pipeline: paths '@base', '@cpt', "
                                  "'@sft' (resolved to the training stages' manifests).")
    tasks: list[TaskSpec] = Field(min_length=1, description="Tasks every model is evaluated on.")
    baseline: str | None = Field(None, description="Name of the model the others are compared with; default: the first.")
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig, description="Confidence intervals and paired deltas.")
    contamination: ContaminationConfig = Field(default_factory=ContaminationConfig,
                                               description="N-gram overlap of evaluation sets with training data.")
    workers: int | None = Field(
        None, ge=1, description="Models evaluated at once, each by its own worker (its own Prefect task) that loads "
                                "the model once and runs its tasks; on a GPU box each worker holds one GPU. Default: "
                                "one per GPU, 2 on CPU. The report is the same for any value.")
    skipped: list[str] = Field(default_factory=list, description=(
        "Per-language tasks left out, with the reason (filled when `for_each_language.evaluate_tasks` is "
        "expanded: 'xcopa_lv: no xcopa for lv in the language registry'); the report lists them."))

    @model_validator(mode="before")
    @classmethod
    def _pick_data(cls, data):
        """A task's `data` / `fewshot_data` may be a list of candidate paths: the first that exists wins
        (e.g. [../shared/data/xcopa_et, demo/eval/xcopa_et]); when none exists the first is kept, and the
        task's validation reports it as missing."""
        if isinstance(data, dict) and isinstance(data.get("tasks"), list):
            tasks = []
            for t in data["tasks"]:
                if isinstance(t, dict):
                    t = dict(t)
                    for k in ("data", "fewshot_data"):
                        if isinstance(t.get(k), list):
                            t[k] = first_existing(t[k])
                tasks.append(t)
            data = {**data, "tasks": tasks}
        return data

    @model_validator(mode="after")
    def _check(self) -> "EvaluateConfig":
        names = [m.name for m in self.models]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dup)}")
        tnames = [t.name for t in self.tasks]
        tdup = sorted({n for n in tnames if tnames.count(n) > 1})
        if tdup:
            raise ValueError(f"task names must be unique; repeated: {', '.join(tdup)}")
        if self.baseline is not None and self.baseline not in names:
            raise ValueError(f"baseline {self.baseline!r} is not one of the models ({', '.join(names)})")
        base = next(m for m in self.models if m.name == self.baseline_name)
        if base.languages:
            raise ValueError(f"the baseline {base.name} is compared on every task: it cannot be limited to "
                             f"languages {base.languages}")
        return self

    @property
    def baseline_name(self) -> str:
        return self.baseline or self.models[0].name

    def unresolved_refs(self) -> list[str]:
        return [m.path for m in self.models if m.path.startswith("@")]


def first_existing(candidates: list[str]) -> str | None:
    """The first candidate that exists (a store URI counts as existing: it is checked when read)."""
    if not candidates:
        return None
    for c in candidates:
        if not isinstance(c, str):
            raise ValueError(f"data candidates must be paths, got {c!r}")
        if "://" in c and not c.startswith("file://"):
            return c
        if Path(c.removeprefix("file://")).expanduser().exists():
            return c
    return candidates[0]
