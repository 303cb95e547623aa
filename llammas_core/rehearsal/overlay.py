"""The rehearsal overlay: a shipped (or a user's) config, unchanged but for sizes, on S3 via a local endpoint.

`rehearsal_config(raw, root, endpoint_url)` returns the config a rehearsal runs and the notes of what it
changed. It keeps every section, stage, `@reference`, S3 path and format of the config, and:
- writes a small input in the real format at every input path the config names (`fixtures`): S3 paths
  are uploaded to the endpoint at exactly that key (bucket created), local paths that do not exist are
  written under `<root>/local/` (their path in the config is remapped, the only path change);
- swaps models for tiny random-init ones of the same family: the base LLM for a Llama with Llama's
  special tokens (<s>, </s>, <unk>) and the config's chat template; an MT model for a tiny Marian
  (CTranslate2-converted when the backend is ctranslate2) or a tiny NLLB (family nllb);
- shrinks sizes (SIZES): executors run locally, CPT/SFT take a few steps of small batches on one process,
  evaluation scores a few items per task. Anything else (probabilities, block/ratio rules, templates,
  mixtures, QE thresholds, decontamination, max_epochs) is as configured.
Two changes beyond sizes, each noted: QE thresholds are off (a random MT model's output cannot pass them,
and the translated component must reach SFT), and what cannot run offline is left out (lm-eval tasks
that need lm-eval's hub data; an OpenAI-compatible MT endpoint becomes the tiny Marian).
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import shutil
from pathlib import Path
from typing import Callable

from llammas_core.rehearsal import fixtures as fx

# The sizes a rehearsal runs at (also documented in the README's "Rehearse a config" section).
SIZES = {
    "corpus_executor": {"kind": "local", "tasks": 2, "workers": 1},
    "base_model": {"vocab_size": 2000, "hidden_size": 64, "layers": 2, "heads": 4, "kv_heads": 2,
                   "intermediate": 128, "max_position": 1024},
    "block_size": 128, "cpt_steps": 8, "validation_blocks": 4, "eval_every_steps": 4,
    "sft_steps": 4, "sft_max_length": 256, "validation_examples": 4,
    "micro_batch_size": 4, "global_batch_size": 8, "checkpoint_every_steps": 4,
    "launch": {"launcher": "python", "nproc_per_node": 1},
    "eval_limit": 8, "eval_batch_size": 4, "max_new_tokens": 16, "bootstrap_samples": 200,
    "contamination": {"sample_docs": 200, "max_scan": 2000},
    "translator": {"beams": 1, "device": "cpu", "threads": 1, "max_ratio": 1.0, "max_extra_tokens": 4,
                   "compute_type": "auto", "dtype": "auto"},
    "tiny_mt_vocab": 600,
    "pilot_sizes": [20, 60], "scaling_languages": 2, "scaling_step": 10,  # a scaling section's pilots (scaling.py)
}


class Placer:
    """Puts a generated input where the config names it: an S3 key (uploaded) or a local path."""

    def __init__(self, root: Path, endpoint_url: str):
        self.root, self.endpoint_url = Path(root), endpoint_url
        self.staging = self.root / "s3"
        self.notes: list[str] = []
        self.languages: list[str] = []  # what `{lang}` in a path stands for (a scaling section's languages)
        self._buckets: set[str] = set()

    def local_for(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if not p.is_absolute() else self.root / "local" / p.relative_to("/")

    def place(self, target: str, write: Callable[[Path], None]) -> str:
        """Write an input for `target` (a file or folder; `*` in a name is filled in); returns the path the
        config should now name (the same unless it was a missing local absolute path). A `{lang}` in the
        path is written once per language of `self.languages`."""
        if "{lang}" in target and self.languages:
            first = [self.place(target.replace("{lang}", lang), write) for lang in self.languages][0]
            return target if first == target.replace("{lang}", self.languages[0]) else str(self.local_for(target))
        concrete = target.replace("*", "0")
        if target.startswith("s3://"):
            bucket, _, key = concrete[len("s3://"):].partition("/")
            local = self.staging / bucket / key
            write(local)
            self._upload(bucket, key, local)
            return target
        path = Path(target).expanduser()
        if path.exists() or not path.is_absolute():
            return target  # an existing local input (e.g. the data kit beside the repo) is used as configured
        local = self.local_for(concrete)
        write(local)
        self.notes.append(f"{target} -> {local}")
        return str(self.local_for(target))

    def ensure_bucket(self, bucket: str) -> None:
        if bucket not in self._buckets:
            import boto3

            client = boto3.client("s3", endpoint_url=self.endpoint_url)
            if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
                client.create_bucket(Bucket=bucket)
            self._buckets.add(bucket)

    def _upload(self, bucket: str, key: str, local: Path) -> None:
        from llammas_core.store import open_store

        self.ensure_bucket(bucket)
        store = open_store(f"s3://{bucket}", endpoint_url=self.endpoint_url)
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for f in files:
            rel = key if f == local else f"{key.rstrip('/')}/{f.relative_to(local).as_posix()}"
            store.put_file(f, rel)


def rehearsal_config(raw: dict, root: Path, endpoint_url: str) -> tuple[dict, list[str]]:
    """(the config to rehearse, notes on what was swapped or left out)."""
    cfg, placer = copy.deepcopy(raw), Placer(root, endpoint_url)
    store = cfg.setdefault("store", {})
    store.update(endpoint_url=endpoint_url, work_dir=str(Path(root) / "work"))
    if not str(store.get("uri", "")).startswith("s3://"):
        store["uri"] = "s3://llammas-rehearsal/store"
        placer.notes.append(f"store -> {store['uri']} (a rehearsal runs on S3)")
    placer.ensure_bucket(store["uri"][len("s3://"):].partition("/")[0])
    if cfg.get("languages"):  # several target languages: their templates expanded and overlaid
        from llammas_core.rehearsal.multilingual import overlay_languages

        overlay_languages(cfg, placer)
    for name in ("corpus", "english_corpus"):
        if cfg.get(name):
            _corpus(cfg[name], placer)
    if cfg.get("instructions"):
        _instructions(cfg["instructions"], placer)
    if cfg.get("train"):
        _train(cfg["train"], placer)
    if cfg.get("evaluate"):
        _evaluate(cfg["evaluate"], placer)
    if cfg.get("scaling"):
        from llammas_core.rehearsal.scaling import overlay_scaling

        overlay_scaling(cfg["scaling"], placer)
    return cfg, placer.notes


# --------------------------------------------------------------------------- sections


def _corpus(c: dict, placer: Placer) -> None:
    c["executor"] = dict(SIZES["corpus_executor"])
    docs = fx.web_docs()
    for src in c.get("sources", []):
        kind = src.get("kind")
        for i, p in enumerate(src.get("paths", [])):
            if kind == "parquet":
                src["paths"][i] = placer.place(p if p.endswith(".parquet") else p.rstrip("/") + "/part-0.parquet",
                                               lambda f: fx.write_parquet_corpus(f, docs))
            elif kind == "wet":
                target = p if fnmatch.fnmatch(p, "*.wet*") else p.rstrip("/") + "/CC-MAIN-rehearsal-00000.warc.wet.gz"
                placer.place(target, lambda f: fx.write_wet(f, docs[::3]))
            elif kind == "jsonl":
                src["paths"][i] = placer.place(p, lambda f: fx.write_jsonl(f, docs))
            elif kind in ("warc", "arc"):  # the demo's WARC (HTML pages, an image, a 404)
                target = p if fnmatch.fnmatch(p, "*.warc*") else p.rstrip("/") + "/rehearsal-00000.warc.gz"
                placer.place(target, lambda f: _copy(fx.DEMO / "warc" / "demo.warc.gz", f))
            else:
                placer.notes.append(f"corpus source {src.get('name')}: kind {kind} is not rehearsed with a fixture")


def _instructions(c: dict, placer: Placer) -> None:
    for src in c.get("sources", []):
        fmt = src.get("format")
        write = (fx.write_alpaca_json if fmt == "alpaca" else fx.write_chat_jsonl if fmt == "chat"
                 else fx.write_alpaca_est_jsonl)
        src["paths"] = [placer.place(p, write) for p in src.get("paths", [])]
    bitext = c.get("bitext") or []
    for i, b in enumerate(bitext):
        if b.get("format", "moses") == "moses" and len(b.get("paths", [])) == 2:
            staged = [placer.root / "bitext" / f"{i}.{side}" for side in ("en", "et")]
            fx.write_moses(staged, i, len(bitext))  # a slice per corpus: the cleaning's cross-corpus dedup keeps them
            b["paths"] = [placer.place(p, lambda f, s=s: _copy(s, f)) for p, s in zip(b["paths"], staged)]
    dec = c.get("decontamination") or {}
    if dec.get("eval_root"):
        dec["eval_root"] = placer.place(dec["eval_root"], fx.write_eval_kit)
    if dec.get("eval_files"):
        dec["eval_files"] = [placer.place(p, lambda f, p=p: fx.write_sgm(f, "en" if ".en." in p else "et"))
                             for p in dec["eval_files"]]
    if c.get("translator"):
        _translator(c, placer)
        # a random-init MT model's output cannot pass QE: thresholds off, so the translated records reach
        # the mixture and SFT (the QE scores are still computed and reported)
        thresholds = (c.get("qe") or {}).get("thresholds") or {}
        for lang, th in thresholds.items():
            thresholds[lang] = {k: None for k in th}
        if thresholds:
            placer.notes.append(f"qe thresholds for {', '.join(thresholds)}: off (random tiny MT output)")


def qe_thresholds_off(c: dict) -> None:
    """An instructions section with a translator and no QE thresholds gets every check that can be off,
    off: the defaults would otherwise judge a random MT model's output (`_instructions` turns off set ones)."""
    import typing

    from llammas_core.instructions.translate.config import QEThresholds

    if c.get("translator") and not (c.get("qe") or {}).get("thresholds"):
        off = {n: None for n, f in QEThresholds.model_fields.items() if type(None) in typing.get_args(f.annotation)}
        c.setdefault("qe", {})["thresholds"] = {"default": off}


