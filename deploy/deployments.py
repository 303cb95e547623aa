"""Prefect deployments of the llammas flows, with parameter defaults taken from a config file.

    python -m deploy.deployments [--config configs/demo.yaml] [--set store.uri=s3://bucket/prefix]
                                 [--work-pool llammas-process] [--serve]

Deployments (DEPLOYMENTS below): `corpus-refresh` (the corpus flow on a weekly cron), and on demand
`corpus`, `instructions`, `train`, `evaluate`, `pipeline` and `scaling`. The defaults pre-fill the run form in the UI; the flow parameters are pydantic models,
so the form shows every nested field.

Default mode registers them on a *process* work pool (created if missing) with the code read from
this checkout (no image build, no push); run them with a worker started from any shell that has
this repository and its virtualenv:

    prefect worker start --pool llammas-process

`--serve` instead serves them from this process (no work pool, no worker): the simplest set-up
for a single box. Either way, point PREFECT_API_URL at the server first.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# deployment name -> (entrypoint relative to the repo root, on a schedule?). A flow whose file does
# not exist yet is skipped with a note, so this works while flows are being added.
DEPLOYMENTS: dict[str, tuple[str, bool]] = {
    "corpus-refresh": ("flows/corpus.py:corpus_flow", True),
    "corpus": ("flows/corpus.py:corpus_flow", False),
    "instructions": ("flows/instructions.py:instructions_flow", False),
    "train": ("flows/train.py:train_flow", False),
    "evaluate": ("flows/evaluate.py:evaluate_flow", False),
    "pipeline": ("flows/pipeline.py:pipeline_flow", False),
    "scaling": ("flows/scaling.py:scaling_flow", False),
}
DESCRIPTIONS = {
    "corpus-refresh": "Weekly corpus refresh: new crawls and dumps in, stages already done are reused.",
    "corpus": "Curate the target-language corpus (crawl, extract, LID, filters, PII, dedup).",
    "instructions": "SFT data: instruction sets, their machine translation and translation tasks from bitext.",
    "train": "Tokenize, continued pretraining, instruction tuning (@corpus, @instructions: this config's stages).",
    "evaluate": "Base vs CPT vs SFT on the task suite, with bootstrap CIs and paired deltas.",
    "pipeline": "The whole adaptation run from one config: corpora, instructions, training, evaluation.",
    "scaling": "x-LLaMA's scaling law: CoIT pilots, a fitted curve per language, the translation budget allocated.",
}


def _jsonable(value: Any) -> Any:
    """Deployment parameters are stored as JSON; pydantic sections are dumped, dicts pass through."""
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def parameters_for(name: str, cfg) -> dict[str, Any] | None:
    """Defaults for one deployment from the config, or None when the config lacks its section."""
    store = _jsonable(cfg.store)
    if name in ("corpus-refresh", "corpus"):
        return None if cfg.corpus is None else {"corpus": _jsonable(cfg.corpus), "store": store}
    # the other flows take the whole config: their @references are the stages of this same config
    return {"config": _jsonable(cfg)}


# Sections a flow cannot run without although the config model allows leaving them out: the form
# shows them as required (no "(Optional)", no None choice). deployment -> (definition, fields).
REQUIRED_SECTIONS = {name: ("LlammasConfig", (section,)) for name, section in
                     (("pipeline", "corpus"), ("instructions", "instructions"), ("train", "train"),
                      ("evaluate", "evaluate"))}  # scaling: optional in demo.yaml, whose defaults fill the form


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def _flatten_optional(prop: dict) -> dict:
    """`x: int | None = Field(None, ge=1)` is `anyOf: [{type: integer, minimum: 1}, {type: null}]`.
    The UI renders that as a type picker ("int | None", "Property is type None"), and its form
    validation reports a bad value only as "is not valid under any of the given schemas". As a
    plain `{type: integer, minimum: 1}` without a default the form shows an input and marks the
    field with the broken bound ("-1 is less than the minimum of 1"); null stays valid because
    Prefect's validation lets a non-required property without a default be null. Only for leaves
    whose default is None (an empty field means the same); Optional sections (a $ref) keep their
    None choice, since there None means "leave this stage out"."""
    options = prop.get("anyOf")
    if not (isinstance(options, list) and len(options) == 2 and "default" in prop and prop["default"] is None):
        return prop
    nulls = [o for o in options if _is_null(o)]
    values = [o for o in options if not _is_null(o)]
    if len(nulls) != 1 or "type" not in values[0] or "$ref" in values[0] or "anyOf" in values[0]:
        return prop
    flat = {**values[0], **{k: v for k, v in prop.items() if k not in ("anyOf", "default")}}
    return flat


# Prefect's UI (prefect-ui-library's SchemaPropertyResponse mapper) copies only some keywords of a
# property (type, title, default, enum, items, anyOf, allOf, ...) before it validates the form: a
# property's own minimum/maximum/pattern are dropped (87 of the 92 `minimum` bounds of the pipeline form;
# the 5 that survived sat inside an anyOf). Inside `allOf` they are passed on verbatim.
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "pattern", "minLength",
          "maxLength")


def _bounds_in_all_of(prop: dict) -> dict:
    """`{type: integer, minimum: 1}` -> `{type: integer, allOf: [{minimum: 1}]}`: the same constraint in
    JSON Schema, and one the UI keeps, so the form marks a bad value at its field before submit."""
    moved = {k: prop[k] for k in BOUNDS if k in prop}
    if not moved or "allOf" in prop or "$ref" in prop:
        return prop
    return {**{k: v for k, v in prop.items() if k not in moved}, "allOf": [moved]}


def _walk(node: Any) -> None:
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for name, prop in list(props.items()):
                props[name] = _bounds_in_all_of(_flatten_optional(prop)) if isinstance(prop, dict) else prop
        for value in node.values():
            _walk(value)
    elif isinstance(node, list):
        for value in node:
            _walk(value)


def form_schema(schema: dict, deployment: str | None = None) -> dict:
    """The flow's parameter schema as the run form and its validation should see it (see
    _flatten_optional and REQUIRED_SECTIONS); a copy, the input is left as is."""
    import copy

    schema = copy.deepcopy(schema)
    _walk(schema)
    definition, fields = REQUIRED_SECTIONS.get(deployment or "", (None, ()))
    target = (schema.get("definitions") or {}).get(definition) if definition else None
    if target:
        for name in fields:
            prop = target.get("properties", {}).get(name)
            if prop and isinstance(prop.get("anyOf"), list):
                refs = [o for o in prop["anyOf"] if not _is_null(o)]
                if len(refs) == 1:
                    target["properties"][name] = {**refs[0], **{k: v for k, v in prop.items()
                                                                 if k not in ("anyOf", "default")}}
                    target["required"] = sorted(set(target.get("required", [])) | {name})
    return schema


def _resolve(schema: dict, node: dict) -> dict:
    ref = node.get("$ref", "")
    return schema.get("definitions", {}).get(ref.rsplit("/", 1)[-1], node) if ref else node


def prune_nulls(values: Any, node: dict, schema: dict) -> Any:
    """Leave out the None values of fields that _flatten_optional made plain: leaving them out is
    what None meant (their default is None), and the server checks a new deployment's parameters
    against the schema as it is (a null is no integer) before it lets the run form allow nulls."""
    node = _resolve(schema, node)
    extra = node.get("additionalProperties")
    if isinstance(values, dict) and (isinstance(node.get("properties"), dict) or isinstance(extra, dict)):
        out = {}
        for key, value in values.items():
            prop = (node.get("properties") or {}).get(key, extra if isinstance(extra, dict) else None)
            if prop is None:
                out[key] = value
                continue
            if value is None and "anyOf" not in prop and prop.get("type") != "null":
                continue
            options = [o for o in prop.get("anyOf", []) if not _is_null(o)] or [prop]
            out[key] = prune_nulls(value, options[0], schema) if value is not None else None
        return out
    if isinstance(values, list) and isinstance(node.get("items"), dict):
        return [prune_nulls(v, node["items"], schema) for v in values]
    return values


def available(source: Path) -> dict[str, tuple[str, bool]]:
    found = {n: d for n, d in DEPLOYMENTS.items() if (source / d[0].split(":")[0]).is_file()}
    for name in [n for n in DEPLOYMENTS if n not in found]:
        print(f"note: {DEPLOYMENTS[name][0]} not found; deployment {name!r} skipped", file=sys.stderr)
    return found


def load_flow(entrypoint: str, source: Path | None):
    """By import (serve: this process runs the flows) or from the checkout (a worker runs them)."""
    if source is None:
        path, func = entrypoint.split(":")
        return getattr(importlib.import_module(path[:-3].replace("/", ".")), func)
    from prefect import Flow

    # A local path becomes LocalStorage: the deployment's pull step is set_working_directory(source),
    # so relative paths in the config (demo/..., ./.llammas/store) resolve against the checkout.
    return Flow.from_source(source=str(source), entrypoint=entrypoint)


def build(cfg, source: Path | None, work_pool: str | None, cron: str, timezone: str) -> list:
    from prefect.schedules import Cron

    from llammas_core import __version__

    deployments, flows = [], {}
    for name, (entrypoint, scheduled) in available(source or REPO).items():
        params = parameters_for(name, cfg)
        if scheduled and params is None:
            print(f"note: config has no corpus section; {name!r} skipped", file=sys.stderr)
            continue
        if entrypoint not in flows:
            flows[entrypoint] = load_flow(entrypoint, source)
        deployment = flows[entrypoint].to_deployment(
            name=name,
            description=DESCRIPTIONS[name],
            parameters=params or {},
            schedules=[Cron(cron, timezone=timezone)] if scheduled else None,
            # one GPU job at a time: a second training run on the same box would only run out of memory
            concurrency_limit=1 if name in ("train", "pipeline") else None,
            tags=["llammas", name.split("-")[0]],
            version=__version__,
            work_pool_name=work_pool,
        )
        schema = deployment._parameter_openapi_schema
        form = form_schema(schema.model_dump(exclude_unset=True), name)
        deployment._parameter_openapi_schema = type(schema)(**form)
        deployment.parameters = prune_nulls(deployment.parameters, form, form)
        deployments.append(deployment)
    return deployments


def ensure_work_pool(name: str) -> None:
    """Create a process work pool with the process worker's default job template, unless it exists."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
            if pool.type != "process":
                print(f"note: work pool {name!r} is of type {pool.type!r}, not process", file=sys.stderr)
            return
        except ObjectNotFound:
            pass
        try:
            client.create_work_pool(WorkPoolCreate(
                name=name, type="process", description="llammas flows run as local processes",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            ))
            print(f"created work pool {name!r} (type process)")
        except ObjectAlreadyExists:  # another deployer won the race
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.deployments", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/demo.yaml", help="defaults of the deployment parameters")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. store.uri=s3://llammas/store (repeatable)")
    parser.add_argument("--work-pool", default=os.environ.get("LLAMMAS_WORK_POOL", "llammas-process"))
    parser.add_argument("--source", default=str(REPO),
                        help="the checkout the worker runs the code from (default: this one)")
    parser.add_argument("--cron", default="0 3 * * 1", help="corpus-refresh schedule (default: Mondays 03:00)")
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--serve", action="store_true", help="serve the deployments from this process")
    args = parser.parse_args(argv)

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    sys.path.insert(0, str(REPO))  # flows/ and tasks/ import each other as top-level packages
    from llammas_core.config import load_config
    from llammas_core.errors import ConfigError
    from prefect.settings import PREFECT_API_URL

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not PREFECT_API_URL.value():
        # a temporary server would forget the deployments when this process exits
        print("error: set PREFECT_API_URL to the Prefect server's API, e.g. http://127.0.0.1:4200/api "
              "(see deploy/README.md)", file=sys.stderr)
        return 2

    if args.serve:
        from prefect import serve

        serve(*build(cfg, None, None, args.cron, args.timezone))
        return 0

    ensure_work_pool(args.work_pool)
    # What prefect.deploy(..., build=False, push=False) does for a process pool, minus its image
    # checks and console table: each deployment is created or updated in place by name.
    for d in build(cfg, Path(args.source).resolve(), args.work_pool, args.cron, args.timezone):
        d.apply(work_pool_name=args.work_pool)
        print(f"deployed {d.flow_name}/{d.name}")
    print(f"run them with: prefect worker start --pool {args.work_pool}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
