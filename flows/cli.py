"""The `llammas` command line: `llammas run <flow> --config FILE [--set key=value ...]`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback

FLOWS = ("corpus", "instructions", "train", "evaluate", "pipeline", "scaling")


def rehearse_command(config: str, root: str | None, endpoint_url: str | None, overrides: list[str]) -> int:
    """`llammas rehearse`: the config's whole pipeline (or scaling flow) at toy size on S3
    (llammas_core.rehearsal); without
    --endpoint-url on moto's S3 server on loopback (pip install 'moto[server]')."""
    import json
    import tempfile
    from pathlib import Path

    from llammas_core.rehearsal import rehearse

    server = None
    if endpoint_url is None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            print("error: llammas rehearse needs moto's S3 server (pip install 'moto[server]') or --endpoint-url",
                  file=sys.stderr)
            return 1
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per S3 request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{port}"
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto takes any; never send real ones there
            os.environ[k] = "rehearsal"
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL_S3"] = endpoint_url  # readers that open s3:// URIs directly
    root = root or tempfile.mkdtemp(prefix="llammas-rehearsal-")
    # caches of its own: an earlier rehearsal's inputs at the same S3 URIs must not be read back from them
    os.environ["LLAMMAS_CACHE_DIR"] = str(Path(root) / "cache")
    os.environ["LLAMMAS_EVAL_CACHE"] = str(Path(root) / "cache" / "eval")
    # the MT model at an s3:// URI too: its local copy is keyed on the URI alone (an earlier rehearsal's
    # tiny model, e.g. one built before the EOS calibration, would be translated with instead)
    os.environ["LLAMMAS_MODEL_CACHE"] = str(Path(root) / "cache" / "models")
    flow = rehearsal_flow(config)
    try:
        with contextlib.ExitStack() as api:
            summary = rehearse(config, root, endpoint_url, lambda path: run_flow(flow, path, overrides, api))
    finally:
        if server is not None:
            server.stop()
    summary["flow"] = flow
    print(f"[rehearse] {config}: {summary['seconds']:.0f} s ({summary['prepare_seconds']:.0f} s inputs and models, "
          f"{summary['run_seconds']:.0f} s {flow})")
    (Path(root) / "rehearsal.json").write_text(json.dumps(summary, indent=2))
    print(f"output: {summary['output']}")
    return 0


def rehearsal_flow(config: str) -> str:
    """The flow a config's rehearsal runs: `pipeline` when it has a corpus, instructions or train section,
    else `scaling` (a scaling-only config: its pilots, fit and allocation)."""
    import yaml
    from pathlib import Path

    raw = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    if not any(raw.get(s) for s in ("corpus", "instructions", "train")) and raw.get("scaling"):
        return "scaling"
    return "pipeline"


def _quiet_prefect() -> None:
    # Offline by design: no telemetry, no update checks; an ephemeral local server unless the
    # user points PREFECT_API_URL at a real one.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "true")
    # Prefect's 20 s is short for a first start (database migrations) on a busy machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


