"""MinHash near-duplicate removal, measured on planted near-duplicates of real Estonian text.

Corpus (~910 documents, built in ~12 s): 520 distinct base documents of 150-300 words, runs of
consecutive sentences of the UD Estonian treebank texts in ../shared/data/ud_estonian (skipped
when the kit is absent); bases with J >= 0.2 to an earlier base are dropped. For 390 of them a
variant is planted, edited until its TRUE Jaccard with the base reaches a target: 40 pairs at
0.3-0.5 (not near-duplicates), 150 over 0.5-0.8, 100 at the 0.80-0.84 boundary (where recall
0.95 is hardest: the LSH catch probability rises with J), 60 over 0.84-0.98, by word
substitutions, deletions, insertions, a mix of the three, appended or prepended foreign
sentences, or truncation; plus 25 J = 1.0 variants that differ only in case, punctuation, digits
or diacritics and 15 exact copies up to case/whitespace (removed by the exact stage). The other
130 bases are singletons.

TRUE Jaccard: on exactly the shingles datatrove's MinhashDedupSignature hashes (its own
get_shingles): simplify_text with the default TextNormConfig (lowercase, digits -> 0,
punctuation -> space, diacritics stripped, whitespace collapsed), the word tokenizer datatrove
assigns to "et" (spaCy blank "et"), 5-gram word shingles, each hashed with the run's 64-bit
hash; J = |A & B| / |A | B| over the sets of shingle hashes.

The corpus goes through OUR pipeline, `run_corpus_pipeline` (quarantining JSONL reader, LID,
JSONL scratch, exact dedup, MinHash signatures/buckets/cluster, final filter, Parquet writer) on
the local executor, with the quality filters and PII off and the LID threshold 0 (documents
that LID still calls non-Estonian would be left out of the figures; at most 2% allowed).

Figures (printed with `pytest -s`):
  recall@0.8: planted pairs with J >= 0.8 of which EXACTLY ONE document survives (both kept:
              missed; both removed: also wrong) / all such pairs. Required >= 0.95.
  precision:  removed documents that are true near-duplicates of a document that was KEPT,
              i.e. max over kept docs of J(removed, kept) >= 0.5, / all removed documents
              (exact and MinHash). Planted pairs go down to J 0.3, so a scheme that over-reaches
              shows up. Required >= 0.99. Also printed with the bound 0.7 (informational only: it
              depends on how many 0.5-0.7 pairs were planted, which LSH catches 10-50% of).
  per-J-bin catch rates next to the LSH S-curve P(J) = 1 - (1 - J^r)^b at the bin's mean J, and
  the same pairs banded in-process with datatrove's default 14 buckets x 8 hashes.
The pipeline's decisions must equal in-process LSH banding of each pair (same seed, same hash).

Configuration under test (DEDUP below): 20 buckets x 8 hashes, recommended as the DedupConfig
default instead of datatrove's 14 x 8. Pointwise catch probabilities, 14x8 -> 20x8:
J 0.80: 0.924 -> 0.975; 0.75: 0.77 -> 0.88; 0.70: 0.56 -> 0.70; 0.60: 0.21 -> 0.29;
0.50: 0.053 -> 0.075; 0.40: 0.009 -> 0.013. On this corpus 14x8 banded gives recall@0.8 ~0.97
(it passes the aggregate, because pairs above 0.85 are caught almost surely) but only 0.92-0.95
at the 0.80-0.85 boundary; 20x8 gives >= 0.975 at every J >= 0.8.
"""

from __future__ import annotations

import gzip
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from llammas_core.corpus.config import (
    C4Config,
    CorpusConfig,
    DedupConfig,
    ExecutorConfig,
    FiltersConfig,
    FineWebQualityConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    LidConfig,
    PIIConfig,
    SourceConfig,
)
from llammas_core.corpus.dedup import minhash_config
from llammas_core.corpus.pipeline import run_corpus_pipeline
from tests.conftest import shared_data

SEED = 20240611
N_BASE = 520
BASE_FILES = ["et_edt-ud-dev.txt", "et_edt-ud-test.txt", "et_ewt-ud-train.txt", "et_ewt-ud-dev.txt",
              "et_ewt-ud-test.txt"]
POOL_FILE = "et_edt-ud-legacy-r2.0-r2.1.txt"  # appended/prepended sentences (each used once)

