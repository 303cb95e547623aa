"""Several target languages in one run (x-LLaMA's MuIT), as parts of the pipeline flow:

    corpus(xx) ... in parallel, tagged lang:xx          language_corpora
    instructions(xx) ... in parallel, tagged lang:xx    language_instructions: MT into xx, en<->xx tasks
      -> muit (the mixture across languages, caps from @allocation or the config) = `@instructions`
    sft on it (m-LLaMA)                                 the pipeline's usual train stages
    sft per language (x-LLaMA), sft on the uniform split  language_models (when asked for)

Outputs are named `corpus_<xx>`, `instructions_<xx>`, `instructions` (the MuIT mixture),
`instructions_uniform`, `sft_<xx>`, `sft_uniform`.
"""

from __future__ import annotations

from llammas_core.config import LlammasConfig
from llammas_core.corpus.config import ExecutorConfig
from llammas_core.errors import ConfigError
from llammas_core.refs import remember, substitute
from llammas_core.threads import import_model_libraries
from tasks.common import tagged
from tasks.corpus import corpus_task
from tasks.instructions import instructions_task
from tasks.multilingual import muit_task


def language_corpora(config: LlammasConfig) -> dict[str, str]:
    """One corpus stage per language that has a corpus section, as parallel tasks."""
    store = config.store
    futures = {lang: tagged(corpus_task, "corpus", lang).submit(store, sec.corpus)
               for lang, sec in config.per_language.items() if sec.corpus is not None}
    out = {}
    for lang, future in futures.items():
        out[f"corpus_{lang}"] = future.result()
        remember(store.open(), "corpus", config.per_language[lang].corpus, out[f"corpus_{lang}"])
    return out


def _caps(config: LlammasConfig, out: dict[str, str]) -> tuple[dict[str, int] | None, dict[str, int] | None]:
    """(the translation caps of the MuIT mixture, the uniform split for the check, if asked for)."""
    from llammas_core.scaling.stage import allocation_caps

    muit = config.muit
    if muit.translation_caps != "@allocation":
        return muit.translation_caps, None
    if "allocation" not in out:
        from flows.scaling import scaling_stages

        out["allocation"] = scaling_stages(config.store, config.scaling)
    endpoint = config.store.endpoint_url
    caps = allocation_caps(out["allocation"], endpoint, muit.caps_from)
    if set(caps) != set(config.languages):
        raise ConfigError(f"@allocation shares its budget across {', '.join(sorted(caps))}; this run's languages "
                          f"are {', '.join(config.languages)}")
    return caps, (allocation_caps(out["allocation"], endpoint, "uniform") if muit.compare_uniform else None)


def language_instructions(config: LlammasConfig, out: dict[str, str]) -> dict[str, str]:
    """One instructions stage per language (parallel tasks), then the MuIT mixture(s) over them."""
    store = config.store
    sections = {lang: substitute(sec.instructions, out, f"per_language.{lang}.instructions")
                for lang, sec in config.per_language.items() if sec.instructions is not None}
    import_model_libraries()  # once, before the per-language threads (llammas_core.threads)
    futures = {lang: tagged(instructions_task, "instructions", lang).submit(store, s) for lang, s in sections.items()}
    res = {}
    for lang, future in futures.items():
        res[f"instructions_{lang}"] = future.result()
        remember(store.open(), "instructions", sections[lang], res[f"instructions_{lang}"])
    if config.muit is None or not sections:
        return res
    inputs = {lang: res[f"instructions_{lang}"] for lang in config.languages if lang in sections}
    caps, uniform = _caps(config, out)
    res["instructions"] = tagged(muit_task, "muit")(store, config.muit, inputs, caps)
    if uniform is not None:
        arm = config.muit.model_copy(update={"name": f"{config.muit.name}-uniform"})
        res["instructions_uniform"] = tagged(muit_task, "muit")(store, arm, inputs, uniform)
    return res


def language_models(config: LlammasConfig, out: dict[str, str], executor: ExecutorConfig | None) -> dict[str, str]:
    """The x-LLaMAs (one SFT per language on its own instructions) and the uniform-split m-LLaMA, when asked for."""
    from flows.train import train_stages

    muit, res = config.muit, {}
    if muit is None or config.train is None:
        return res
    arms = []
    if muit.per_language_models:
        arms += [(f"sft_{lang}", f"instructions_{lang}", lang, f"{config.train.name}-{lang}") for lang in config.languages]
    if "instructions_uniform" in out:
        arms.append(("sft_uniform", "instructions_uniform", config.train.language, f"{config.train.name}-uniform"))
    for key, data, lang, name in arms:
        train = substitute(config.train, {**out, "instructions": out[data]}, f"train ({key})")
        train = train.model_copy(update={"name": name, "language": lang})
        stages = train_stages(config.store, train, executor)
        if "sft" not in stages:
            raise ConfigError(f"{key}: the train section has no SFT to compare")
        res[key] = stages["sft"]
    return res
