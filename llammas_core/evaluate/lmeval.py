"""Log-likelihood multiple-choice tasks through lm-evaluation-harness, in-process.

lm-eval is the engine here: the task YAMLs in `tasks/` (shipped with the package; prompts identical to
lm-eval's xcopa_<lang> and belebele; the language registry gives the XCOPA connectives and the Belebele code) are loaded with lm-eval's own YAML loader, their `data_files` pointed at
local copies of the data, and run by `evaluator.simple_evaluate` over an in-memory model wrapped in
`HFLM(pretrained=model, tokenizer=tok)` whose log-likelihood loop is loglik.py's (token-budget batches,
each item's context encoded once), or lm-eval's vLLM backend
when ModelSpec.backend == "vllm" and vllm is installed. Any other lm-eval task runs by name (kind lm_eval).
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from llammas_core.errors import ConfigError, InputError
from llammas_core.evaluate.datafiles import localize, pick_exact, read_records, require_fields, require_labels
from llammas_core.evaluate.spec import TaskSpec
from llammas_core.languages import default_target, require, xcopa_connectives

TASK_DIR = Path(__file__).parent / "tasks"

# kind -> (shipped YAML, fields every item needs, folder patterns for the scored / few-shot split)
SHIPPED: dict[str, dict[str, Any]] = {
    "xcopa": {"yaml": "xcopa.yaml", "fields": ["premise", "choice1", "choice2", "question", "label"],
              "test": [r"test\.{lang}\.jsonl"], "dev": [r"val\.{lang}\.jsonl", r"dev\.{lang}\.jsonl"],
              "labels": ("label", {"0", "1"})},
    "belebele": {"yaml": "belebele.yaml",
                 "fields": ["flores_passage", "question", "mc_answer1", "mc_answer2", "mc_answer3", "mc_answer4",
                            "correct_answer_num"],
                 # belebele-est_Latn-test.csv; never a sibling such as ...-test.gmt-en.csv
                 "test": [r"(?:.*[-_.])?{lang}[-_.]test\.(?:csv|jsonl)"],
                 "dev": [r"(?:.*[-_.])?{lang}[-_.]dev\.(?:csv|jsonl)"],
                 "labels": ("correct_answer_num", {"1", "2", "3", "4"})},
}


def data_code(task: TaskSpec) -> str:
    """The code the task's files are named by (XCOPA test.<code>.jsonl, Belebele *<code>*test*); the task's
    language (any registry code) or the registry's default target; a ConfigError when the language lacks it."""
    value = require(task.language or default_target(), task.kind)
    return value.code if task.kind == "xcopa" else value


def _names(patterns: list[str], lang: str) -> list[str]:
    return [p.format(lang=re.escape(lang)) for p in patterns]


def task_files(task: TaskSpec) -> tuple[Path, Path | None]:
    """(scored file, few-shot file or None) for a shipped multiple-choice task."""
    info = SHIPPED[task.kind]
    lang = data_code(task)
    data = localize(task.data)
    if data.is_dir():
        test = pick_exact(data, _names(info["test"], lang), f"{task.name} test split ({lang})")
        dev = pick_exact(data, _names(info["dev"], lang), f"{task.name} few-shot split ({lang})", required=False)
    else:
        test, dev = data, None
        if task.fewshot_data is None:  # a sibling dev/val file next to a test file
            sib = test.name.replace("test", "val" if task.kind == "xcopa" else "dev")
            dev = test.with_name(sib) if sib != test.name and test.with_name(sib).is_file() else None
    if task.fewshot_data is not None:
        dev = localize(task.fewshot_data)
        if dev.is_dir():
            dev = pick_exact(dev, _names(info["dev"], lang), f"{task.name} few-shot split ({lang})")
    if dev is not None and dev.resolve() == test.resolve():
        dev = None
    return test, dev


