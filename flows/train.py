"""Training flow: tokenize the CPT corpora, continued pretraining, then instruction tuning (full or LoRA)."""

from __future__ import annotations

from prefect import flow

from llammas_core.config import LlammasConfig, StoreConfig
from llammas_core.corpus.config import ExecutorConfig
from llammas_core.preflight import preflight
from llammas_core.refs import NAMES, closure, recall, refs_in, remember, resolve_section, resolve_standalone
from llammas_core.train.config import TrainConfig
from tasks.common import one_line_errors, run_namer, tagged
from tasks.train import cpt_task, sft_task, tiny_base_task, tokenize_task

CORPORA = ("corpus", "english_corpus")


def ensure_tiny_base(config: LlammasConfig, section: str) -> None:
    """The demo's tiny base is built by the first flow that needs it: when `section` refers to
    `@tiny_base` (directly or through `@base`, `@cpt`...) and this store has none for this config yet,
    build it from the committed corpora (`llammas run corpus` first), as the pipeline does."""
    if config.tiny_base is None or "tiny_base" not in closure(config, refs_in(getattr(config, section))):
        return
    store = config.store
    if recall(store.open(), "tiny_base", config.tiny_base, store.endpoint_url) is not None:
        return
    names = {n for n in CORPORA if getattr(config, n) is not None}
    found = resolve_standalone(store.open(), config, names, store.endpoint_url)
    uri = tagged(tiny_base_task, "tiny-base")(store, [found[n] for n in CORPORA if n in found], config.tiny_base)
    remember(store.open(), "tiny_base", config.tiny_base, uri)


def train_stages(store: StoreConfig, train: TrainConfig, executor: ExecutorConfig | None) -> dict[str, str]:
    """tokenize -> cpt -> sft (the enabled ones) for a resolved train section; their manifest URIs by
    reference name (`tokenized`, `cpt`, `sft`). `executor` runs the tokenizing (datatrove)."""
    out: dict[str, str] = {}
    if train.cpt.enabled:
        out["tokenized"] = tagged(tokenize_task, "tokenize", train.language)(store, train, executor)
        out["cpt"] = tagged(cpt_task, "cpt", train.language)(store, train, out["tokenized"])
    if train.sft.enabled:
        out["sft"] = tagged(sft_task, "sft", train.language)(store, train, out.get("cpt"))
    for name, uri in out.items():  # also when a task was Cached: `@cpt`... for a later flow run alone
        remember(store.open(), NAMES[name].kind, train, uri)
    return out


@flow(name="train", log_prints=True, flow_run_name=run_namer("train", "config.train.language"))
@one_line_errors
def train_flow(config: LlammasConfig) -> str:
    """The `train` section of the config: tokenize -> cpt -> sft. `@corpus`, `@instructions`... are the
    stages this same config committed in earlier runs (`llammas run corpus`, `llammas run instructions`).
    Returns the URI of the last stage's manifest (a HF checkpoint)."""
    preflight(config, ["train"], config.store.endpoint_url)
    ensure_tiny_base(config, "train")
    train = resolve_section(config, "train")
    executor = config.corpus.executor if config.corpus is not None else None  # tokenizing runs where the corpus ran
    out = train_stages(config.store, train, executor)
    return out.get("sft") or out["cpt"]