# the configuration under test = the recommended DedupConfig defaults
DEDUP = DedupConfig(exact=True, minhash=True, n_grams=5, num_buckets=20, hashes_per_bucket=8)
DATATROVE_DEFAULT = DedupConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
NEAR_DUP = 0.5  # precision: a removed doc must have J >= this with a kept doc
BINS = [(0.3, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.75), (0.75, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.95),
        (0.95, 1.0), (1.0, 1.01)]


def s_curve(j: float, b: int, r: int) -> float:
    return 1 - (1 - j ** r) ** b


# ------------------------------------------------------------------------------ shingles


class Shingler:
    """datatrove's own shingling (MinhashDedupSignature.get_shingles) and LSH banding."""

    def __init__(self, cfg: DedupConfig):
        from datatrove.pipeline.dedup import MinhashDedupSignature

        self.sig = MinhashDedupSignature("/tmp/unused-minhash-sigs", minhash_config(cfg), language="et")
        self._cache: dict[str, frozenset] = {}

    def shingles(self, text: str) -> frozenset:
        if text not in self._cache:
            self._cache[text] = frozenset(self.sig.get_shingles(text).ravel().tolist())
        return self._cache[text]

    def fast(self, text: str) -> frozenset:
        """Whitespace split instead of spaCy: only to steer the edit search (the recorded J is exact)."""
        from datatrove.utils.text import simplify_text

        w = simplify_text(text, self.sig.config.norm_config).split()
        n = self.sig.config.n_grams
        return frozenset(hash(tuple(w[i:i + n])) for i in range(max(1, len(w) - n + 1)))

    def bands(self, text: str, sig_step) -> list[tuple]:
        arr = np.fromiter(self.shingles(text), dtype=np.uint64).reshape((-1, 1))
        return [tuple(b) for b in sig_step.get_signature(arr)]


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


# ------------------------------------------------------------------------------ corpus


def base_documents(ud: Path, rng: random.Random) -> list[str]:
    """Consecutive sentences of each file, cut into documents of 150-300 words."""
    docs = []
    for name in BASE_FILES:
        sents = [s.strip() for s in (ud / name).read_text(encoding="utf-8").splitlines() if s.strip()]
        cur, words, target = [], 0, rng.randint(150, 300)
        for s in sents:
            cur.append(s)
            words += len(s.split())
            if words >= target:
                docs.append(" ".join(cur))
                cur, words, target = [], 0, rng.randint(150, 300)
    return docs


def with_edits(words: list[str], mode: str, k: int, plan: dict) -> list[str]:
    """Apply the first k edits of a fixed random plan (so J falls as k grows)."""
    w = list(words)
    if mode == "sub":
        for pos, new in plan["subs"][:k]:
            w[pos] = new
    elif mode == "del":
        drop = set(plan["order"][:k])
        w = [x for i, x in enumerate(w) if i not in drop]
    elif mode == "ins":
        for pos, new in sorted(plan["ins"][:k], reverse=True):
            w.insert(pos, new)
    elif mode == "mix":
        drop = set()
        for kind, pos, new in plan["mix"][:k]:
            if kind == "sub":
                w[pos] = new
            elif kind == "del":
                drop.add(pos)
            else:
                w[pos] = f"{w[pos]} {new}"
        w = [x for i, x in enumerate(w) if i not in drop]
    elif mode in ("append", "prepend"):
        extra = " ".join(plan["pool"][:k]).split()
        w = w + extra if mode == "append" else extra + w
    elif mode == "trunc":
        w = w[: len(w) - k]
    return w


def plant_variant(base: str, target: float, mode: str, rng: random.Random, vocab: list[str], pool: list[str],
                  sh: Shingler) -> tuple[str, float, int]:
    """(variant text, true J, pool sentences used): the edit count whose J is closest to target."""
    words = base.split()
    n = len(words)
    positions = list(range(n))
    rng.shuffle(positions)
    plan = {
        "subs": [(p, rng.choice(vocab)) for p in positions],
        "order": positions,
        "ins": [(rng.randrange(n + 1), rng.choice(vocab)) for _ in range(n)],
        "mix": [(rng.choice(("sub", "del", "ins")), p, rng.choice(vocab)) for p in positions],
        "pool": pool[:60],
    }
    k_max = {"append": len(plan["pool"]), "prepend": len(plan["pool"]), "trunc": n - 10}.get(mode, n)
    a = sh.fast(base)

    def j_at(k: int) -> float:
        return jaccard(a, sh.fast(" ".join(with_edits(words, mode, k, plan))))

    lo, hi = 1, k_max  # J(lo) >= target > J(hi), J roughly decreasing in k
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if j_at(mid) >= target:
            lo = mid
        else:
            hi = mid
    k = min((lo, hi), key=lambda x: abs(j_at(x) - target))
    text = " ".join(with_edits(words, mode, k, plan))
    return text, jaccard(sh.shingles(base), sh.shingles(text)), (k if mode in ("append", "prepend") else 0)


