"""The `scaling` section: pilots per language and translation-data size, the fit, and the allocation.

Measured points come from three places, merged (a language needs points at 2+ distinct sizes):
- `points`: a table typed in (language, pairs, score), e.g. from GPU runs done elsewhere;
- `pilot_results`: committed evaluate manifests (a report or a single eval stage), one per pilot;
- `pilot`: templates of the instructions/train/evaluate sections that the scaling flow runs for each
  language x size (`{lang}` and `{pairs}` in any string are replaced), the translation component capped at
  `pairs` records. Their reports then become pilot results.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llammas_core.scaling.fit import FORMS


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str
    pairs: int = Field(ge=1, description="Translation pairs in the pilot's mixture.")
    score: float = Field(description="The pilot's FLORES score (scaling.metric).")


class PilotResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str
    pairs: int = Field(ge=1)
    manifest: str = Field(description="A committed evaluate report or eval-stage manifest (URI or stage folder).")
    task: str | None = Field(None, description="The FLORES task in that report; default: scaling.pilot_task.")
    model: str | None = Field(None, description="The model's name in the report; default: scaling.pilot_model.")


class PilotConfig(BaseModel):
    """Section templates of one CoIT pilot; `{lang}` and `{pairs}` in any string are substituted."""

    model_config = ConfigDict(extra="forbid")

    translation_component: str = Field("translation", description="The mixture component capped at `pairs` records.")
    instructions: dict[str, Any] = Field(description="An `instructions` section (its mixture has the translation component).")
    train: dict[str, Any] = Field(description="A `train` section; `@instructions` is the pilot's instruction data.")
    evaluate: dict[str, Any] = Field(description="An `evaluate` section; `@sft` and `@base` are the pilot's models.")


class ScalingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("scaling", description="Label of this allocation (artifact keys, plot title).")
    languages: list[str] = Field(min_length=1, description="Target languages the budget is shared across.")
    pilot_sizes: list[int] = Field([], description="Translation pairs per pilot (the X of the curves).")
    budget: int = Field(ge=0, description="Translation pairs to allocate in total (C).")
    objective: Literal["mean", "min"] = Field("mean", description="Maximise the mean or the minimum predicted score.")
    step: int = Field(1, ge=1, description="Allocate in multiples of this many pairs (the budget must be one).")
    available: dict[str, int] = Field({}, description="Pairs available per language (a cap); missing: unlimited.")
    metric: str = Field("chrf", description="The FLORES metric the curves are fitted to.")
    ceiling: float | None = Field(100.0, description="The metric's maximum (chrF, BLEU: 100); enables the paper form.")
    forms: list[Literal["saturating", "paper", "loglinear"]] = Field(list(FORMS), min_length=1)
    holdout: Literal["loo", "largest"] = Field("loo", description="Held-out points that choose the form.")
    points: list[Point] = []
    pilot_results: list[PilotResult] = []
    pilot_task: str = Field("flores_en-{lang}", description="Task name of a pilot's FLORES score ({lang} replaced).")
    pilot_model: str = Field("sft", description="Model name of the pilot in its report.")
    pilot: PilotConfig | None = None

    @field_validator("languages")
    @classmethod
    def _known(cls, langs: list[str]) -> list[str]:
        from llammas_core.languages import get

        for code in langs:
            get(code)  # a ConfigError naming the supported languages
        if len(set(langs)) != len(langs):
            raise ValueError("a language is listed twice")
        return langs

    @field_validator("pilot_sizes")
    @classmethod
    def _sizes(cls, sizes: list[int]) -> list[int]:
        if any(s < 1 for s in sizes) or len(set(sizes)) != len(sizes):
            raise ValueError("pilot sizes are distinct positive numbers of pairs")
        return sorted(sizes)

    @model_validator(mode="after")
    def _languages_match(self) -> "ScalingConfig":
        named = {p.language for p in self.points} | {p.language for p in self.pilot_results} | set(self.available)
        extra = sorted(named - set(self.languages))
        if extra:
            raise ValueError(f"points, pilot_results or available name {', '.join(extra)}, not in scaling.languages")
        return self