def _translator(c: dict, placer: Placer) -> None:
    from llammas_core.instructions import tiny_mt

    t = c["translator"]
    model = str(t.get("model", ""))
    sizes = {k: v for k, v in SIZES["translator"].items() if k != "compute_type" or t.get("backend") == "ctranslate2"}
    t.update(sizes)
    if t.get("backend") == "openai":
        placer.notes.append("translator: an OpenAI-compatible endpoint is not rehearsed offline; tiny Marian instead")
        t.clear()
        t.update(backend="hf_seq2seq", model="builtin:tiny-marian", **SIZES["translator"])
        return
    if model.startswith("builtin:"):
        return
    texts = [r["instruction"] + " " + r["output"] for r in fx.alpaca_records()]
    et = fx.lines(fx.DEMO / "instructions" / "bitext" / "demo.et")
    work = placer.root / "models"
    if t.get("family") in ("nllb", "m2m100"):
        folder = tiny_mt.build_tiny_nllb(texts + et, work / "tiny-nllb", vocab_size=SIZES["tiny_mt_vocab"])
        t["model"] = str(folder)
        placer.notes.append(f"translator {model} -> tiny random-init NLLB {folder}")
        return
    marian = tiny_mt.build_tiny_marian(texts, et, work / "tiny-marian", vocab_size=SIZES["tiny_mt_vocab"])
    if t.get("backend") == "ctranslate2":
        marian = tiny_mt.convert_to_ctranslate2(marian, work / "tiny-marian-ct2")
    if model.startswith("s3://"):
        placer.place(model.rstrip("/"), lambda f: _copy_tree(marian, f))
    else:
        t["model"] = str(marian)
        placer.notes.append(f"translator {model} -> tiny random-init Marian {marian}")


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True)


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def _optim(o: dict | None) -> None:
    if o is not None:
        o["micro_batch_size"] = SIZES["micro_batch_size"]
        if o.get("global_batch_size"):
            o["global_batch_size"] = SIZES["global_batch_size"]
        o.pop("grad_accum", None)


