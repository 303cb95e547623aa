"""Scaling flow: CoIT pilots per language x translation-data size (when `scaling.pilot` is set) -> FLORES
score of each -> a curve per language -> the allocation of the translation-pair budget (`@allocation`).

Pilots reuse the instructions, train and evaluate tasks unchanged; each pilot is its own set of
content-addressed stages, so a rerun only runs what is missing. Points given in the config (`points`,
`pilot_results`) are used as they are: a user with GPU results fits without rerunning anything.
"""

from __future__ import annotations

from prefect import flow

from llammas_core.config import LlammasConfig, StoreConfig
from llammas_core.preflight import PIPELINE_SECTIONS, preflight
from llammas_core.refs import remember, substitute
from llammas_core.scaling.config import PilotResult, ScalingConfig
from llammas_core.scaling.pilots import Pilot, expand_pilots
from tasks.common import one_line_errors, run_namer, tagged
from tasks.scaling import allocation_task


def run_pilot(store: StoreConfig, pilot: Pilot) -> str:
    """instructions -> sft -> evaluate for one pilot; the URI of its evaluation report."""
    from flows.train import train_stages
    from tasks.evaluate import evaluate_task
    from tasks.instructions import instructions_task

    out = {"instructions": tagged(instructions_task, "instructions", pilot.language)(store, pilot.instructions)}
    train = substitute(pilot.train, out, "scaling.pilot.train")
    out["base"] = train.model.base
    out |= train_stages(store, train, None)
    evaluate = substitute(pilot.evaluate, out, "scaling.pilot.evaluate")
    return tagged(evaluate_task, "evaluate", pilot.language)(store, evaluate)


def scaling_stages(store: StoreConfig, scaling: ScalingConfig) -> str:
    """Pilots (if any), then the allocation stage; its manifest URI, remembered as `@allocation`."""
    pilots = expand_pilots(scaling)
    for p in pilots:  # every pilot's paths and settings, before the first one trains
        preflight(LlammasConfig(store=store, instructions=p.instructions, train=p.train, evaluate=p.evaluate),
                  PIPELINE_SECTIONS, store.endpoint_url, whole_run=True)
    results = [PilotResult(language=p.language, pairs=p.pairs, manifest=run_pilot(store, p)) for p in pilots]
    resolved = scaling.model_copy(update={"pilot_results": scaling.pilot_results + results})
    uri = tagged(allocation_task, "allocation")(store, resolved)
    remember(store.open(), "allocation", scaling, uri)
    return uri


@flow(name="scaling", log_prints=True, flow_run_name=run_namer("scaling"))
@one_line_errors
def scaling_flow(config: LlammasConfig) -> str:
    """The `scaling` section: pilots, a fitted curve per language and the allocation of the budget of
    translation pairs. Returns the allocation stage's manifest URI (allocation.json, curves.png)."""
    return scaling_stages(config.store, config.scaling)