def validate_mc(task: TaskSpec) -> None:
    """Files exist, rows carry the fields the prompt needs, the task is not empty."""
    info = SHIPPED[task.kind]
    test, dev = task_files(task)
    for path, what in ((test, ""), (dev if task.num_fewshot else None, " few-shot")):
        if path is None:
            continue
        rows, where = read_records(path), f"task {task.name}{what} ({path})"
        require_fields(rows, info["fields"], where)
        require_labels(rows, *info["labels"], where)
        if task.kind == "xcopa":
            require_labels(rows, "question", {"cause", "effect"}, where)


def build_config(task: TaskSpec) -> dict:
    """The shipped YAML (through lm-eval's loader, so !function resolves) pointed at local data files."""
    from lm_eval.tasks._yaml_loader import load_yaml

    test, dev = task_files(task)
    cfg = load_yaml(TASK_DIR / SHIPPED[task.kind]["yaml"], resolve_func=True)
    if task.kind == "xcopa":  # lm-eval's doc_to_text_<lang>: the generic prompt bound to the language's connectives
        cfg["doc_to_text"] = partial(cfg["doc_to_text"], connector=xcopa_connectives(task.language or default_target()))
    fmt = "csv" if test.suffix.lower() == ".csv" else "json"
    files = {"test": str(test)}
    cfg["dataset_path"] = fmt
    if dev is not None:
        if (dev.suffix.lower() == ".csv") != (fmt == "csv"):
            raise ConfigError(f"task {task.name}: few-shot file {dev} and scored file {test} differ in format")
        files["validation"] = str(dev)
        cfg["validation_split"] = "validation"
        cfg["fewshot_split"] = "validation"
    else:
        # No separate split: lm-eval samples from the test split and never picks the scored doc itself.
        cfg["fewshot_split"] = "test"
    cfg["dataset_kwargs"] = {"data_files": files}
    cfg["task"] = task.name
    return cfg


def make_lm(loaded) -> Any:
    """lm-eval's LM for a LoadedModel: HFLM over the in-memory model (cached on the LoadedModel), or VLLM."""
    cached = loaded.extra.get("lm_eval_lm")
    if cached is not None:
        return cached
    if loaded.spec.backend == "vllm":
        try:
            import vllm  # noqa: F401
            from lm_eval.models.vllm_causallms import VLLM
        except ImportError as e:
            raise ConfigError("backend vllm asked for but vllm is not installed (pip install vllm), "
                              "or use backend: hf") from e
        if not loaded.local_path:
            raise ConfigError("backend vllm needs a model folder (vLLM loads weights itself)")
        lm = VLLM(pretrained=loaded.local_path, batch_size="auto", dtype="auto")
    else:
        from llammas_core.evaluate.loglik import batched_hflm

        lm = batched_hflm(loaded.model, loaded.tokenizer, batch_size=loaded.spec.batch_size, device=loaded.device)
    loaded.extra["lm_eval_lm"] = lm
    return lm


@lru_cache(maxsize=1)
def default_task_manager():
    """lm-eval's TaskManager over all its bundled tasks (indexing thousands of YAMLs takes ~20 s: built once)."""
    from lm_eval.tasks import TaskManager

    return TaskManager()


def _num(x) -> float:
    if isinstance(x, (list, tuple)):
        x = x[0]
    return float(x)


def _convert_sample(s: dict, task_name: str, metrics: list[str]) -> dict:
    """lm-eval's logged sample -> our per-sample row (prompt, choices, reference, per-choice lls, scores)."""
    args = s.get("arguments") or []
    row: dict[str, Any] = {"doc_id": s.get("doc_id"), "task": task_name}
    if args and isinstance(args[0], (list, tuple)) and len(args[0]) == 2:
        row["prompt"] = args[0][0]
        row["choices"] = [a[1] for a in args]
    resps = s.get("filtered_resps") or []
    if resps and isinstance(resps[0], (list, tuple)):
        row["loglikelihoods"] = [_num(r) for r in resps]
        row["is_greedy"] = [bool(r[1]) if isinstance(r, (list, tuple)) and len(r) > 1 else None for r in resps]
    else:
        row["response"] = resps[0] if resps else None
    row["reference"] = s.get("target")
    for m in metrics:
        if m in s:
            v = s[m]
            row[m] = float(v) if isinstance(v, (int, float, bool)) else v
    return row