def _train(t: dict, placer: Placer) -> None:
    from llammas_core.train.tiny import save_tiny_base

    model = t.setdefault("model", {})
    base = str(model.get("base", ""))
    if not base.startswith("@"):
        texts = [d["text"] for d in fx.web_docs()] + [r["instruction"] + " " + r["output"] for r in fx.alpaca_records()]
        folder = placer.root / "models" / f"tiny-{base.replace('/', '--')}"
        if not (folder / "config.json").is_file():
            save_tiny_base(folder, texts, **SIZES["base_model"])
        model["base"] = str(folder)
        placer.notes.append(f"model.base {base} -> tiny random-init Llama {folder}")
    _optim(t.get("optim"))
    cpt = t.get("cpt") or {}
    if cpt.get("enabled", True) and cpt.get("sources"):
        cpt["block_size"] = SIZES["block_size"]
        steps = SIZES["cpt_steps"]
        if cpt.get("max_steps"):
            cpt["max_steps"] = min(cpt["max_steps"], steps)
        if cpt.get("max_tokens"):
            cpt["max_tokens"] = steps * SIZES["global_batch_size"] * SIZES["block_size"]
        if cpt.get("validation_blocks"):
            cpt["validation_blocks"] = SIZES["validation_blocks"]
        cpt["eval_every_steps"] = SIZES["eval_every_steps"]
        _optim(cpt.get("optim"))
    sft = t.get("sft") or {}
    if sft.get("enabled", True) and sft.get("sources"):
        sft["max_length"] = min(sft.get("max_length", 1024), SIZES["sft_max_length"])
        sft["max_steps"] = SIZES["sft_steps"]
        if sft.get("validation_examples"):
            sft["validation_examples"] = SIZES["validation_examples"]
        sft["eval_every_steps"] = 2
        sft.pop("tokens_per_micro_batch", None)
        _optim(sft.get("optim"))
    t.setdefault("checkpoint", {})["every_steps"] = SIZES["checkpoint_every_steps"]
    t["launch"] = {**{k: v for k, v in (t.get("launch") or {}).items() if k == "wall_clock_limit_seconds"},
                   **SIZES["launch"]}