@contextlib.contextmanager
def _prefect_api():
    """The Prefect API the flows report to: PREFECT_API_URL when set, else a temporary server of
    our own. Prefect starts that server lazily inside the first flow call, so two `llammas run`
    started at once on one PREFECT_HOME both migrate its SQLite database and start two servers on
    two busy cores at the same moment; one or both then time out ("Timed out while attempting to
    connect to ephemeral Prefect API server"). Here the start is serialised by a lock file in
    PREFECT_HOME: the second waits (outside Prefect's start-up timeout) until the first is up and
    the database is migrated, then starts its own server on the same database."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    import fcntl

    from prefect.server.api.server import SubprocessASGIServer

    home = get_current_settings().home
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".llammas-ephemeral.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = SubprocessASGIServer()
        server.start()
    from flows.stopping import at_exit

    at_exit(server.stop)  # a run stopped by a signal ends without unwinding: no server left behind
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            try:
                yield
            finally:  # send the run's last logs and events while the server still listens
                from prefect.events.worker import EventsWorker
                from prefect.logging.handlers import APILogWorker

                APILogWorker.drain_all(timeout=30)
                EventsWorker.drain_all(timeout=30)
    finally:
        server.stop()


def _hide_prefect_tracebacks() -> None:
    """Prefect logs a failed run with its traceback; the CLI shows that only with --traceback.
    A record factory catches every Prefect logger, including handlers set up after this call."""
    make_record = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if record.name.startswith("prefect"):
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return record

    logging.setLogRecordFactory(factory)


def run_flow(name: str, config_path: str, overrides: list[str], api: contextlib.ExitStack | None = None) -> str:
    """Run one flow on a config file; the URI of its final manifest. Every flow but `corpus` takes the
    whole config: its references (`@corpus`...) are the stages this same config committed before."""
    from llammas_core.config import load_config
    from llammas_core.errors import ConfigError

    cfg = load_config(config_path, overrides)
    sections = ("corpus", "instructions", "train") if name == "pipeline" else (name,)
    if all(getattr(cfg, s) is None for s in sections):
        raise ConfigError(f"{config_path}: no `{'`, `'.join(sections)}` section")
    if api is not None:  # a config error comes in seconds, without a server start
        from llammas_core.preflight import PIPELINE_SECTIONS, preflight

        sections = {"pipeline": PIPELINE_SECTIONS, "corpus": ("corpus", "english_corpus")}.get(name, (name,))
        preflight(cfg, sections, cfg.store.endpoint_url, whole_run=name == "pipeline")
        api.enter_context(_prefect_api())
    if name == "corpus":
        from flows.corpus import corpus_flow

        # the pivot-language corpus too: `llammas run train` then finds both @corpus and @english_corpus
        if cfg.english_corpus is not None:
            corpus_flow(corpus=cfg.english_corpus, store=cfg.store)
        return corpus_flow(corpus=cfg.corpus, store=cfg.store)
    import importlib

    return getattr(importlib.import_module(f"flows.{name}"), f"{name}_flow")(config=cfg)


def verify_command(uri: str, endpoint_url: str | None) -> int:
    from llammas_core.errors import LlammasError
    from llammas_core.secrets import scrub
    from llammas_core.stage import verify_stage

    try:
        report = verify_stage(uri, endpoint_url)
    except LlammasError as e:
        print(f"error: {scrub(str(e))}", file=sys.stderr)
        return 1
    for problem in report["problems"]:
        print(f"corrupt: {problem}", file=sys.stderr)
    status = "ok" if not report["problems"] else f"{len(report['problems'])} problem(s)"
    print(f"{report['id']}: {report['files']} files, {report['bytes']:,} bytes: {status}")
    return 0 if not report["problems"] else 1


def run_overrides(args: argparse.Namespace) -> list[str]:
    """The --set overrides, with `--recompute cpt` as `train.recompute=[cpt]`."""
    return args.overrides + ([f"train.recompute=[{','.join(args.recompute)}]"] if args.recompute else [])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llammas", description="Teach an open LLM a new language.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a flow")
    run.add_argument("flow", choices=FLOWS)
    run.add_argument("--config", required=True, help="YAML file, e.g. configs/demo.yaml")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. corpus.executor.tasks=2 (repeatable)")
    run.add_argument("--recompute", action="append", default=[], choices=("cpt", "sft"), metavar="STAGE",
                     help="compute this training stage (cpt or sft) under the current code although one was committed "
                          "under older code with the same config and inputs (reused with a warning otherwise); "
                          "the same as --set train.recompute=[STAGE]")
    run.add_argument("--traceback", action="store_true", help="show the full traceback on failure")
    run.add_argument("--verbose", action="store_true",
                     help="print every log line (datatrove stats, library warnings); by default they go to a log "
                          "file and the terminal shows a line per stage")
    rehearse = sub.add_parser("rehearse", help="run a config end to end at toy size (tiny models, small inputs in "
                              "the real formats, S3 on a local endpoint) before renting GPUs")
    rehearse.add_argument("--config", required=True, help="YAML file, e.g. configs/llammas-et.yaml")
    rehearse.add_argument("--root", default=None, help="folder for the inputs, models and work (default: a temp dir)")
    rehearse.add_argument("--endpoint-url", default=None, help="an S3-compatible endpoint to use instead of moto's")
    rehearse.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                          help="override a value of the rehearsed config")
    rehearse.add_argument("--traceback", action="store_true", help="show the full traceback on failure")
    verify = sub.add_parser("verify", help="check every file of a committed stage against its manifest")
    verify.add_argument("manifest", help="manifest URI or stage folder, e.g. file://.llammas/store/corpus/<key>/manifest.json")
    verify.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint for s3:// URIs")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "verify":
        return verify_command(args.manifest, args.endpoint_url)

    _quiet_prefect()
    with contextlib.ExitStack() as terminal:
        out, err = sys.stdout, sys.stderr
        log = None
        if not getattr(args, "verbose", True):  # `rehearse` prints every line (a rehearsal is for reading)
            from flows.quiet import log_path, quiet

            log = log_path(_work_dir(args.config, args.overrides), args.flow)
            out, err = terminal.enter_context(quiet(log))
        return _run(args, out, err, log)


def _work_dir(config_path: str, overrides: list[str]) -> str:
    """Where the log file of a quiet run goes: the config's work_dir (a bad config: the default's)."""
    try:
        from llammas_core.config import load_config

        return load_config(config_path, overrides).store.work_dir
    except Exception:
        return "./.llammas/work"


def _run(args, out, err, log) -> int:
    from flows.stopping import announce, interrupted, stop_on_signals

    try:
        if not args.traceback:
            _hide_prefect_tracebacks()
        if args.command == "rehearse":
            return rehearse_command(args.config, args.root, args.endpoint_url, args.overrides)
        with stop_on_signals(err), contextlib.ExitStack() as api:
            uri = run_flow(args.flow, args.config, run_overrides(args), api)
    except KeyboardInterrupt:  # SIGINT, or SIGTERM (stop_on_signals)
        return announce()
    except Exception as e:  # one line for users; the whole story with --traceback
        if interrupted():  # e.g. Prefect's API gone with the same signal: the stop is the story
            return announce()
        if args.traceback:
            traceback.print_exc(file=err)
        from llammas_core.errors import LlammasError

        reason = str(e) if isinstance(e, LlammasError) else f"{type(e).__name__}: {e}"
        from llammas_core.secrets import scrub

        if log is not None:
            print(f"full log: {log}", file=err)
        print(f"error: {scrub(reason.splitlines()[0]) if reason else type(e).__name__}", file=err)  # last line
        return 1
    _summary(uri, out)
    if log is not None:
        print(f"full log: {log}", file=out)
    print(f"output: {uri}", file=out)
    return 0


def _summary(uri: str, out) -> None:
    """The report's scores, one line per (task, metric, model), when the run ended in an evaluation report."""
    try:
        from llammas_core.stage import read_manifest

        manifest = read_manifest(uri)
    except Exception:
        return
    if manifest.get("stage") != "report":
        return
    from llammas_core.evaluate.report import table_rows

    for r in table_rows(manifest.get("rows") or []):
        delta = next((v for k, v in r.items() if k.startswith("Δ vs") and v), "")
        extra = f"  Δ {delta} (p {r['p']}){' *' if r['sig.'] else ''}" if delta else ""
        print(f"{r['task']:<14} {r['metric']:<8} {r['model']:<6} {r['score']:>8}{extra}", file=out)
    if manifest.get("html_uri"):
        print(f"report: {manifest['html_uri']}", file=out)


if __name__ == "__main__":
    sys.exit(main())
