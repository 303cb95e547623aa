"""The whole job as one plan: corpora -> (tiny base) -> training.

The train section names upstream outputs by reference, resolved once they exist:
`@corpus` and `@english_corpus` (corpus manifest URIs) in cpt.sources, `@tiny_base` in model.base.
"""

from __future__ import annotations

from llammas_core.errors import ConfigError
from llammas_core.train.config import TrainConfig

REFS = ("@corpus", "@english_corpus", "@tiny_base")


def resolve_refs(train: TrainConfig, outputs: dict[str, str]) -> TrainConfig:
    """Replace `@name` references with the URIs of the stages that produced them."""
    def sub(value: str) -> str:
        if not value.startswith("@"):
            return value
        if value not in outputs:
            raise ConfigError(f"train refers to {value}, but the pipeline produced only {sorted(outputs) or 'nothing'}")
        return outputs[value]

    data = train.model_dump()
    data["model"]["base"] = sub(data["model"]["base"])
    data["cpt"]["sources"] = [sub(s) for s in data["cpt"]["sources"]]
    data["sft"]["sources"] = [sub(s) for s in data["sft"]["sources"]]
    return TrainConfig.model_validate(data)