_EVAL_WRITERS = {"xcopa": fx.write_xcopa_folder, "belebele": fx.write_belebele, "flores": fx.write_flores_folder,
                 "qa": fx.write_qa}


def _evaluate(e: dict, placer: Placer) -> None:
    for m in e.get("models", []):
        if "batch_size" in m:
            m["batch_size"] = SIZES["eval_batch_size"]
    kept = []
    for task in e.get("tasks", []):
        if task.get("kind") == "lm_eval":
            placer.notes.append(f"evaluate task {task.get('name')}: lm-eval's hub data is not available offline; "
                                "left out of the rehearsal")
            continue
        write = _EVAL_WRITERS.get(task.get("kind"))
        if task.get("kind") == "flores" and placer.languages:  # a column per language `{lang}` stands for
            from llammas_core.languages import flores_code

            write = functools.partial(fx.write_flores_folder, codes=[flores_code(lang) for lang in placer.languages])
        data = task.get("data")
        candidates = data if isinstance(data, list) else [data] if data else []
        if write is not None:
            task["data"] = [placer.place(p, write) for p in candidates]
        task["limit"] = min(task.get("limit") or SIZES["eval_limit"], SIZES["eval_limit"])
        if task.get("max_new_tokens"):
            task["max_new_tokens"] = min(task["max_new_tokens"], SIZES["max_new_tokens"])
        kept.append(task)
    e["tasks"] = kept
    if e.get("bootstrap"):
        e["bootstrap"]["samples"] = SIZES["bootstrap_samples"]
    if e.get("contamination"):
        e["contamination"].update(SIZES["contamination"])