def surface_variant(base: str, rng: random.Random, exact: bool) -> str:
    """Same shingles (J = 1.0): case, punctuation, digits, diacritics; or an exact copy up to case
    and whitespace (what the exact stage catches)."""
    if exact:
        # (not upper case: lid.176 scores ALL-CAPS Estonian as en/de/da... at ~0.1 and LID drops it)
        return "  ".join(base.lower().split()) if rng.random() < 0.5 else base.replace(". ", ".\n")
    out = []
    for w in base.split():
        r = rng.random()
        if r < 0.15:
            w = w.upper()
        elif r < 0.25:
            w = w.rstrip(".,!?") + rng.choice([",", ";", " -", ""])
        elif r < 0.30:
            w = "".join(str(rng.randint(0, 9)) if c.isdigit() else c for c in w)
        elif r < 0.33:
            w = w.replace("õ", "o").replace("ä", "a").replace("ü", "u").replace("ö", "o")
        out.append(w)
    return " ".join(out)


def build_corpus(ud: Path, sh: Shingler) -> tuple[list[dict], list[dict]]:
    """(documents, planted pairs)."""
    rng = random.Random(SEED)
    bases = base_documents(ud, rng)
    rng.shuffle(bases)
    # distinct bases only: drop any base with J >= 0.2 to an earlier one (UD repeats some sentences)
    index: dict[int, set[int]] = defaultdict(set)
    chosen: list[str] = []
    for text in bases:
        s = sh.shingles(text)
        cands = {i for h in s for i in index.get(h, ())}
        if any(jaccard(s, sh.shingles(chosen[i])) >= 0.2 for i in cands):
            continue
        for h in s:
            index[h].add(len(chosen))
        chosen.append(text)
        if len(chosen) == N_BASE:
            break
    assert len(chosen) == N_BASE, f"only {len(chosen)} distinct base documents"
    vocab = sorted({w for t in chosen for w in t.split() if w.isalpha() and len(w) > 3})
    pool = [s.strip() for s in (ud / POOL_FILE).read_text(encoding="utf-8").splitlines() if len(s.split()) >= 6]
    rng.shuffle(pool)

    # targets: 40 non-duplicate pairs (0.3-0.5), 150 over 0.5-0.8, 100 at the 0.80-0.84 boundary
    # (where a 0.95 recall is hardest: LSH catch probability rises with J), 60 over 0.84-0.98,
    # 25 J=1.0 surface variants, 15 exact copies
    specs = [("edit", rng.uniform(0.3, 0.5)) for _ in range(40)]
    specs += [("edit", rng.uniform(0.5, 0.8)) for _ in range(150)]
    specs += [("edit", rng.uniform(0.8, 0.84)) for _ in range(100)]
    specs += [("edit", rng.uniform(0.84, 0.98)) for _ in range(60)]
    specs += [("surface", 1.0)] * 25 + [("exact", 1.0)] * 15
    modes = ["sub", "del", "ins", "mix", "append", "prepend", "trunc"]
    docs = [{"id": f"base-{i:04d}", "text": t} for i, t in enumerate(chosen)]
    pairs = []
    for i, (kind, target) in enumerate(specs):
        base = chosen[i]
        if kind == "edit":
            mode = modes[i % len(modes)]
            text, j, used = plant_variant(base, target, mode, rng, vocab, pool, sh)
            pool = pool[used:]
        else:
            mode = kind
            text = surface_variant(base, rng, exact=kind == "exact")
            j = jaccard(sh.shingles(base), sh.shingles(text))
        vid = f"var-{i:04d}"
        docs.append({"id": vid, "text": text})
        pairs.append({"a": f"base-{i:04d}", "b": vid, "j": j, "mode": mode})
    rng.shuffle(docs)
    return docs, pairs


# ------------------------------------------------------------------------------ the test


