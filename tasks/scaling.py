"""Prefect task of the scaling flow: a thin wrapper over llammas_core.scaling.stage (fit + allocation).

Artifacts: a table per language (chosen form, parameters, fit errors, allocated vs uniform pairs and predicted
scores), a markdown summary with the predicted mean against uniform, and the curves plot as an inline PNG.
"""

from __future__ import annotations

import base64

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from llammas_core.config import StoreConfig
from llammas_core.scaling.config import ScalingConfig
from llammas_core.stage import read_manifest
from tasks.common import (
    RETRIES,
    RETRY_DELAYS,
    artifact_key,
    cache_key_over,
    identity_key,
    one_line_errors,
    remember_result,
    retry_transient_only,
    run_log,
    stage_result,
)

MAX_INLINE_PNG = 2_000_000


def _allocation_identity(store: StoreConfig, cfg: ScalingConfig) -> str:
    ids = sorted(read_manifest(r.manifest, store.endpoint_url)["id"] for r in cfg.pilot_results)
    return identity_key("allocation", store.uri, cfg.model_dump(mode="json", exclude={"pilot"}), ids)


_allocation_key = cache_key_over(_allocation_identity, "scaling")


def allocation_rows(manifest: dict) -> list[dict]:
    rows = []
    for lang in manifest["languages"]:
        fit, pred = manifest["fits"][lang], manifest["predicted"][lang]
        held = fit["candidates"][fit["chosen"]].get("heldout_rmse")
        rows.append({"language": lang, "form": fit["chosen"], "curve": fit["formula"],
                     "rmse": f"{fit['candidates'][fit['chosen']]['rmse']:.3g}",
                     "held-out rmse": "" if held is None else f"{held:.3g}",
                     "pairs": f"{manifest['allocation'][lang]:,}", "uniform pairs": f"{manifest['uniform'][lang]:,}",
                     f"predicted {manifest['metric']}": f"{pred['allocation']:.2f}",
                     "uniform predicted": f"{pred['uniform']:.2f}"})
    return rows


def publish_allocation_artifacts(store: StoreConfig, name: str, manifest: dict) -> None:
    create_table_artifact(allocation_rows(manifest), key=artifact_key(f"{name}-allocation"),
                          description=f"{name}: fitted curves and allocation of {manifest['budget']:,} pairs")
    md = [f"### {name}: allocation of {manifest['budget']:,} translation pairs ({manifest['objective']})",
          f"- predicted mean {manifest['metric']}: **{manifest['predicted_mean']:.2f}** vs uniform "
          f"{manifest['predicted_mean_uniform']:.2f}",
          f"- predicted min: {manifest['predicted_min']:.2f} vs uniform {manifest['predicted_min_uniform']:.2f}",
          f"- method: {manifest['method']}"]
    png = next((f for f in manifest.get("files", []) if f["path"] == manifest.get("plot")), None)
    if png is not None and png["bytes"] <= MAX_INLINE_PNG:
        with store.open().open_read(f"{manifest['id']}/{png['path']}") as f:
            md.append(f"\n![scaling curves](data:image/png;base64,{base64.b64encode(f.read()).decode()})")
    create_markdown_artifact("\n".join(md), key=artifact_key(f"{name}-curves"),
                             description=f"{name}: points, fitted curves, allocation (★) and uniform (×)")


@task(name="allocation", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_allocation_key, persist_result=True, task_run_name="allocation-{scaling.name}")
@one_line_errors
def allocation_task(store: StoreConfig, scaling: ScalingConfig) -> str:
    """Fit a curve per language and allocate the budget; returns the allocation stage's manifest URI."""
    from llammas_core.scaling.stage import run_allocation

    result = run_allocation(store.open(), scaling, store.work_path, run_log(), store.endpoint_url)
    publish_allocation_artifacts(store, scaling.name, result.manifest)
    remember_result(store, _allocation_identity(store, scaling), result.manifest_uri)
    return stage_result(result, f"allocation-{scaling.name}")
