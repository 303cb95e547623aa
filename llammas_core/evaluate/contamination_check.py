"""Contamination check: how much of each evaluation set appears in the training data of each model.

Training data comes from the models' lineage: a training stage manifest (`cpt`, `sft`) names its
data (`data`: corpus / instruction manifest ids or plain-file fingerprints) and its init model
(`init_model`: the previous stage's id, e.g. sft -> cpt -> base). Each source is sampled (a seeded
reservoir over at most `max_scan` documents, `sample_docs` kept), and for every evaluation text
(each field of each item: an XCOPA premise, a FLORES sentence, a Belebele passage) we report the
fraction of its word n-grams that occur in the sample; a text is contaminated at `threshold`.

Normalisation and n-grams are `llammas_core.contamination`'s (shared with the instruction-data
decontamination). The matching runs the other way round from `NgramIndex`, on purpose: the eval
n-grams (small) are the set, the training sample is streamed through it, so memory stays bounded by
the evaluation set, not by the training sample.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterator

from llammas_core.contamination import read_eval_texts, split_pieces, word_ngrams
from llammas_core.errors import InputError
from llammas_core.stage import MANIFEST, open_manifest, read_manifest

__all__ = ["TrainingSource", "SourceSample", "lineage_sources", "sample_texts", "overlap_table", "eval_texts"]


@dataclass(frozen=True)
class TrainingSource:
    """One training data source: `ref` is readable (manifest URI or path), `kind` is cpt|sft|other."""

    ref: str
    kind: str
    id: str  # manifest id or file fingerprint (for keys and the report)
    via: str  # the stage that trained on it
    text_field: str = "text"  # CPT sources: the field holding the text


def _store_root_of(uri: str) -> str:
    return open_manifest(uri)[0].uri


def _data_ref(data_id: str, root: str, input_uris: dict[str, str]) -> str | None:
    """A readable reference for one entry of a training manifest's `data` list."""
    if data_id.startswith("file:"):  # "file:<abs path>:<hash>" (train.stage._fingerprint_path)
        return data_id[len("file:"):].rsplit(":", 1)[0]
    if data_id.startswith("uri:"):
        return data_id[len("uri:"):]
    if data_id in input_uris and input_uris[data_id]:
        return input_uris[data_id].rstrip("/") + "/" + MANIFEST
    if "/" in data_id:  # a stage id in the same store
        return f"{root.rstrip('/')}/{data_id}/{MANIFEST}"
    return None


def lineage_sources(model_ref: str, log: Callable[[str], None] = print, max_depth: int = 8) -> list[TrainingSource]:
    """Training data named by a model's stage manifest and its ancestors (sft -> cpt -> ...)."""
    out: list[TrainingSource] = []
    uri = model_ref
    seen: set[str] = set()
    for _ in range(max_depth):
        try:
            m = read_manifest(uri)
        except InputError:
            break
        if m["id"] in seen:
            break
        seen.add(m["id"])
        root = _store_root_of(uri)
        input_uris = {i["id"]: i.get("uri") for i in m.get("inputs", [])}
        kind = m.get("phase") or m.get("stage", "other")
        for data_id in m.get("data") or []:
            ref = _data_ref(data_id, root, input_uris)
            if ref is None:
                log(f"[contamination] {m['id']}: cannot read training source {data_id}; skipped")
                continue
            out += _expand(ref, data_id, kind if kind in ("cpt", "sft") else "other", m["id"], log)
        init = m.get("init_model")
        if not init or "/" not in init or init.endswith("@") or "@" in init.split("/")[-1]:
            break  # a hub id / plain path: no further lineage
        uri = input_uris.get(init)
        uri = (uri.rstrip("/") + "/" + MANIFEST) if uri else f"{root.rstrip('/')}/{init}/{MANIFEST}"
    return out


def _expand(ref: str, data_id: str, kind: str, via: str, log: Callable[[str], None]) -> list[TrainingSource]:
    """A training data entry as readable text sources: a `tokenize` stage (token blocks, no text) stands
    for the corpora it tokenized (its config's `sources`, read with its `text_field`)."""
    if ref.rstrip("/").endswith(MANIFEST):
        try:
            m = read_manifest(ref)
        except InputError:
            return [TrainingSource(ref, kind, data_id, via)]
        if m.get("stage") == "tokenize":
            cfg = m.get("config") or {}
            root = _store_root_of(ref)
            uris = {i["id"]: i.get("uri") for i in m.get("inputs", [])}
            out = []
            for sid in cfg.get("sources") or []:
                src = _data_ref(sid, root, uris)
                if src is None:
                    log(f"[contamination] {m['id']}: cannot read corpus {sid}; skipped")
                    continue
                out.append(TrainingSource(src, kind, sid, via, cfg.get("text_field") or "text"))
            return out
    return [TrainingSource(ref, kind, data_id, via)]