_PROBE_LOCK = threading.Lock()
_probe_users = [0, None]  # tasks running now (several models' workers at once), lm-eval's own add_env_info


@contextmanager
def _no_env_probe(evaluator):
    """lm-eval's add_env_info runs torch's collect_env (about ten subprocesses, pip list among them: over a
    second per task); results.json records our own package versions instead (engine._versions). Counted,
    so workers in threads put lm-eval's own function back only when the last one is done."""
    with _PROBE_LOCK:
        if _probe_users[0] == 0:
            _probe_users[1] = evaluator.add_env_info
            evaluator.add_env_info = lambda storage: storage.update({"pretty_env_info": "not collected (llammas)"})
        _probe_users[0] += 1
    try:
        yield
    finally:
        with _PROBE_LOCK:
            _probe_users[0] -= 1
            if _probe_users[0] == 0:
                evaluator.add_env_info = _probe_users[1]


def run_lmeval(loaded, task: TaskSpec) -> dict:
    """Run one task; returns {"results", "stderr", "samples", "raw"} (raw: lm-eval's results dict, no samples)."""
    from lm_eval import evaluator
    from lm_eval.tasks import TaskManager

    if task.kind == "lm_eval":
        tm = default_task_manager()
        if task.lm_eval_task not in tm.all_tasks:
            raise ConfigError(f"task {task.name}: lm-eval knows no task or group {task.lm_eval_task!r}")
        specs: list[Any] = [task.lm_eval_task]
    else:
        tm = TaskManager(include_defaults=False)
        specs = [build_config(task)]
    lm = make_lm(loaded)
    try:
        with _no_env_probe(evaluator):
            out = evaluator.simple_evaluate(
                model=lm, tasks=specs, task_manager=tm, num_fewshot=task.num_fewshot, limit=task.limit,
                log_samples=True, bootstrap_iters=1000, fewshot_random_seed=task.fewshot_seed,
                random_seed=0, numpy_random_seed=1234, torch_random_seed=1234)
    except (FileNotFoundError, ConnectionError, OSError) as e:
        raise InputError(f"task {task.name}: lm-eval could not load the data ({type(e).__name__}: {e}); "
                         "offline runs need the data local") from e
    except Exception as e:  # datasets raises its own hierarchy for missing hub data offline
        if type(e).__module__.startswith(("datasets", "huggingface_hub", "requests", "urllib3")):
            raise InputError(f"task {task.name}: lm-eval could not load the data ({type(e).__name__}: {e}); "
                             "offline runs need the data local") from e
        raise
    samples_by_task = out.pop("samples", {})
    metrics: dict[str, float] = {}
    stderr: dict[str, float] = {}
    leaf = list(samples_by_task)
    single = len(leaf) == 1
    for tname, res in out["results"].items():
        if not single and tname not in leaf and tname not in out.get("groups", {}):
            continue
        for key, val in res.items():
            if "," not in key or not isinstance(val, (int, float)):
                continue
            mname, filt = key.split(",", 1)
            base = mname[: -len("_stderr")] if mname.endswith("_stderr") else mname
            label = base if single else f"{tname}/{base}"
            if filt != "none":
                label = f"{label},{filt}"
            (stderr if mname.endswith("_stderr") else metrics)[label] = float(val)
    samples = []
    for tname, rows in samples_by_task.items():
        mnames = list(out.get("higher_is_better", {}).get(tname, {}))
        samples.extend(_convert_sample(s, tname, mnames) for s in rows)
    return {"results": metrics, "stderr": stderr, "samples": samples, "raw": out}


logging.getLogger("lm_eval").setLevel(logging.WARNING)

__all__ = ["run_lmeval", "build_config", "validate_mc", "task_files", "make_lm", "default_task_manager", "data_code",
           "SHIPPED", "TASK_DIR"]
