"""CoIT pilots: the instructions/train/evaluate sections of one pilot per language x translation-data size.

Each pilot is the same recipe with `{lang}` and `{pairs}` substituted in every string of the templates
(literal replacement: chat templates' `{{ }}` are left alone), and its mixture's translation component capped
at `pairs` records. Names get a `-{lang}-{pairs}` suffix so each pilot is its own stage in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from llammas_core.errors import ConfigError
from llammas_core.evaluate.config import EvaluateConfig
from llammas_core.instructions.config import InstructionsConfig
from llammas_core.scaling.config import ScalingConfig
from llammas_core.train.config import TrainConfig


@dataclass
class Pilot:
    language: str
    pairs: int
    instructions: InstructionsConfig
    train: TrainConfig
    evaluate: EvaluateConfig


def _fill(value: Any, lang: str, pairs: int) -> Any:
    if isinstance(value, str):
        return value.replace("{lang}", lang).replace("{pairs}", str(pairs))
    if isinstance(value, dict):
        return {k: _fill(v, lang, pairs) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, lang, pairs) for v in value]
    return value


def expand_pilots(cfg: ScalingConfig) -> list[Pilot]:
    """Every pilot of the section (languages x pilot_sizes), validated; an error names the pilot."""
    if cfg.pilot is None:
        return []
    if not cfg.pilot_sizes:
        raise ConfigError("scaling.pilot is set but scaling.pilot_sizes is empty")
    pilots = []
    for lang in cfg.languages:
        for pairs in cfg.pilot_sizes:
            where = f"scaling pilot {lang} at {pairs:,} pairs"
            suffix = f"-{lang}-{pairs}"
            try:
                inst = _fill(cfg.pilot.instructions, lang, pairs)
                inst["name"] = inst.get("name", cfg.name) + suffix
                comps = (inst.get("mixture") or {}).get("components") or []
                comp = next((c for c in comps if c.get("name") == cfg.pilot.translation_component), None)
                if comp is None:
                    raise ConfigError(f"its mixture has no component {cfg.pilot.translation_component!r} to cap")
                comp.pop("weight", None)
                comp["max_records"] = pairs
                train = _fill(cfg.pilot.train, lang, pairs)
                train["name"] = train.get("name", cfg.name) + suffix
                evaluate = _fill(cfg.pilot.evaluate, lang, pairs)
                evaluate["name"] = evaluate.get("name", cfg.name) + suffix
                pilots.append(Pilot(lang, pairs, InstructionsConfig.model_validate(inst),
                                    TrainConfig.model_validate(train), EvaluateConfig.model_validate(evaluate)))
            except ValidationError as e:
                first = e.errors()[0]
                raise ConfigError(f"{where}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
    return pilots
