"""The `instructions` stage: sources + MT + bitext -> one chat-format SFT mixture in the store.

    run_instructions(store, cfg, work_root, log=print, progress=None, endpoint_url=None) -> StageResult

Key: the config, the content fingerprints of every source/bitext/evaluation file (or the ids of
source manifests), the tiny-MT stage id when the demo translator is used, and the code version.

Output folder `instructions/<key>/`:
    data/part-NNNNN.parquet   the mixture: `messages` (list of {role, content}) + metadata columns
                              (component, pool, source, language, origin, direction,
                              instruction_language, template, id, qe (JSON), qe_<score> floats)
    removed/<pool>.jsonl      records removed by QE, bitext filters, decontamination or dedup, with reasons
    quarantine/<pool>.jsonl   bad input (malformed, missing/non-string fields, empty outputs, a field over
                              max_field_chars, empty or non-UTF-8 bitext lines, MT that broke protected
                              spans or was cut: output_truncated, source_truncated, source_too_long),
                              examples bounded per source
    README.md                 dataset card (sources, licences, counts, QE distribution)
    stats.json                all statistics below
    qe_hist.png               QE score histograms (when anything was translated)
    manifest.json             last; extra fields: records, language, format="chat-parquet",
                              counts {in, kept, removed, quarantined}, removed {reason: n},
                              quarantined {reason: n}, components {name: records}, pools, bitext,
                              translation, decontamination, steps (table rows for the UI)

Per pool, in = kept + removed + quarantined (checked before commit; every reason counts records,
so a pool with any number of duplicates balances); records of a pool that the
mixture did not sample are counted as removed `mixture:not_sampled` but not written out.

The train stage reads `data/*.parquet` of this manifest (`sft.sources: ["@instructions"]` or the
manifest URI): llammas_core.train.sft_data.load_chat_records accepts it as is.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from llammas_core.contamination import NgramIndex, default_eval_files
from llammas_core.errors import ConfigError, InputError
from llammas_core.instructions import sources as src
from llammas_core.instructions.bitext import BitextStats, clean_bitext, read_bitext
from llammas_core.instructions.card import dataset_card, numeric_qe, qe_histogram, quantiles
from llammas_core.instructions.config import BITEXT_POOL, TINY_MT, InstructionsConfig
from llammas_core.instructions.mixture import LazyPool, build_mixture
from llammas_core.instructions.templates import translation_record
from llammas_core.stage import StageContext, StageResult, committed_files, run_stage, sha256_file
from llammas_core.store import Store

__all__ = ["run_instructions", "instructions_inputs", "instructions_view"]

Log = Callable[[str], None]


# --------------------------------------------------------------------------- identities


def _fingerprint_any(paths: list[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for p in paths:
        for store, key in src.resolve_files_any(p):
            local = store.local_path(key)
            if local is not None:
                digest.update(sha256_file(Path(local)).encode())
            else:
                size = next((s for k, s in store.list(key) if k == key), -1)
                digest.update(f"{store.url(key)}\0{size}".encode())
    return digest.hexdigest()[:20]


def eval_files(cfg: InstructionsConfig) -> list[Path]:
    d = cfg.decontamination
    if not d.enabled:
        return []
    files = default_eval_files(d.eval_root) if d.eval_root else []
    for f in d.eval_files:
        p = Path(f).expanduser()
        if not p.exists():
            raise ConfigError(f"decontamination.eval_files: {f} does not exist")
        files.append(p)
    return files


def instructions_inputs(cfg: InstructionsConfig) -> tuple[list[dict], list[str]]:
    """(input manifests, fingerprints) that enter the stage key; also the Prefect cache identity."""
    manifests, prints = [], []
    for s in cfg.sources:
        m, p = src.fingerprint(s.paths)
        manifests += m
        prints += [f"{s.name}:{x}" for x in p]
    for b in cfg.bitext:
        prints.append(f"bitext:{b.name}:{_fingerprint_any(b.paths)}")
    for f in eval_files(cfg):
        prints.append(f"eval:{f.name}:{_fingerprint_any([str(f)])}")
    return manifests, prints


# --------------------------------------------------------------------------- tiny MT (demo/CI)


def _tiny_mt(store: Store, cfg: InstructionsConfig, work_root: Path, prints: list[str], log: Log) -> tuple[str, dict]:
    """Build (once, as its own content-addressed stage) the random-init Marian of `translator.model: builtin:tiny-marian`."""
    from llammas_core.instructions.tiny_mt import build_tiny_marian

    t = cfg.tiny_mt
    key_cfg = {"tiny_mt": t.model_dump(), "src": cfg.source_language, "tgt": cfg.language}

    def body(ctx: StageContext) -> dict:
        src_texts, tgt_texts = [], []
        scratch = BitextStats(keep_examples=0)
        for b in cfg.bitext:
            for pair in read_bitext(b, scratch):
                if len(src_texts) >= t.max_texts:
                    break
                src_texts.append(pair.src)
                tgt_texts.append(pair.tgt)
        if not src_texts:  # no bitext: the instruction texts themselves
            for s in cfg.sources:
                records, _ = src.read_source(s.name, s.paths, s.format, s.language, max_records=t.max_texts,
                                             keep_examples=0, max_field_chars=cfg.max_field_chars)
                src_texts += [x for r in records for x in src.record_texts(r) if x.strip()][: t.max_texts]
            tgt_texts = src_texts
        build_tiny_marian(src_texts, tgt_texts, ctx.out_dir / "model", vocab_size=t.vocab_size, shape=t.shape,
                          seed=t.seed, src_lang=cfg.source_language, tgt_lang=cfg.language)
        return {"texts": len(src_texts) + len(tgt_texts)}

    # keyed on what it is trained on: the bitext when there is one (a grown instruction set then
    # keeps the same model, so the segment cache still applies), else the instruction sources
    trained_on = [p for p in prints if p.startswith("bitext:")] or [p for p in prints if not p.startswith("eval:")]
    result = run_stage(store, "tiny_mt", key_cfg, [], body, work_root, extra_key=trained_on, log=log)
    files = committed_files(store, result.manifest, "model/", cache_dir=Path(work_root) / "cache")
    model_dir = next(f.parent for f in files if f.name == "config.json")
    log(f"[instructions] tiny MT model {'reused' if result.skipped else 'built'}: {result.manifest['id']}")
    return str(model_dir), result.manifest


# --------------------------------------------------------------------------- writers


class JsonlSink:
    """Append-only JSONL files per name under a folder, opened lazily."""

    def __init__(self, folder: Path):
        self.folder, self.files = folder, {}

    def write(self, name: str, obj: dict) -> None:
        f = self.files.get(name)
        if f is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            f = self.files[name] = open(self.folder / f"{name.replace('@', '_').replace('/', '_')}.jsonl", "w", encoding="utf-8")
        f.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")

    def close(self) -> None:
        for f in self.files.values():
            f.close()


META = ["id", "component", "pool", "source", "language", "origin", "direction", "instruction_language", "template"]


def write_shards(rows: list[dict], folder: Path, shard_records: int) -> list[str]:
    """Parquet shards with one schema: messages + META strings + qe JSON + qe_<score> floats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    qe_keys = sorted({k for r in rows for k in numeric_qe(r.get("qe"))})
    # an Alpaca-style user turn (x-LLaMA) keeps its input apart; the column exists only when one does
    turn = ["role", "content"] + (["input"] if any("input" in m for r in rows for m in r["messages"]) else [])
    msg_type = pa.list_(pa.struct([(k, pa.string()) for k in turn]))
    fields = [pa.field("messages", msg_type)] + [pa.field(m, pa.string()) for m in META] + [pa.field("qe", pa.string())]
    fields += [pa.field(f"qe_{k}", pa.float64()) for k in qe_keys]
    schema = pa.schema(fields)
    names = []
    for n, start in enumerate(range(0, max(len(rows), 1), shard_records)):
        chunk = rows[start:start + shard_records]
        cols = {"messages": [[{k: m.get(k) for k in turn} for m in r["messages"]] for r in chunk]}
        for m in META:
            cols[m] = [None if r.get(m) is None else str(r[m]) for r in chunk]
        cols["qe"] = [json.dumps(r["qe"], sort_keys=True, default=str) if r.get("qe") else None for r in chunk]
        for k in qe_keys:
            cols[f"qe_{k}"] = [numeric_qe(r.get("qe")).get(k) for r in chunk]
        name = f"part-{n:05d}.parquet"
        pq.write_table(pa.table(cols, schema=schema), folder / name)
        names.append(name)
    return names


