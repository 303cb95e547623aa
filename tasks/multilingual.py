"""Prefect task of the MuIT mixture: a thin wrapper over llammas_core.multilingual.mixture.

Artifacts: the stage summary and a table per language (records in, translation tasks available, cap
and kept, records kept, removed by reason).
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from llammas_core.config import StoreConfig
from llammas_core.multilingual.config import MuitConfig
from llammas_core.multilingual.mixture import MODEL_SWITCHES
from llammas_core.stage import read_manifest
from tasks.common import (
    RETRIES,
    RETRY_DELAYS,
    artifact_key,
    cache_key_over,
    identity_key,
    one_line_errors,
    publish_stage_artifacts,
    remember_result,
    retry_transient_only,
    run_log,
    stage_result,
)


def _muit_identity(store: StoreConfig, muit: MuitConfig, inputs: dict[str, str], caps: dict[str, int] | None) -> str:
    ids = {lang: read_manifest(uri, store.endpoint_url)["id"] for lang, uri in inputs.items()}
    return identity_key("muit", store.uri, muit.model_dump(mode="json", exclude=MODEL_SWITCHES | {"translation_caps"}),
                        ids, caps)


_muit_key = cache_key_over(_muit_identity, "muit", "inputs", "caps")


def language_rows(manifest: dict) -> list[dict]:
    rows = []
    for lang, a in (manifest.get("by_language") or {}).items():
        t = a["translation"]
        rows.append({"language": lang, "in": a["in"], "translation available": t["available"],
                     "translation cap": "" if t["cap"] is None else t["cap"], "translation kept": t["kept"],
                     "kept": a["kept"], "removed": ", ".join(f"{k} {v}" for k, v in sorted(a["removed"].items()))})
    return rows


@task(name="muit", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient_only,
      cache_key_fn=_muit_key, persist_result=True, task_run_name="muit-{muit.name}")
@one_line_errors
def muit_task(store: StoreConfig, muit: MuitConfig, inputs: dict[str, str], caps: dict[str, int] | None) -> str:
    """Combine the per-language instructions stages into the MuIT mixture; returns its manifest URI."""
    from llammas_core.multilingual.mixture import run_muit

    result = run_muit(store.open(), muit, inputs, caps, store.work_path, run_log(), store.endpoint_url)
    publish_stage_artifacts(f"muit-{muit.name}", result.manifest_uri, result.manifest, result.skipped)
    create_table_artifact(language_rows(result.manifest), key=artifact_key(f"{muit.name}-languages"),
                          description=f"{muit.name}: records per language (in = kept + removed)")
    remember_result(store, _muit_identity(store, muit, inputs, caps), result.manifest_uri)
    return stage_result(result, f"muit-{muit.name}")