def lenient_config(folder: Path) -> CorpusConfig:
    off = FiltersConfig(gopher_repetition=GopherRepetitionConfig(enabled=False),
                        gopher_quality=GopherQualityConfig(enabled=False),
                        fineweb_quality=FineWebQualityConfig(enabled=False), c4=C4Config(enabled=False))
    return CorpusConfig(language="et", sources=[SourceConfig(name="planted", kind="jsonl", paths=[str(folder)])],
                        lid=LidConfig(threshold=0.0), filters=off, pii=PIIConfig(enabled=False), dedup=DEDUP,
                        executor=ExecutorConfig(kind="local", tasks=2, workers=2))


def removed_ids(folder: Path) -> set[str]:
    out = set()
    for f in folder.glob("*.jsonl.gz"):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            out |= {str(json.loads(line)["id"]) for line in fh}
    return out


def banded_catches(pairs: list[dict], text: dict[str, str], cfg: DedupConfig, sh: Shingler) -> dict[str, bool]:
    """Whether LSH with `cfg` makes each planted pair a candidate (same band in some bucket)."""
    from datatrove.pipeline.dedup import MinhashDedupSignature

    step = MinhashDedupSignature("/tmp/unused-minhash-sigs", minhash_config(cfg), language="et")
    out = {}
    for p in pairs:
        ba, bb = sh.bands(text[p["a"]], step), sh.bands(text[p["b"]], step)
        out[p["b"]] = any(x == y for x, y in zip(ba, bb))
    return out