def _iter_source_texts(source: TrainingSource) -> Iterator[str]:
    from llammas_core.train.cpt_data import iter_texts
    from llammas_core.train.sft_data import load_chat_records

    if source.kind == "sft":
        for rec in load_chat_records(source.ref):
            yield "\n".join(m["content"] for m in rec["messages"])
    elif source.kind == "cpt":
        yield from iter_texts(source.ref, source.text_field)
    else:  # unknown shape (a source named in the config): every string field of every record
        from llammas_core.contamination import iter_strings
        from llammas_core.train.cpt_data import iter_records

        for rec in iter_records(source.ref, (".parquet", ".jsonl", ".jsonl.gz", ".json")):
            text = "\n".join(iter_strings(rec))
            if text.strip():
                yield text


@dataclass
class SourceSample:
    """The documents sampled from one source and how much of the source was read to draw them."""

    docs: list[str]
    scanned: int  # documents read (at most max_scan)
    complete: bool  # the whole source was read (scanned is its total)


def sample_texts(texts: Iterator[str], k: int, max_scan: int, seed: int) -> SourceSample:
    """A seeded reservoir sample (Algorithm R) of at most k texts from the first max_scan."""
    rng = random.Random(seed)
    sample: list[str] = []
    scanned = 0
    complete = True
    for i, text in enumerate(texts):
        if i >= max_scan:
            complete = False  # there is at least one more document than was read
            break
        scanned += 1
        if i < k:
            sample.append(text)
        else:
            j = rng.randint(0, i)
            if j < k:
                sample[j] = text
    return SourceSample(sample, scanned, complete)


def _source_total(source: TrainingSource, sampled: SourceSample) -> int | None:
    """The source's document count: exact after a complete scan, else the stage manifest's `records`
    when it names one (corpus and instruction stages do), else unknown."""
    if sampled.complete:
        return sampled.scanned
    if source.ref.rstrip("/").endswith(MANIFEST):
        try:
            records = read_manifest(source.ref).get("records")
        except InputError:
            return None
        if isinstance(records, int) and records > sampled.scanned:
            return records
    return None


def _text_grams(text: str, n: int) -> set[tuple[str, ...]]:
    grams = set(word_ngrams(text, n))
    for piece in split_pieces(text):  # short sentences match whole (see contamination.word_ngrams)
        grams.update(word_ngrams(piece, n))
    return grams


def eval_texts(path: str) -> list[str]:
    """The texts of an evaluation set (file or folder), or InputError."""
    try:
        return [t for t in read_eval_texts(path) if t.strip()]
    except (FileNotFoundError, ValueError) as e:
        raise InputError(f"contamination check: cannot read evaluation data {path}: {e}") from None


def overlap_table(eval_sets: dict[str, list], sources: list[TrainingSource], n: int, threshold: float,
                  sample_docs: int, max_scan: int, seed: int, log: Callable[[str], None] = print) -> list[dict]:
    """One row per (evaluation set, training source). An evaluation set is a list of items, each a text
    or a list of texts (the fields of one scored item). An item is contaminated when one of its texts has
    at least `threshold` of its word n-grams in the training sample; rows count items, and say how many
    training documents were scanned of the source's total and sampled."""
    rows: list[dict] = []
    grams_of = {name: [[set(word_ngrams(t, n)) for t in ([item] if isinstance(item, str) else item)]
                       for item in items] for name, items in eval_sets.items()}
    wanted = set().union(*(g for items in grams_of.values() for item in items for g in item)) if grams_of else set()
    for source in sources:
        sampled = sample_texts(_iter_source_texts(source), sample_docs, max_scan, seed)
        hits: set[tuple[str, ...]] = set()
        for doc in sampled.docs:
            hits.update(_text_grams(doc, n) & wanted)
        total = _source_total(source, sampled)
        log(f"[contamination] {source.id}: {len(sampled.docs)} documents sampled of {sampled.scanned} scanned "
            f"({'all' if sampled.complete else 'not all'}), {len(hits)} evaluation n-grams found")
        for name, items in grams_of.items():
            # per item: the largest overlap among its texts that have n-grams (None: no text long enough)
            best = [max((len(g & hits) / len(g) for g in item if g), default=None) for item in items]
            checked = [b for b in best if b is not None]
            contaminated = sum(1 for b in checked if b >= threshold)
            rows.append({
                "eval_set": name, "source": source.id, "source_kind": source.kind, "via": source.via,
                "docs_sampled": len(sampled.docs), "docs_scanned": sampled.scanned, "docs_total": total,
                "scan_complete": sampled.complete,
                "items": len(items), "items_checked": len(checked),
                "items_any_overlap": sum(1 for b in checked if b > 0),
                "items_contaminated": contaminated,
                "fraction_contaminated": contaminated / len(items) if items else 0.0,
                "mean_overlap": sum(checked) / len(checked) if checked else 0.0,
            })
    return rows
