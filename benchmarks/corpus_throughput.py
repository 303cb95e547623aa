"""Corpus stage throughput: llammas' curation against the same curation written from stock
datatrove steps, side by side in one process, ABBA order, by CPU seconds.

    python benchmarks/corpus_throughput.py --docs 10000                # ABBA: datatrove, llammas, llammas, datatrove
    python benchmarks/corpus_throughput.py --docs 40000 --profile prof.md --out bench.json
    python benchmarks/corpus_throughput.py --modes llammas,flow        # Prefect flow overhead (old comparison)

Corpus (benchmarks/corpus_gen.py, written as --files JSONL shards in a temp dir): ~100-400-word
Estonian documents recombined from runs of 2-5 consecutive sentences of ../shared/data/ud_estonian
(plus demo/web/docs.jsonl), ~5% other-language (FLORES en/fi/lv/ru), ~3% junk, ~4% exact
duplicates (some with case or whitespace changes) and ~4% near-duplicates (~5% of words replaced).

Config: configs/demo.yaml's corpus section (Estonian defaults: LID, quality filters, exact +
MinHash dedup, PII), its sources replaced by the generated folder, executor local, --tasks tasks.

Modes:
  llammas    llammas_core.corpus.pipeline.run_corpus_pipeline (the corpus stage's body, no Prefect).
  datatrove  the same curation from stock datatrove steps and LocalPipelineExecutor, same thresholds,
             LID model file, dedup and PII settings (benchmarks/corpus_baseline.py says what each
             group holds and the two places llammas code stands in: the Estonian alpha-word rule
             and the ID-code/phone PII step).
  flow       flows.corpus.corpus_flow (Prefect, staging, commit, manifest), optional.
Each run gets fresh work folders. Before the timed runs a small warm-up run of each mode starts
the forkserver and pulls imports into the page cache. One forkserver serves every mode, with
llammas' preloaded imports (corpus/executors.py), so the baseline's workers do not import spaCy
each: a stock user's would (measured: about half the CPU of a 1,000-document run).

Order: --repeat 2 (default) runs A B B A (A = the first of --modes): each mode gets an early and a
late slot, which cancels a linear drift such as other jobs on the shared cores; --repeat 1: A B.

Figures: CPU seconds of the whole process tree per run (this process, the forkserver and its pool
workers, reaped ones included: psutil's cpu_times of every descendant, with children_user/system,
the same counters os.times() gives for reaped children), wall time beside it, the 1-minute load
average before and after each run, documents per CPU-second, documents kept, and the Jaccard of
the kept ids between the modes. The ratio is total CPU of the baseline runs / total CPU of
llammas' runs (ABBA sums); the last line is `speedup_vs_datatrove_cpu=<x>`.

--profile PATH: per step group, the CPU seconds measured around the group (psutil, as above) and,
inside each group, datatrove's per-step time (time_stats summed over tasks, wall time, so it
swells with load) with the group's CPU shared out by it; written as a Markdown table to PATH and
printed. A step that yields documents onward (the exact-dedup filter before MinHash) counts the
time of the steps after it too, so inside such a group the shares overlap; group CPU is exact. With py-spy installed,
--py-spy also records each mode's first timed run (py-spy record --subprocesses, top functions
by own samples written beside PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_gen import build_corpus  # noqa: E402

# ----------------------------------------------------------------------------- runs


def tree_cpu_s() -> float:
    """CPU seconds (user + system) of this process and all its descendants, including reaped ones
    (counted in their parents' children_* times): the forkserver and its pool workers, the
    per-group multiprocessing managers, Prefect's API server. Robust to other jobs on shared
    cores, unlike wall time."""
    import psutil

    total = 0.0
    me = psutil.Process()
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:  # gone between listing and reading: its time is in its parent's children_*
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


class GroupClock:
    """Process-tree CPU and wall at the start of each step group (and at the end, name "")."""

    def __init__(self):
        self.marks: list[tuple[str, float, float]] = []

    def mark(self, name: str) -> None:
        self.marks.append((name, tree_cpu_s(), time.perf_counter()))

    def groups(self) -> dict[str, dict]:
        return {a[0]: {"cpu_s": round(b[1] - a[1], 3), "wall_s": round(b[2] - a[2], 3)}
                for a, b in zip(self.marks, self.marks[1:])}


def corpus_config(input_dir: Path, tasks: int, workers: int):
    from llammas_core.config import load_config
    from llammas_core.corpus.config import SourceConfig

    cfg = load_config(REPO / "configs" / "demo.yaml").corpus
    ex = cfg.executor.model_copy(update={"kind": "local", "tasks": tasks, "workers": workers})
    return cfg.model_copy(update={"sources": [SourceConfig(name="bench", kind="jsonl", paths=[str(input_dir)])],
                                  "executor": ex})


def kept_ids(data: Path) -> list[str]:
    import pyarrow.parquet as pq

    return sorted(i for f in sorted(data.rglob("*.parquet")) for i in pq.read_table(f, columns=["id"])["id"].to_pylist())


def run_llammas(cfg, input_dir: Path, run_dir: Path, clock: GroupClock) -> dict:
    from llammas_core.corpus.pipeline import run_corpus_pipeline

    # run_corpus_pipeline logs "corpus: <group> (...)" as each group starts
    extra = run_corpus_pipeline(cfg, [("bench", "jsonl", input_dir, "text", "id")], run_dir / "work",
                                run_dir / "out", "run-bench", cfg.lid.model,
                                log=lambda m: clock.mark(m.split()[1]))
    clock.mark("")
    return {"steps": extra["steps"], "ids": kept_ids(run_dir / "out" / "data")}


def run_datatrove(cfg, input_dir: Path, run_dir: Path, clock: GroupClock) -> dict:
    from corpus_baseline import run_stock

    from llammas_core.corpus.langid import default_model_path

    steps = run_stock(cfg, input_dir, run_dir, cfg.lid.model or default_model_path(), clock.mark)
    return {"steps": steps, "ids": kept_ids(run_dir / "out" / "data")}


def run_flow(cfg, input_dir: Path, run_dir: Path, clock: GroupClock) -> dict:
    from flows.corpus import corpus_flow
    from llammas_core.config import StoreConfig

    store = StoreConfig(uri=f"file://{run_dir / 'store'}", work_dir=str(run_dir / "work"))
    clock.mark("flow")
    uri = corpus_flow(corpus=cfg, store=store)
    clock.mark("")
    manifest = json.loads(Path(uri.removeprefix("file://")).read_text())
    return {"steps": manifest["steps"], "ids": kept_ids(run_dir / "store")}


RUNNERS = {"llammas": run_llammas, "datatrove": run_datatrove, "flow": run_flow}


def timed_run(mode: str, cfg, input_dir: Path, run_dir: Path, py_spy: Path | None = None) -> dict:
    spy = start_py_spy(py_spy) if py_spy else None
    clock, load0 = GroupClock(), os.getloadavg()[0]
    c0, t0 = tree_cpu_s(), time.perf_counter()
    clock.mark("(setup)")
    res = RUNNERS[mode](cfg, input_dir, run_dir, clock)
    wall, cpu = time.perf_counter() - t0, tree_cpu_s() - c0
    if spy:
        stop_py_spy(spy, py_spy)
    return {"mode": mode, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_before": round(load0, 2),
            "load_after": round(os.getloadavg()[0], 2), "kept": len(res["ids"]), "ids": res["ids"],
            "steps": res["steps"], "groups": clock.groups()}


def start_py_spy(out: Path):
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        return None
    return subprocess.Popen([exe, "record", "--subprocesses", "--nonblocking", "--rate", "50", "--format", "raw",
                             "-o", str(out), "--pid", str(os.getpid())],
                            stdout=subprocess.DEVNULL, stderr=open(str(out) + ".log", "wb"))


def stop_py_spy(proc, out: Path) -> None:
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    if out.exists():  # raw format: "frame;frame;... count" per line; own samples = last frame
        own: dict[str, int] = {}
        for line in out.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            leaf = stack.split(";")[-1]
            own[leaf] = own.get(leaf, 0) + int(n)
        total = sum(own.values()) or 1
        top = sorted(own.items(), key=lambda kv: -kv[1])[:40]
        Path(str(out) + ".top.txt").write_text("".join(f"{100 * n / total:6.2f}%  {f}\n" for f, n in top))


# ----------------------------------------------------------------------------- report


def jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def step_table(runs: list[dict], modes: list[str]) -> str:
    """Per group: measured CPU s (first run of each mode); per step inside: datatrove time_stats s and
    the group's CPU shared out by them."""
    first = {m: next(r for r in runs if r["mode"] == m) for m in modes}
    rows = [f"| group | step | " + " | ".join(f"{m} step s | {m} CPU s (est.)" for m in modes) + " |",
            "|---|---|" + "---|---|" * len(modes)]
    groups = list(dict.fromkeys(g for m in modes for g in first[m]["groups"]))
    for g in groups:
        cpu = {m: first[m]["groups"].get(g, {}).get("cpu_s") for m in modes}
        rows.append(f"| **{g}** | (measured, whole group) | " + " | ".join(
            f" | **{cpu[m]:.2f}**" if cpu[m] is not None else " | " for m in modes) + " |")
        names = list(dict.fromkeys(s["name"] for m in modes for s in first[m]["steps"] if s["group"] == g))
        for name in names:
            cells = []
            for m in modes:
                steps = [s for s in first[m]["steps"] if s["group"] == g]
                total = sum(s["seconds"] for s in steps) or 1.0
                own = sum(s["seconds"] for s in steps if s["name"] == name)
                share = own / total * cpu[m] if cpu[m] is not None and any(s["name"] == name for s in steps) else None
                cells.append(f"{own:.2f} | {share:.2f}" if share is not None else " | ")
            rows.append(f"| | {name} | " + " | ".join(cells) + " |")
    total = {m: sum(v["cpu_s"] for v in first[m]["groups"].values()) for m in modes}
    rows.append("| **all** | | " + " | ".join(f" | **{total[m]:.2f}**" for m in modes) + " |")
    return "\n".join(rows)


def print_report(corpus: dict, runs: list[dict], modes: list[str], args) -> dict:
    n = corpus["docs"]
    print(f"\ncorpus: {n} docs in {corpus['files']} JSONL files, {corpus['bytes'] / 1e6:.1f} MB, words/doc median "
          f"{corpus['words_median']:.0f}, mean {corpus['words_mean']}; kinds {corpus['kinds']}")
    print(f"        from {corpus['source']}")
    print(f"executor: local, tasks {args.tasks}, workers {args.workers or args.tasks}; os.cpu_count() = "
          f"{os.cpu_count()}; load average now {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"\n{'run':<4} {'mode':<10} {'wall s':>7} {'CPU s':>7} {'docs/CPU-s':>10} {'kept':>6} {'load 1m before/after':>21}")
    for i, r in enumerate(runs):
        print(f"{i + 1:<4} {r['mode']:<10} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} {n / r['cpu_s']:10.1f} {r['kept']:6d} "
              f"{r['load_before']:10.1f} / {r['load_after']:<8.1f}")
    summary: dict = {"modes": {}}
    for m in modes:
        rs = [r for r in runs if r["mode"] == m]
        cpu, wall = sum(r["cpu_s"] for r in rs), sum(r["wall_s"] for r in rs)
        same = all(r["ids"] == rs[0]["ids"] for r in rs)
        summary["modes"][m] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "runs": len(rs),
                               "docs_per_cpu_s": round(n * len(rs) / cpu, 1), "docs_per_s": round(n * len(rs) / wall, 1),
                               "kept": rs[0]["kept"], "kept_same_every_run": same}
        print(f"{m:<10} {len(rs)} runs: {n * len(rs) / cpu:7.1f} docs per CPU-second, {n * len(rs) / wall:7.1f} docs/s "
              f"wall; kept {rs[0]['kept']}{'' if same else ' (differs between runs!)'}")
    a, b = modes[0], modes[1] if len(modes) > 1 else modes[0]
    ra, rb = [r for r in runs if r["mode"] == a], [r for r in runs if r["mode"] == b]
    summary["jaccard_kept_ids"] = j = round(jaccard(ra[0]["ids"], rb[0]["ids"]), 5)
    only_a, only_b = sorted(set(ra[0]["ids"]) - set(rb[0]["ids"])), sorted(set(rb[0]["ids"]) - set(ra[0]["ids"]))
    print(f"kept ids: {a} {len(ra[0]['ids'])}, {b} {len(rb[0]['ids'])}, Jaccard {j:.4f}; only {a}: {len(only_a)} "
          f"{only_a[:5]}; only {b}: {len(only_b)} {only_b[:5]}")
    summary["speedup_cpu"] = round(summary["modes"][a]["cpu_s"] / summary["modes"][a]["runs"]
                                   / (summary["modes"][b]["cpu_s"] / summary["modes"][b]["runs"]), 3)
    summary["speedup_wall"] = round(summary["modes"][a]["wall_s"] / summary["modes"][a]["runs"]
                                    / (summary["modes"][b]["wall_s"] / summary["modes"][b]["runs"]), 3)
    pairs = [round(x["cpu_s"] / y["cpu_s"], 3) for x, y in zip(ra, reversed(rb))]
    print(f"{b} vs {a}: CPU {summary['speedup_cpu']:.3f}x (per ABBA pair: {pairs}), wall {summary['speedup_wall']:.3f}x "
          "(wall moves with other jobs on shared cores: the CPU ratio is the figure)")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="executor workers; 0: = tasks")
    ap.add_argument("--files", type=int, default=8, help="input JSONL shards")
    ap.add_argument("--modes", default="datatrove,llammas", help="two of datatrove, llammas, flow: A,B")
    ap.add_argument("--repeat", type=int, default=2, choices=(1, 2), help="2: A B B A; 1: A B")
    ap.add_argument("--warmup-docs", type=int, default=200)
    ap.add_argument("--profile", default=None, help="write the per-step CPU table (Markdown) here")
    ap.add_argument("--py-spy", action="store_true", help="with --profile: py-spy each mode's first timed run")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--tmp", default=None, help="work here instead of a fresh temp dir (kept)")
    ap.add_argument("--verbose", action="store_true", help="keep datatrove's worker logs on the console")
    args = ap.parse_args(argv)
    modes = args.modes.split(",")
    assert set(modes) <= set(RUNNERS) and len(modes) == 2, f"--modes: two of {sorted(RUNNERS)}"

    tmp = Path(args.tmp) if args.tmp else Path(tempfile.mkdtemp(prefix="llammas-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["HF_ASSETS_CACHE"] = str(tmp / "hf-assets")  # datatrove's copy of the local LID model file
    if "flow" in modes:
        os.environ["PREFECT_HOME"] = str(tmp / "prefect-home")
        os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        from flows.cli import _quiet_prefect

        _quiet_prefect()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    t0 = time.perf_counter()
    corpus = build_corpus(tmp / "input", args.docs, args.files)
    warm = build_corpus(tmp / "warmup-input", args.warmup_docs, max(2, args.tasks), seed=99)
    print(f"built corpus in {time.perf_counter() - t0:.1f} s under {tmp}", flush=True)
    if not args.verbose:  # before any worker exists, so every datatrove process inherits it
        log = open(tmp / "datatrove-stderr.log", "ab")
        sys.stderr.flush()
        os.dup2(log.fileno(), 2)

    # one forkserver serves both modes: started here with llammas' preloaded imports (spaCy,
    # datatrove's filters and dedup), which a stock user would not have: the baseline gets them too
    import multiprocess

    from llammas_core.corpus.executors import FORKSERVER_PRELOAD

    multiprocess.set_forkserver_preload(FORKSERVER_PRELOAD)
    cfg = corpus_config(tmp / "input", args.tasks, args.workers or args.tasks)
    wcfg = corpus_config(tmp / "warmup-input", args.tasks, args.workers or args.tasks)
    t0 = time.perf_counter()
    for m in modes:
        timed_run(m, wcfg, tmp / "warmup-input", tmp / "runs" / f"warmup-{m}")
    print(f"warm-up done in {time.perf_counter() - t0:.1f} s", flush=True)

    order = [modes[0], modes[1]] + ([modes[1], modes[0]] if args.repeat == 2 else [])
    runs, spied = [], set()
    for i, m in enumerate(order):
        spy = Path(args.profile).with_suffix(f".pyspy-{m}.txt") if args.profile and args.py_spy and m not in spied else None
        spied.add(m)
        r = timed_run(m, cfg, tmp / "input", tmp / "runs" / f"{i}-{m}", spy)
        runs.append(r)
        print(f"run {i + 1}/{len(order)} {m}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} CPU s, kept {r['kept']}, "
              f"load {r['load_before']:.1f} -> {r['load_after']:.1f}", flush=True)

    summary = print_report(corpus, runs, modes, args)
    table = step_table(runs, modes)
    if args.profile:
        Path(args.profile).write_text(f"# corpus stage per-step CPU, {corpus['docs']} docs, tasks {args.tasks}, "
                                      f"load {os.getloadavg()[0]:.1f}\n\n{table}\n")
        print(f"\nper-step CPU (first run of each mode; step s = datatrove time_stats, CPU est. = the group's "
              f"measured CPU shared out by them), written to {args.profile}:\n{table}")
    if args.out:
        slim = [{k: v for k, v in r.items() if k != "ids"} for r in runs]
        Path(args.out).write_text(json.dumps({"args": vars(args), "corpus": corpus, "order": order, "runs": slim,
                                              **summary}, indent=2, default=str))
        print(f"\nwrote {args.out}")
    if not args.tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"speedup_vs_{modes[0]}_cpu={summary['speedup_cpu']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
