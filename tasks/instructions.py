"""Prefect task of the instructions flow: a thin wrapper over llammas_core.instructions.stage.

Artifacts: the stage summary (publish_stage_artifacts), a table of records per component, a table
of removed/quarantined records per reason, the QE histogram PNG (inline) and a progress bar over
the distinct segments the MT has translated.
"""

from __future__ import annotations

import base64

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from llammas_core.config import StoreConfig
from llammas_core.instructions.config import InstructionsConfig
from llammas_core.instructions.stage import instructions_inputs, run_instructions
from tasks.common import (
    RETRIES,
    RETRY_DELAYS,
    ProgressLog,
    artifact_key,
    identity_key,
    one_line_errors,
    publish_stage_artifacts,
    remember_result,
    retry_transient_only,
    cache_key_over,
)

MAX_INLINE_PNG = 2_000_000


def _instructions_identity(store: StoreConfig, cfg: InstructionsConfig) -> str:
    # the config plus content fingerprints of every source, bitext and evaluation file
    manifests, prints = instructions_inputs(cfg)
    return identity_key("instructions", store.uri, cfg.model_dump(mode="json"), sorted(m["id"] for m in manifests), prints)


_instructions_key = cache_key_over(_instructions_identity, "instructions")


def publish_mixture_artifacts(store: StoreConfig, name: str, manifest: dict) -> None:
    comps = (manifest.get("components") or {})
    pools = manifest.get("pools") or {}
    rows = []
    for comp, n in comps.items():
        rows.append({"component": comp, "records": n})
    if rows:
        create_table_artifact(rows, key=artifact_key(f"{name}-components"), description=f"{name}: records per component")
    reasons = [{"kind": kind, "reason": reason, "records": n}
               for kind in ("removed", "quarantined") for reason, n in sorted((manifest.get(kind) or {}).items())]
    if reasons:
        create_table_artifact(reasons, key=artifact_key(f"{name}-reasons"),
                              description=f"{name}: removed and quarantined records per reason")
    if pools:
        create_table_artifact([{"pool": p, "in": v["in"], "kept": v["kept"], "removed": sum(v["removed"].values()),
                                "quarantined": sum(v["quarantined"].values())} for p, v in pools.items()],
                              key=artifact_key(f"{name}-pools"), description=f"{name}: in = kept + removed + quarantined")
    png = next((f for f in manifest.get("files", []) if f["path"] == "qe_hist.png"), None)
    if png is not None and png["bytes"] <= MAX_INLINE_PNG:
        with store.open().open_read(f"{manifest['id']}/{png['path']}") as f:
            data = base64.b64encode(f.read()).decode()
        create_markdown_artifact(f"![QE histograms](data:image/png;base64,{data})", key=artifact_key(f"{name}-qe"),
                                 description=f"{name}: QE scores of machine-translated records")


@task(name="instructions", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_instructions_key, persist_result=True, task_run_name="instructions-{instructions.name}")
@one_line_errors
def instructions_task(store: StoreConfig, instructions: InstructionsConfig) -> str:
    """Build (or reuse) the instruction mixture; returns its manifest URI. A retry resumes the MT from
    the segment cache in the store."""
    log = ProgressLog(f"{instructions.name}-translation", f"{instructions.name}: distinct segments translated")
    result = run_instructions(store.open(), instructions, store.work_path, log, endpoint_url=store.endpoint_url)
    publish_stage_artifacts(f"instructions-{instructions.name}", result.manifest_uri, result.manifest, result.skipped)
    publish_mixture_artifacts(store, instructions.name, result.manifest)
    remember_result(store, _instructions_identity(store, instructions), result.manifest_uri)
    return result.manifest_uri
