"""Conventions every llammas task follows: transient-only retries with backoff, cache keys over
config and input identities, store URIs as results, and artifacts with each stage's statistics."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from typing import Callable

from prefect import Task, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import exponential_backoff

from llammas_core import __version__
from llammas_core.config import StoreConfig
from llammas_core.errors import is_transient
from llammas_core.stage import canonical_json
from llammas_core.store import open_uri

RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=10)


def retry_transient_only(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry network/S3 hiccups; a bad config or bad schema fails the same way every time."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and is_transient(exc)


def identity_key(kind: str, *parts) -> str:
    """A cache key from a stage kind, config and input identities (manifest ids, source fingerprints)."""
    payload = canonical_json({"kind": kind, "parts": parts, "version": __version__})
    return f"llammas-{kind}-{hashlib.sha256(payload.encode()).hexdigest()[:24]}"


def _ref(identity: str) -> str:
    return f"refs/prefect-cache/{identity}.json"


def verified_cache_key(store: StoreConfig, identity_fn: Callable[[], str]) -> str:
    """Prefect may reuse a cached result only while the stage it points at is still committed: a
    wiped or pruned store must recompute, not hand out a URI to nothing. Until a result is known
    to be committed, the key is unique, so nothing is reused. If the identity cannot be computed
    (e.g. a source is missing), the task itself runs and reports that error."""
    unique = f"llammas-unverified-{uuid.uuid4().hex}"
    try:
        identity = identity_fn()
    except Exception:
        return unique
    s = store.open()
    if s.exists(_ref(identity)):
        manifest_uri = s.read_json(_ref(identity))["manifest_uri"]
        out_store, key = open_uri(manifest_uri, store.endpoint_url)
        if out_store.exists(key):
            return identity
    return unique


def remember_result(store: StoreConfig, identity: str, manifest_uri: str) -> None:
    store.open().write_json(_ref(identity), {"manifest_uri": manifest_uri})


def artifact_key(text: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:60]


def run_log() -> Callable[[str], None]:
    """The task's logger as a callback; bound here because core code may call it from other
    threads (e.g. the one pumping a trainer subprocess's output), where no run context exists."""
    return get_run_logger().info


class ProgressLog:
    """Log each line and move a Prefect progress artifact on `[phase] step N/M` lines."""

    STEP = re.compile(r"\[(\w+)\] step (\d+)/(\d+)")

    def __init__(self, key: str, description: str):
        self.log = run_log()
        self.artifact_id = create_progress_artifact(0.0, key=artifact_key(key), description=description)
        self.last = 0.0

    def __call__(self, line: str) -> None:
        self.log(line)
        match = self.STEP.search(line)
        if match and time.monotonic() - self.last > 2:
            self.last = time.monotonic()
            done, total = int(match.group(2)), max(1, int(match.group(3)))
            try:
                update_progress_artifact(self.artifact_id, progress=100.0 * done / total)
            except Exception as e:  # progress is cosmetic: never fail training over it
                self.log(f"progress artifact not updated: {e}")


def publish_stage_artifacts(stage: str, manifest_uri: str, manifest: dict, skipped: bool) -> None:
    """A markdown summary and a per-step table of a stage, shown on the run page in the UI."""
    steps = manifest.get("steps") or []
    lines = [
        f"### {stage}: {'reused' if skipped else 'computed'}",
        f"- output: `{manifest_uri}`",
        f"- records: {manifest.get('records', 'n/a')}",
    ]
    for title in ("removed", "quarantined"):
        counts = manifest.get(title) or {}
        if counts:
            lines.append(f"- {title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if manifest.get("metrics"):
        lines.append("- metrics: " + ", ".join(f"{k} {v}" for k, v in manifest["metrics"].items()))
    create_markdown_artifact("\n".join(lines), key=artifact_key(f"{stage}-summary"), description=f"{stage} summary")
    if steps:
        create_table_artifact(steps, key=artifact_key(f"{stage}-steps"), description=f"{stage}: documents, bytes and time per step")
