"""Evaluation fan-out: configs/demo.yaml's `evaluate` section (3 models x 4 tasks), one worker vs N.

Modes, run in ABBA order with the same thread settings:
  sequential   llammas_core's run_evaluate: model after model, in one process (what the task did before)
  fan-out N    the Prefect `evaluate` task in a flow (ephemeral server, started before timing): one
               `evaluate-model` task run per model, N at once on a thread pool, then the report
Every run starts from an empty store at the same path, so every (model, task) pair is evaluated, and
every run's report.md must be byte-identical to the first (checked; the figures are void otherwise).

Models: three tiny random Llamas of the demo's tiny-base shape (hidden 64, 2 layers, vocab 2000; seeds
0, 1, 2), their tokenizer trained on the demo texts, standing in for @base, @cpt, @sft (chat as the
config says). Data: the data kit (../shared/data) when present, else demo/eval, as the config picks.

    nice -n 10 .venv/bin/python benchmarks/eval_fanout.py --workers 2 3 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._bench import abba, header, pin_threads, same_work  # noqa: E402


def demo_models(root: Path) -> dict[str, str]:
    from llammas_core.train.tiny import save_tiny_base, tiny_llama
    from transformers import AutoTokenizer

    texts = []
    for path in sorted((REPO / "demo" / "eval").rglob("*")):  # the evaluation texts (a tokenizer, not training)
        if path.suffix in (".jsonl", ".json", ".csv"):
            texts += path.read_text(encoding="utf-8", errors="replace").splitlines()[:300]
    base = save_tiny_base(root / "base", texts, vocab_size=2000, hidden_size=64, layers=2)
    tok = AutoTokenizer.from_pretrained(base)
    out = {"base": base}
    for seed, name in ((1, "cpt"), (2, "sft")):
        folder = root / name
        tiny_llama(tok, hidden_size=64, layers=2, seed=seed).save_pretrained(folder)
        tok.save_pretrained(folder)
        out[name] = str(folder)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch/BLAS threads (same for every mode)")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    pin_threads(args.threads)
    os.chdir(REPO)  # the config's data candidates are relative to the repository
    tmp = Path(tempfile.mkdtemp(prefix="eval-fanout-"))
    os.environ.setdefault("PREFECT_HOME", str(tmp / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")  # 2 busy cores

    import yaml
    from prefect import flow

    from llammas_core.config import StoreConfig
    from llammas_core.evaluate.config import EvaluateConfig
    from llammas_core.evaluate.stage import run_evaluate
    from llammas_core.store import LocalStore
    from tasks.evaluate import evaluate_and_publish

    section = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())["evaluate"]
    paths = demo_models(tmp / "models")
    section["models"] = [{**m, "path": paths[m["name"]]} for m in section["models"]]
    cfg = EvaluateConfig.model_validate(section)
    store_dir, work = tmp / "store", tmp / "work"
    store = StoreConfig(uri=f"file://{store_dir}", work_dir=str(work))

    def fresh() -> None:
        for p in (store_dir, work):
            shutil.rmtree(p, ignore_errors=True)

    def report(manifest_id: str) -> bytes:
        return (store_dir / manifest_id / "report.md").read_bytes()

    def sequential() -> bytes:
        fresh()
        return report(run_evaluate(LocalStore(store_dir), cfg, work, log=lambda _: None).manifest["id"])

    @flow(name="eval-fanout-bench")
    def fanned(c):  # (no annotation: the flow is local, its parameter model could not resolve it)
        return evaluate_and_publish(store, c, "et")

    def fan_out(n: int):
        def run() -> bytes:
            fresh()
            uri = fanned(cfg.model_copy(update={"workers": n}))
            return report(LocalStore(store_dir).read_json(uri.removeprefix(f"file://{store_dir}/"))["id"])
        return run

    started = time.perf_counter()
    # untimed warm-up of both paths: the Prefect server, imports, lm-eval's first task build
    fanned(cfg.model_copy(update={"models": cfg.models[:1], "workers": 1}))
    sequential()
    print(f"(Prefect ephemeral server and warm-up runs: {time.perf_counter() - started:.1f} s, not timed below)")
    print(header(args.threads))
    print(f"{len(cfg.models)} models x {len(cfg.tasks)} tasks: {', '.join(t.name for t in cfg.tasks)}")
    modes = {"sequential": sequential} | {f"fan-out {n}": fan_out(n) for n in args.workers}
    res = abba(modes, rounds=args.rounds)
    identical = same_work(res)
    print(f"order: {' '.join(res.order)}; {res.load_before} -> {res.load_after}")
    seq = res.wall("sequential") / len(res.runs["sequential"])
    for name in modes:
        runs = res.runs[name]
        wall, cpu = res.wall(name) / len(runs), res.cpu(name) / len(runs)
        print(f"{name:>12}: wall {wall:6.1f} s (runs {', '.join(f'{r[0]:.1f}' for r in runs)}), "
              f"CPU {cpu:6.1f} s (runs {', '.join(f'{r[1]:.1f}' for r in runs)}), speed-up {seq / wall:.2f}x")
    print(f"report.md byte-identical in every run: {identical}")
    shutil.rmtree(tmp, ignore_errors=True)
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