@pytest.mark.slow
def test_minhash_dedup_recall_and_precision(tmp_path):
    ud = shared_data("ud_estonian")
    t0 = time.perf_counter()
    sh = Shingler(DEDUP)
    docs, pairs = build_corpus(ud, sh)
    text = {d["id"]: d["text"] for d in docs}
    src = tmp_path / "in"
    src.mkdir()
    for part in range(3):  # several files so both tasks get work
        with open(src / f"part-{part}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs[part::3])
    t_build = time.perf_counter() - t0

    cfg = lenient_config(src)
    work, out = tmp_path / "work", tmp_path / "out"
    t1 = time.perf_counter()
    run_corpus_pipeline(cfg, [("planted", "jsonl", src, "text", "id")], work, out, "run-quality", None,
                        log=lambda _m: None)
    t_run = time.perf_counter() - t1

    kept_rows = [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    kept = {r["id"] for r in kept_rows}
    cluster = {r["id"]: r["duplicate_cluster_size"] for r in kept_rows}
    lid_out = removed_ids(out / "removed" / "language")
    by_exact = removed_ids(out / "removed" / "exact_dedup")
    by_minhash = removed_ids(out / "removed" / "minhash_dedup")
    removed = by_exact | by_minhash
    assert not by_exact & by_minhash
    assert kept | removed | lid_out == set(text), "documents went missing outside LID and dedup"
    assert len(lid_out) <= 0.02 * len(text), f"LID removed {len(lid_out)} documents: {sorted(lid_out)[:10]}"

    scored = [p for p in pairs if p["a"] not in lid_out and p["b"] not in lid_out]
    for p in scored:
        p["found"] = (p["a"] in kept) != (p["b"] in kept)
    high = [p for p in scored if p["j"] >= 0.8]
    recall = sum(p["found"] for p in high) / len(high)

    # precision: each removed doc against every kept doc sharing a shingle
    index: dict[int, set[str]] = defaultdict(set)
    for d in kept:
        for h in sh.shingles(text[d]):
            index[h].add(d)
    best = {}
    for d in removed:
        s = sh.shingles(text[d])
        cands = {k for h in s for k in index.get(h, ())}
        best[d] = max((jaccard(s, sh.shingles(text[k])) for k in cands), default=0.0)
    precision = sum(v >= NEAR_DUP for v in best.values()) / len(removed)
    precision_07 = sum(v >= 0.7 for v in best.values()) / len(removed)

    # the same pairs banded in-process: the config under test and datatrove's default
    ours = banded_catches(scored, text, DEDUP, sh)
    default = banded_catches(scored, text, DATATROVE_DEFAULT, sh)
    recall_default = sum(default[p["b"]] for p in high) / len(high)
    disagree = [p["b"] for p in scored if ours[p["b"]] != p["found"]]

    b, r = DEDUP.num_buckets, DEDUP.hashes_per_bucket
    b0, r0 = DATATROVE_DEFAULT.num_buckets, DATATROVE_DEFAULT.hashes_per_bucket
    print(f"\nplanted corpus: {len(text)} docs ({N_BASE} bases, {len(pairs)} planted pairs), built in {t_build:.1f} s;"
          f" pipeline {t_run:.1f} s; LID removed {len(lid_out)}; removed exact {len(by_exact)},"
          f" minhash {len(by_minhash)}")
    print(f"{'J bin':>11} {'pairs':>6} {'caught':>7} {'rate':>6} {f'P(J) {b}x{r}':>11} |"
          f" {f'{b0}x{r0} banded':>12} {f'P(J) {b0}x{r0}':>11}")
    for lo, hi in BINS:
        ps = [p for p in scored if lo <= p["j"] < hi]
        if not ps:
            continue
        mean_j = sum(p["j"] for p in ps) / len(ps)
        caught = sum(p["found"] for p in ps)
        dcaught = sum(default[p["b"]] for p in ps)
        print(f"{lo:5.2f}-{min(hi, 1.0):5.2f} {len(ps):6d} {caught:7d} {caught / len(ps):6.3f}"
              f" {s_curve(mean_j, b, r):11.3f} | {dcaught / len(ps):12.3f} {s_curve(mean_j, b0, r0):11.3f}")
    print(f"recall@J>=0.8: {recall:.3f} over {len(high)} pairs ({b}x{r}); datatrove default {b0}x{r0} banded on the"
          f" same pairs: {recall_default:.3f}")
    print(f"precision (removed with J>={NEAR_DUP} to a kept doc): {precision:.4f} of {len(removed)};"
          f" with J>=0.7: {precision_07:.4f}")
    print(f"pipeline vs in-process banding disagree on {len(disagree)} pairs {disagree[:5]}")

    assert recall >= 0.95, f"recall@0.8 {recall:.3f}"
    assert precision >= 0.99, f"precision {precision:.4f}: {sorted(best.items(), key=lambda kv: kv[1])[:5]}"
    assert not disagree, "the pipeline's MinHash decisions should equal LSH banding on isolated pairs"
    # survivors of a found pair carry the cluster size (exact: duplicate_count, MinHash: cluster size)
    wrong_size = [(p["a"], p["b"]) for p in scored if p["found"] and cluster[p["a"] if p["a"] in kept else p["b"]] != 2]
    assert not wrong_size, f"cluster size != 2 for {len(wrong_size)} found pairs, e.g. {wrong_size[:3]}"


def test_cluster_size_counts_exact_copies_of_a_document_minhash_removed(tmp_path):
    """X has two exact copies and a near-copy Y. Exact dedup folds the copies into X; MinHash then
    keeps X or Y. Either way the survivor stands for 4 documents (before: 2 when Y survived)."""
    demo = [json.loads(line) for line in (Path(__file__).resolve().parents[1] / "demo/web/docs.jsonl").open()]
    originals = [d for d in demo if d["id"].startswith("et-")][40:70]
    rng = random.Random(1)
    docs = []
    for g, d in enumerate(originals):
        words = d["text"].split(" ")
        near = list(words)
        near[len(near) // 2] = "ja"  # one word changed: J well above 0.8
        copies = [{"id": f"g{g}-x", "text": d["text"]}, {"id": f"g{g}-x-copy1", "text": d["text"]},
                  {"id": f"g{g}-x-copy2", "text": d["text"]}, {"id": f"g{g}-y", "text": " ".join(near)}]
        rng.shuffle(copies)
        docs += copies
    src = tmp_path / "in"
    src.mkdir()
    (src / "docs.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    cfg = CorpusConfig(sources=[SourceConfig(name="g", kind="jsonl", paths=[str(src)])],
                       dedup=DedupConfig(against_previous=False), pii=PIIConfig(enabled=False),
                       executor=ExecutorConfig(tasks=2, workers=2), split_bytes=0)
    out = tmp_path / "out"
    run_corpus_pipeline(cfg, [("g", "jsonl", src, "text", "id")], tmp_path / "work", out, "run-c", None,
                        log=lambda _m: None)
    kept = [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    by_group = {}
    for r in kept:
        by_group.setdefault(r["id"].split("-")[0], []).append(r)
    assert len(by_group) >= 25 and all(len(v) == 1 for v in by_group.values())  # one survivor a group
    survivors = [v[0] for v in by_group.values()]
    assert any(r["id"].endswith("-y") for r in survivors)  # the case the bug hid: the near-copy survived
    assert {r["id"]: r["duplicate_cluster_size"] for r in survivors} == {r["id"]: 4 for r in survivors}
