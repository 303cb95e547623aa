"""The `muit` stage: the per-language instructions stages -> one multilingual SFT mixture (m-LLaMA).

    run_muit(store, cfg, inputs={lang: instructions manifest URI}, caps={lang: n} | None, work_root) -> StageResult

Per language, in the order of `languages`:
1. its records (the language's own mixture, as committed);
2. `caps[lang]`: at most that many records of the translation component (x-LLaMA's scaling knob; the
   allocation stage's caps), a seeded sample; the rest are removed as `muit:translation_cap`;
3. dedup across languages (exact, on the conversation): the English records every language's stage holds
   enter once, with the first language; repeats are removed as `muit:duplicate`;
4. `weights` with `total`: the language's share of the mixture (largest remainder, as the instructions
   mixture plans its components); records beyond it are `muit:not_sampled`.
Per language, in = kept + removed (checked before commit). The output has the shape of an instructions
stage (`format: chat-parquet`, `data/*.parquet`), so `train.sft.sources: ['@instructions']` reads it as is.

Key: the section (less the model switches), the caps, the languages and the input manifest ids.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Callable

from llammas_core.errors import InputError
from llammas_core.instructions.config import Component
from llammas_core.instructions.mixture import plan
from llammas_core.instructions.stage import write_shards
from llammas_core.multilingual.config import MuitConfig
from llammas_core.stage import StageContext, StageResult, committed_files, read_manifest, run_stage
from llammas_core.store import Store

STAGE = "muit"
MODEL_SWITCHES = {"per_language_models", "compare_uniform", "caps_from"}  # what to train, not what the data is


def _read_rows(store: Store, manifest: dict, cache_dir: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for path in sorted(p for p in committed_files(store, manifest, "data/", cache_dir) if p.suffix == ".parquet"):
        for r in pq.read_table(path).to_pylist():
            r["qe"] = json.loads(r["qe"]) if r.get("qe") else None
            r["messages"] = [{k: v for k, v in m.items() if v is not None} for m in r["messages"]]
            rows.append(r)
    return rows


def conversation_key(row: dict) -> str:
    canon = [[m["role"], " ".join(m["content"].split()), " ".join(m.get("input", "").split())] for m in row["messages"]]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode()).hexdigest()


def _count(d: dict, key: str, n: int) -> None:
    if n:
        d[key] = d.get(key, 0) + n


def combine(rows_by_lang: dict[str, list[dict]], cfg: MuitConfig, caps: dict[str, int] | None) -> tuple[list[dict], dict]:
    """(mixture rows, accounting per language); see the module docstring."""
    acct: dict[str, dict] = {}
    kept_by_lang: dict[str, list[dict]] = {}
    seen: set[str] = set()
    for lang, rows in rows_by_lang.items():
        a = acct[lang] = {"in": len(rows), "removed": {}, "translation": {}}
        rng = random.Random(f"{cfg.seed}:{lang}")
        order = list(rows)
        rng.shuffle(order)
        trans = [r for r in order if r.get("component") == cfg.translation_component]
        cap = None if caps is None else caps.get(lang)
        allowed = len(trans) if cap is None else min(cap, len(trans))
        a["translation"] = {"available": len(trans), "cap": cap, "kept": allowed}
        dropped = {id(r) for r in trans[allowed:]}
        _count(a["removed"], "muit:translation_cap", len(dropped))
        out = []
        for r in order:
            if id(r) in dropped:
                continue
            if cfg.dedup:
                key = conversation_key(r)
                if key in seen:
                    _count(a["removed"], "muit:duplicate", 1)
                    if r.get("component") == cfg.translation_component:
                        a["translation"]["kept"] -= 1
                    continue
                seen.add(key)
            out.append(r)
        kept_by_lang[lang] = out
    if cfg.weights is not None:
        comps = [Component(name=lang, pool=lang, weight=cfg.weights[lang]) if lang in cfg.weights
                 else Component(name=lang, pool=lang, max_records=0) for lang in kept_by_lang]
        quota = plan(comps, {lang: len(r) for lang, r in kept_by_lang.items()}, cfg.total)
        for lang, rows in kept_by_lang.items():
            n = min(quota[lang], len(rows))
            _count(acct[lang]["removed"], "muit:not_sampled", len(rows) - n)
            acct[lang]["shortfall"] = quota[lang] - n
            acct[lang]["translation"]["kept"] = sum(r.get("component") == cfg.translation_component for r in rows[:n])
            kept_by_lang[lang] = rows[:n]
    mixture = []
    for lang, rows in kept_by_lang.items():
        acct[lang]["kept"] = len(rows)
        if acct[lang]["kept"] + sum(acct[lang]["removed"].values()) != acct[lang]["in"]:
            raise RuntimeError(f"muit: accounting error for {lang}: {acct[lang]}")
        mixture += rows
    random.Random(f"{cfg.seed}:order").shuffle(mixture)
    return mixture, acct


def _card(cfg: MuitConfig, acct: dict, caps: dict | None, records: int) -> str:
    lines = [f"# {cfg.name}: multilingual instruction mixture (MuIT)", "",
             f"{records} records from {len(acct)} languages' instructions stages.", "",
             "| language | in | translation available | translation cap | translation kept | kept | removed |",
             "|---|---|---|---|---|---|---|"]
    for lang, a in acct.items():
        t = a["translation"]
        removed = ", ".join(f"{k} {v}" for k, v in sorted(a["removed"].items())) or "-"
        lines.append(f"| {lang} | {a['in']} | {t['available']} | {'' if t['cap'] is None else t['cap']} | "
                     f"{t['kept']} | {a['kept']} | {removed} |")
    if caps is not None:
        lines += ["", f"Translation caps: {json.dumps(caps)}"]
    return "\n".join(lines) + "\n"


def run_muit(store: Store, cfg: MuitConfig, inputs: dict[str, str], caps: dict[str, int] | None,
             work_root: str | Path, log: Callable[[str], None] = print, endpoint_url: str | None = None) -> StageResult:
    """Combine (or reuse the committed combination of) the per-language instructions stages."""
    manifests = {lang: read_manifest(uri, endpoint_url) for lang, uri in inputs.items()}
    for lang, m in manifests.items():
        if m.get("format") != "chat-parquet":
            raise InputError(f"muit: the input for {lang} ({m.get('id')}) is not an instruction mixture (chat-parquet)")
    work_root = Path(work_root).expanduser()
    config = {**cfg.model_dump(mode="json", exclude=MODEL_SWITCHES | {"translation_caps"}),
              "languages": list(inputs), "translation_caps": caps}

    def body(ctx: StageContext) -> dict:
        rows_by_lang = {lang: _read_rows(store, m, work_root / "cache") for lang, m in manifests.items()}
        rows, acct = combine(rows_by_lang, cfg, caps)
        if not rows:
            raise InputError("muit: the mixture is empty")
        write_shards(rows, ctx.out_dir / "data", cfg.shard_records)
        (ctx.out_dir / "README.md").write_text(_card(cfg, acct, caps, len(rows)), encoding="utf-8")
        (ctx.out_dir / "stats.json").write_text(json.dumps({"languages": acct, "caps": caps}, indent=2), encoding="utf-8")
        for lang, a in acct.items():
            log(f"[muit] {lang}: {a['kept']}/{a['in']} records (translation {a['translation']['kept']} of "
                f"{a['translation']['available']}{'' if a['translation']['cap'] is None else ', cap ' + str(a['translation']['cap'])})")
        return {"records": len(rows), "language": "+".join(inputs), "languages": list(inputs),
                "format": "chat-parquet", "data": "data/*.parquet", "by_language": acct,
                "components": {lang: a["kept"] for lang, a in acct.items()}, "translation_caps": caps}

    return run_stage(store, STAGE, config, list(manifests.values()), body, work_root, log=log)
