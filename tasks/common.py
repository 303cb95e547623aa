"""Conventions every llammas task follows: transient-only retries with backoff, cache keys over
config and input identities, store URIs as results, and artifacts with each stage's statistics."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import logging
import re
import time
import typing
import uuid
from typing import Any, Callable

from prefect import Task, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.client.schemas.objects import State, TaskRun
from prefect.states import Failed
from prefect.tasks import exponential_backoff

from llammas_core import __version__
from llammas_core.config import StoreConfig
from llammas_core.corpus.report import human_bytes, human_seconds, readable_step_name, step_rows
from llammas_core.errors import ConfigError, InputError, is_transient
from llammas_core.code_identity import code_identity
from llammas_core.secrets import scrub_exception
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
    code = code_identity(kind)  # the code that shapes the stage (llammas_core.code_identity)
    payload = canonical_json({"kind": kind, "parts": parts, "version": __version__, "code": code and code.digest})
    return f"llammas-{kind}-{hashlib.sha256(payload.encode()).hexdigest()[:24]}"


def _ref(identity: str) -> str:
    return f"refs/prefect-cache/{identity}.json"


def _result_key(identity: str, manifest_uri: str) -> str:
    """The cache key names the committed stage too: the same inputs may commit another stage after the
    store was wiped (e.g. other earlier increments), and Prefect's stored result must never be a stale URI."""
    return f"{identity}-{hashlib.sha256(manifest_uri.encode()).hexdigest()[:12]}"


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
            return _result_key(identity, manifest_uri)
    return unique


def cache_key_over(identity: Callable[..., str], *names: str) -> Callable[[Any, dict], str]:
    """A task's `cache_key_fn`: the verified key of `identity(store, *those parameters)`."""
    def key(context, parameters: dict) -> str:
        store = parameters["store"]
        return verified_cache_key(store, lambda: identity(store, *(parameters.get(n) for n in names)))

    return key


def remember_result(store: StoreConfig, identity: str, manifest_uri: str) -> None:
    """After a task committed (or found) its stage: the store's ref makes verified_cache_key return
    `identity` from now on, and the task's result is written under that key too, so the very next
    run finds it and Prefect shows the task as Cached (before, the first run's result sat under its
    unique key: the second run ran the task again, showing Completed, and only the third was Cached)."""
    store.open().write_json(_ref(identity), {"manifest_uri": manifest_uri})
    from prefect.context import TaskRunContext
    from prefect.results import get_result_store

    if TaskRunContext.get() is None:
        return
    key = _result_key(identity, manifest_uri)
    try:
        results = get_result_store()
        if not results.exists(key):
            results.write(obj=manifest_uri, key=key)
    except Exception as e:  # the cache is a shortcut: the committed manifest is found anyway
        get_run_logger().warning(f"task result not cached under {key}: {e}")


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


# ---------------------------------------------------------------- how runs read in the UI

def _param(parameters: dict, dotted: str) -> Any:
    """`corpus.language` from flow parameters that are pydantic models or (from a deployment) dicts."""
    value: Any = parameters
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if value is None:
            return None
    return value


def stage_tags(stage: str, language: str | None = None) -> list[str]:
    """Tags a run or task of a stage carries, e.g. ["stage:corpus", "lang:et"] (filterable in the UI)."""
    return [f"stage:{stage}"] + ([f"lang:{language}"] if language else [])


def tagged(task: Task, stage: str, language: str | None = None) -> Task:
    """The task with its stage and language tags, for one call in a flow:

        tagged(corpus_task, "corpus", corpus.language)(store, corpus)
    """
    return task.with_options(tags=set(task.tags) | set(stage_tags(stage, language)))


def run_namer(stage: str, language: str | tuple[str, ...] | None = None) -> Callable[[], str]:
    """`flow_run_name=` for a flow: `corpus-et-2026-12-02-0930` (stage, language from the dotted
    parameter path `language` (or the first of several that is set), UTC minute the run was scheduled
    for) instead of Prefect's random `iota10-tandar`. A run that already carries such a name keeps it:
    Retry in the UI re-runs the namer, and a renamed run would break every link to it. The flow run
    also gets the tags of `stage_tags`, so runs started from a deployment, a schedule or the CLI are
    filtered by language and stage alike.

        @flow(name="corpus", flow_run_name=run_namer("corpus", "corpus.language"))
    """
    paths = (language,) if isinstance(language, str) else tuple(language or ())

    def lang_of(params: dict) -> str | None:
        return next((v for v in (_param(params or {}, p) for p in paths) if v), None)

    def name() -> str:
        from prefect.context import FlowRunContext

        ctx = FlowRunContext.get()
        params = (ctx.parameters if ctx else None) or {}
        lang = lang_of(params)
        run = ctx.flow_run if ctx is not None else None
        if run is not None:
            try:  # cosmetic: never fail a run over its tags
                wanted = set(run.tags or []) | set(stage_tags(stage, lang))
                ctx.client.update_flow_run(run.id, tags=sorted(wanted))
            except Exception as e:
                get_run_logger().warning(f"flow run not tagged: {e}")
        return keep_or_make_name(stage, lang, run)

    # the name a run of this flow gets, from its parameters and scheduled time, before it starts
    # (deploy/run_names.py gives it to the scheduler's runs, which Prefect names with a random slug)
    name.for_run = lambda run: keep_or_make_name(stage, lang_of(run.parameters), run)
    return name


RUN_NAME = re.compile(r"^[a-z0-9_-]+-\d{4}-\d{2}-\d{2}-\d{4}$")