# --------------------------------------------------------------------------- translation


def _translate_pool(cfg: InstructionsConfig, translator_cfg, store: Store, records: list[dict], index, log: Log,
                    progress, removed: JsonlSink, quarantine: JsonlSink, pool: str, acct: dict) -> tuple[list[dict], dict]:
    """Machine-translate a source's records; ok records become the pool, the rest are written with reasons."""
    from llammas_core.instructions.cache import SegmentCache
    from llammas_core.instructions.fanout import mt_parent_config, start_workers
    from llammas_core.instructions.mt import translate_items
    from llammas_core.instructions.translate import make_translator

    thr = cfg.decontamination.threshold
    todo = []
    for r in records:  # contaminated sources are not worth translating
        if index is not None and any(index.contaminated(t, thr) for t in src.record_texts(r)):
            _count(acct["removed"], "source:contaminated")
            removed.write(pool, {**r, "reasons": ["contaminated"]})
        else:
            todo.append(r)
    translator = make_translator(mt_parent_config(translator_cfg))
    reverse = workers = None
    try:
        identity = translator.identity()
        cache = SegmentCache(store, identity)
        workers = start_workers(translator_cfg, store, identity, log) if todo else None
        if cfg.qe.roundtrip:  # the reverse MT of the round-trip check (the demo's tiny model serves both ways)
            rcfg = cfg.qe.roundtrip_translator
            if rcfg.model == TINY_MT:
                rcfg = rcfg.model_copy(update={"model": translator_cfg.model})
            reverse = make_translator(rcfg)
        started = time.time()
        results = translate_items([src.record_texts(r) for r in todo], translator, cache, cfg.qe, progress=progress,
                                  reverse=reverse, chunk_segments=translator_cfg.chunk_segments, pool=workers)
        seconds = time.time() - started
    finally:
        if workers is not None:
            workers.close()
        translator.close()
        if reverse is not None:
            reverse.close()
    out, qes = [], {"kept": [], "removed": []}
    direction = f"{todo[0]['language'] if todo else cfg.source_language}-{cfg.language}"
    for rec, res in zip(todo, results):
        if res.verdict == "ok":
            out.append(src.with_texts(rec, list(res.texts), id=f"{rec['id']}@{cfg.language}", language=cfg.language,
                                      origin="machine_translated", direction=direction, qe=res.qe))
            qes["kept"].append(res.qe)
            continue
        reasons = list(res.reasons) or ["unspecified"]
        kind = "quarantined" if res.verdict == "quarantined" else "removed"
        _count(acct[kind], f"mt:{reasons[0]}")
        sink = quarantine if kind == "quarantined" else removed
        item = {**rec, "reasons": reasons, "qe": res.qe}
        if res.texts is not None:
            item["translation"] = list(res.texts)
        sink.write(pool, item)
        qes["removed"].append(res.qe)  # quarantined translations too (e.g. truncated): their QE still tells
    info = {"translator": identity, "records": len(todo), "ok": len(out), "seconds": round(seconds, 2),
            "workers": translator_cfg.workers,
            "roundtrip_translator": reverse.identity() if reverse is not None else None}
    info["cache"] = {"segment_hits": cache.hits, "segment_misses": cache.misses, "id": cache.id}
    log(f"[instructions] translated {pool}: {len(out)}/{len(todo)} ok in {seconds:.1f}s")
    return out, {**info, "_qe": qes}


