"""Scheduled runs carry the naming scheme's name in Upcoming (`corpus-et-2026-12-07-0300`), not a random slug.

Prefect's scheduler names the runs it creates with a random slug and has no name template (Prefect 3.9:
`server/models/deployments._generate_scheduled_flow_runs` sets no name; PrefectHQ/prefect#20267 asks for
one), and a flow's `flow_run_name` only applies when the run starts. So this renames them through the API:
every scheduled run of a llammas deployment whose name is not the scheme's gets the name its flow's namer
gives it (stage, language from its parameters, UTC minute it is scheduled for). When the run starts, the
namer keeps that name (tasks.common.keep_or_make_name), so links to it never break.

    python -m deploy.run_names              # once
    python -m deploy.run_names --every 60   # beside the worker: new scheduled runs within a minute

Point PREFECT_API_URL at the server first.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from deploy.deployments import DEPLOYMENTS, REPO


def namers() -> dict[str, object]:
    """Flow name -> its `flow_run_name` namer (tasks.common.run_namer), for each deployed flow."""
    out = {}
    for entry, _ in DEPLOYMENTS.values():
        file, func = entry.split(":")
        if (REPO / file).is_file():
            flow = getattr(importlib.import_module(file.removesuffix(".py").replace("/", ".")), func)
            if hasattr(flow.flow_run_name, "for_run"):
                out[flow.name] = flow.flow_run_name
    return out


def name_scheduled_runs(client) -> list[tuple[str, str]]:
    """Rename the scheduled runs of llammas deployments to the scheme; returns (old, new) per renamed run."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    by_flow, flow_names, renamed = namers(), {}, []
    runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        deployment_id=FlowRunFilterDeploymentId(is_null_=False)))
    for run in runs:
        if run.flow_id not in flow_names:
            flow_names[run.flow_id] = client.read_flow(run.flow_id).name
        namer = by_flow.get(flow_names[run.flow_id])
        if namer is None:
            continue
        new = namer.for_run(run)
        if new != run.name:
            client.update_flow_run(run.id, name=new)
            renamed.append((run.name, new))
    return renamed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.run_names", description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=None, metavar="SECONDS", help="repeat every SECONDS (default: once)")
    args = parser.parse_args(argv)
    from prefect import get_client

    while True:
        with get_client(sync_client=True) as client:
            for old, new in name_scheduled_runs(client):
                print(f"scheduled run {old} -> {new}", flush=True)
        if args.every is None:
            return 0
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