def keep_or_make_name(stage: str, lang: str | None, run: Any | None) -> str:
    """The run's name by the scheme `<stage>[-<lang>]-<UTC YYYY-MM-DD-HHMM>`: kept when the run has one
    already (a retry), else stamped with the time the run was scheduled for (now when unknown)."""
    prefix = "-".join(p for p in (stage, str(lang) if lang else None) if p)
    current = getattr(run, "name", None) or ""
    if current.startswith(prefix + "-") and RUN_NAME.match(current):
        return current
    when = getattr(run, "expected_start_time", None) or dt.datetime.now(dt.timezone.utc)
    stamp = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d-%H%M")
    return f"{prefix}-{stamp}"


def stage_result(result, what: str) -> str:
    """What a stage task returns: its manifest URI, a plain value (a task that returned a State
    would hand that State, not the URI, to the flow calling it). "Cached" in the UI comes from
    remember_result, which must be called first."""
    return result.manifest_uri


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def _hide_user_error_tracebacks() -> None:
    """Prefect logs a failed task or flow with its traceback (the run's Logs tab in the UI). For a
    ConfigError or InputError that is noise around a message meant for the user: such records keep
    their one-line message and lose the traceback; any other exception keeps it."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "llammas_hides_user_errors", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (ConfigError, InputError)) and record.name.startswith("prefect"):
            record.exc_info, record.exc_text = None, None
        return record

    factory.llammas_hides_user_errors = True
    logging.setLogRecordFactory(factory)


_hide_user_error_tracebacks()


def one_line_errors(fn: Callable) -> Callable:
    """For a flow function (under `@flow`): a ConfigError or InputError ends the run Failed with a
    one-line state message (`InputError: no files match ...`) and one log line, not a Prefect
    traceback; the exception is the state's data, so a caller (the CLI) still gets it raised.
    Under `@task` the error is raised on (the calling flow must see it), logged without traceback.
    Anything else (a bug, a transient error that is retried) keeps Prefect's full report."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ConfigError, InputError) as e:
            from prefect.context import TaskRunContext

            scrub_exception(e)  # e.g. an endpoint's error body that echoed the API key
            if TaskRunContext.get() is not None:
                raise
            message = one_line(e)
            try:
                get_run_logger().error(message)
            except Exception:
                pass
            return Failed(message=message, data=e)
        except BaseException as e:  # Prefect stores its message in run states, events and results
            raise scrub_exception(e)

    try:  # string annotations (`from __future__ import annotations`) resolve in fn's module, not here
        wrapper.__signature__ = inspect.signature(fn, eval_str=True)
        wrapper.__annotations__ = typing.get_type_hints(fn)
    except Exception:
        pass
    return wrapper


# ---------------------------------------------------------------- artifacts

def human_value(key: str, value: Any) -> Any:
    """A value as a person reads it: bytes in kB/MB/GB, seconds rounded, floats to 4 significant
    digits, thousands separated; None stays None (callers omit it)."""
    if value is None or isinstance(value, bool):
        return value
    k = key.lower()
    if isinstance(value, (int, float)):
        if "bytes" in k or k.endswith("_size") and isinstance(value, int):
            return human_bytes(value)
        if k in ("seconds", "time", "elapsed") or k.endswith(("_seconds", "_s")) and not k.endswith("per_s"):
            return human_seconds(value)
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
        return f"{value:,}"
    return value


def readable_rows(rows: list[dict]) -> list[dict]:
    """A step table for the UI: a readable `step` name first (a row's own `name` wins over the raw
    `step`), human units, no empty cells. Corpus steps (datatrove stats) as the corpus report
    shows them."""
    if rows and all("docs_in" in r for r in rows):
        return step_rows(rows)
    out = []
    for row in rows:
        row = dict(row)
        name = row.pop("name", None) or row.pop("step", None)
        row.pop("step", None)
        clean = {"step": readable_step_name(str(name))} if name is not None else {}
        for k, v in row.items():
            if v is not None:
                clean[k] = human_value(k, v)
        out.append(clean)
    return out


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {human_value(k, v)}" for k, v in sorted(counts.items()) if v is not None)


def summary_markdown(stage: str, manifest_uri: str, manifest: dict, skipped: bool) -> str:
    """The stage summary shown on the run page: missing values are left out, numbers rounded."""
    lines = [f"### {stage}: {'reused' if skipped else 'computed'}", f"- output: `{manifest_uri}`"]
    if manifest.get("records") is not None:
        lines.append(f"- records: {human_value('records', manifest['records'])}")
    for title in ("removed", "quarantined"):
        counts = manifest.get(title) or {}
        if counts and _counts(counts):
            lines.append(f"- {title}: " + _counts(counts))
    metrics = {k: v for k, v in (manifest.get("metrics") or {}).items()
               if v is not None and not isinstance(v, (dict, list))}
    if metrics:
        lines.append("- metrics: " + ", ".join(f"{k} {human_value(k, v)}" for k, v in metrics.items()))
    return "\n".join(lines)


def publish_stage_artifacts(stage: str, manifest_uri: str, manifest: dict, skipped: bool) -> None:
    """A markdown summary and a per-step table of a stage, shown on the run page in the UI."""
    create_markdown_artifact(summary_markdown(stage, manifest_uri, manifest, skipped),
                             key=artifact_key(f"{stage}-summary"), description=f"{stage} summary")
    steps = manifest.get("steps") or []
    if steps:
        create_table_artifact(readable_rows(steps), key=artifact_key(f"{stage}-steps"),
                              description=f"{stage}: documents, text and time per step")