def _count(d: dict, key: str, n: int = 1) -> None:
    d[key] = d.get(key, 0) + n


# --------------------------------------------------------------------------- the stage


def run_instructions(store: Store, cfg: InstructionsConfig, work_root: str | Path, log: Log = print,
                     progress: Callable[[int, int], None] | None = None,
                     endpoint_url: str | None = None) -> StageResult:
    """Build (or reuse) the instruction mixture of `cfg`; see the module docstring for the output."""
    cfg.require_usable()
    work_root = Path(work_root).expanduser()
    manifests, prints = instructions_inputs(cfg)
    translator_cfg = cfg.translator
    demo_mt = translator_cfg is not None and getattr(translator_cfg, "model", None) == TINY_MT
    if demo_mt and any(s.translate for s in cfg.sources):
        model_dir, tiny_manifest = _tiny_mt(store, cfg, work_root, prints, log)
        translator_cfg = translator_cfg.model_copy(update={"model": model_dir})
        manifests = manifests + [tiny_manifest]
    if progress is None:
        def progress(done: int, total: int) -> None:
            log(f"[translate] step {done}/{total} segments")

    def body(ctx: StageContext) -> dict:
        out = ctx.out_dir
        for sub in ("data", "removed", "quarantine"):  # a resumed attempt starts its outputs afresh
            for f in (out / sub).glob("*") if (out / sub).is_dir() else []:
                f.unlink()
        removed, quarantine = JsonlSink(out / "removed"), JsonlSink(out / "quarantine")
        t0 = time.time()
        steps = []

        def step(name: str, n_in: int, n_out: int, started: float) -> None:
            steps.append({"step": name, "in": n_in, "out": n_out, "seconds": round(time.time() - started, 2)})

        # evaluation index
        index, files = None, eval_files(cfg)
        if files:
            index = NgramIndex(cfg.decontamination.n)
            for f in files:
                index.add_file(f)
            log(f"[instructions] decontamination index: {index.texts} texts, {len(index)} n-grams from {len(files)} files")
        thr = cfg.decontamination.threshold

        pools: dict[str, object] = {}
        acct: dict[str, dict] = {}
        qe_kept, qe_removed, translation = [], [], {}
        try:
            for s in cfg.sources:
                started = time.time()
                records, rs = src.read_source(s.name, s.paths, s.format, s.language, s.max_records, cfg.quarantine_examples,
                                              cfg.max_field_chars)
                for ex in rs.examples:
                    quarantine.write(s.name, ex)
                acct[s.name] = {"in": rs.read, "removed": {},
                                "quarantined": {f"source:{k}": v for k, v in rs.quarantined.items()}}
                pools[s.name] = records
                step(f"read {s.name}", rs.read, len(records), started)
                log(f"[instructions] {s.name}: {rs.read} read, {len(records)} valid, {rs.n_quarantined} quarantined")
                if s.translate:
                    started = time.time()
                    pool = f"{s.name}@{cfg.language}"
                    chosen = records[: s.translate_max] if s.translate_max else records
                    acct[pool] = {"in": len(chosen), "removed": {}, "quarantined": {}}
                    pools[pool], info = _translate_pool(cfg, translator_cfg, store, chosen, index, log, progress,
                                                        removed, quarantine, pool, acct[pool])
                    qe_kept += info["_qe"]["kept"]
                    qe_removed += info["_qe"]["removed"]
                    translation[pool] = {k: v for k, v in info.items() if k != "_qe"}
                    step(f"translate {s.name}", len(chosen), len(pools[pool]), started)
            bitext_stats = None
            if cfg.bitext:
                started = time.time()
                pairs, bs = clean_bitext(cfg.bitext, cfg.cleaning, cfg.source_language, cfg.language, index, thr,
                                         cfg.quarantine_examples)
                for ex in bs.examples:
                    (quarantine if ex["kind"] == "quarantined" else removed).write("bitext", ex)
                acct[BITEXT_POOL] = {"in": bs.read, "removed": {f"bitext:{k}": v for k, v in bs.removed.items()},
                                     "quarantined": {f"bitext:{k}": v for k, v in bs.quarantined.items()}}
                pools[BITEXT_POOL] = LazyPool(len(pairs), lambda i: translation_record(
                    pairs[i].src, pairs[i].tgt, i, cfg.source_language, cfg.language, pairs[i].source, cfg.templates))
                bitext_stats = {"read": bs.read, "kept": bs.kept, "removed": bs.removed, "quarantined": bs.quarantined}
                step("clean bitext", bs.read, bs.kept, started)
                log(f"[instructions] bitext: {bs.read} pairs read, {bs.kept} kept; removed {bs.removed}; "
                    f"quarantined {bs.quarantined}")

            started = time.time()

            def on_removed(rec: dict, component: str, reason: str) -> None:
                removed.write(rec.get("pool") or component, {**rec, "component": component, "reasons": [reason]})

            for name, pool in pools.items():  # origin of every record, for the metadata columns
                if isinstance(pool, list):
                    for r in pool:
                        r.setdefault("origin", "native")
            rows, comp_stats = build_mixture(pools, cfg.mixture, index, thr, on_removed)
            for r in rows:
                r.setdefault("origin", "translation_task" if r["pool"] == BITEXT_POOL else "native")
            used = set()
            for name, c in comp_stats.items():
                used.add(c.pool)
                a = acct[c.pool]
                a["kept"] = c.kept
                for reason, n in c.removed.items():  # n records each, not one per reason
                    _count(a["removed"], f"mixture:{reason}", n)
                if c.not_sampled:
                    _count(a["removed"], "mixture:not_sampled", c.not_sampled)
            for pool_name, pool in pools.items():
                if pool_name not in used:
                    acct[pool_name]["kept"] = 0
                    if len(pool):
                        _count(acct[pool_name]["removed"], "mixture:not_in_mixture", len(pool))
            step("mixture", sum(len(p) for p in pools.values()), len(rows), started)
        finally:
            removed.close()
            quarantine.close()
        if not rows:
            raise InputError("instructions: the mixture is empty (every record was removed or quarantined; see the log)")

        # accounting: in = kept + removed + quarantined, per pool
        for pool_name, a in acct.items():
            total = a["kept"] + sum(a["removed"].values()) + sum(a["quarantined"].values())
            if total != a["in"]:
                raise RuntimeError(f"instructions: accounting error in pool {pool_name}: in {a['in']} != {total} ({a})")
        by_reason = {"removed": {}, "quarantined": {}}
        for a in acct.values():
            for kind in by_reason:
                for k, v in a[kind].items():
                    _count(by_reason[kind], k, v)
        counts = {"in": sum(a["in"] for a in acct.values()), "kept": len(rows),
                  "removed": sum(by_reason["removed"].values()), "quarantined": sum(by_reason["quarantined"].values())}

        write_shards(rows, out / "data", cfg.mixture.shard_records)
        has_hist = qe_histogram(qe_kept, qe_removed, out / "qe_hist.png")
        qe_keys = sorted({k for q in qe_kept + qe_removed for k in numeric_qe(q)})
        qe_dist = {k: {"n": sum(k in numeric_qe(q) for q in qe_kept + qe_removed),
                       "quantiles": quantiles([numeric_qe(q)[k] for q in qe_kept + qe_removed if k in numeric_qe(q)])}
                   for k in qe_keys}
        lengths = [sum(len(m["content"]) for m in r["messages"]) for r in rows]
        stats = {
            "records": len(rows),
            "counts": counts,
            "counts_by_reason": by_reason,
            "pools": acct,
            "components": {n: c.as_dict() for n, c in comp_stats.items()},
            "bitext": bitext_stats,
            "translation": next(iter(translation.values()), {}) if len(translation) == 1 else translation,
            "qe_distribution": qe_dist,
            "qe_histogram": "qe_hist.png" if has_hist else None,
            "decontamination": {"enabled": cfg.decontamination.enabled, "n": cfg.decontamination.n, "threshold": thr,
                                "files": [str(f) for f in files], "texts": index.texts if index else 0,
                                "removed": sum(v for k, v in by_reason["removed"].items() if k.endswith("contaminated"))},
            "by_language": _tally(rows, "language"),
            "by_origin": _tally(rows, "origin"),
            "by_direction": _tally([r for r in rows if r.get("direction")], "direction"),
            "chars_per_record": quantiles(lengths),
            "turns": _tally([{"t": str(len(r["messages"]))} for r in rows], "t"),
            "steps": steps,
            "seconds": round(time.time() - t0, 2),
        }
        (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False, default=str))
        (out / "README.md").write_text(dataset_card(cfg, stats, demo_mt))
        log(f"[instructions] mixture: {len(rows)} records; components "
            + ", ".join(f"{n} {c.kept}" for n, c in comp_stats.items()))
        return {
            "records": len(rows),
            "language": cfg.language,
            "format": "chat-parquet",
            "data": "data/*.parquet",
            "counts": counts,
            "removed": by_reason["removed"],
            "quarantined": by_reason["quarantined"],
            "components": {n: c.kept for n, c in comp_stats.items()},
            "pools": acct,
            "bitext": bitext_stats,
            "translation": stats["translation"],
            "decontamination": stats["decontamination"],
            "steps": steps,
        }

    return run_stage(store, "instructions", instructions_view(cfg), manifests, body, work_root, extra_key=prints,
                     log=log)


def instructions_view(cfg: InstructionsConfig) -> dict:
    """The config as the stage's identity: how many MT workers ran, where, and in what chunks, does not change
    the output (fanout.py), so those settings are left out (and the keys of earlier configs stay as they were)."""
    view = cfg.model_dump(mode="json")
    for t in (view.get("translator"), (view.get("qe") or {}).get("roundtrip_translator")):
        for k in ("workers", "ray_address", "chunk_segments"):
            (t or {}).pop(k, None)
    return view


def _tally(rows: list[dict], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        _count(out, str(r.get(key)))
    return out
