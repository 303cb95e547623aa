"""The generated corpus of benchmarks/corpus_throughput.py (see its docstring): Estonian documents
recombined from ../shared/data/ud_estonian, other-language, junk, exact- and near-duplicate documents."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
UD = SHARED / "ud_estonian"
FLORES = SHARED / "flores_sib200" / "parallel"
DEMO_DOCS = REPO / "demo" / "web" / "docs.jsonl"

def _sentences(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]


def _split_sentences(text: str) -> list[str]:
    out = []
    for para in text.split("\n"):
        cur = []
        for w in para.split():
            cur.append(w)
            if w[-1] in ".!?" and len(cur) > 3:
                out.append(" ".join(cur))
                cur = []
        if cur:
            out.append(" ".join(cur))
    return out


def load_sources() -> tuple[list[list[str]], dict[str, list[list[str]]], list[str], str]:
    """(Estonian sentence streams, other-language sentence streams, Estonian demo docs, description)."""
    demo = [json.loads(line) for line in DEMO_DOCS.read_text(encoding="utf-8").splitlines() if line.strip()]
    demo_et = [d["text"] for d in demo if d["id"].startswith("et-")]
    et_streams = [_split_sentences(t) for t in demo_et]
    other: dict[str, list[list[str]]] = {}
    if UD.is_dir():
        et_streams += [_sentences(p) for p in sorted(UD.glob("*.txt"))]
        for code, lang in (("eng_Latn", "en"), ("fin_Latn", "fi"), ("lvs_Latn", "lv"), ("rus_Cyrl", "ru")):
            files = [FLORES / f"{split}.{code}" for split in ("dev", "devtest")]
            other[lang] = [_sentences(f) for f in files if f.is_file()]
        desc = (f"{UD.relative_to(SHARED.parent)} sentences ({sum(map(len, et_streams))} incl. demo) + "
                f"flores_sib200 en/fi/lv/ru + demo/web/docs.jsonl")
    else:
        for d in demo:
            lang = d["id"].split("-")[0]
            if lang in ("en", "fi", "lv", "ru"):
                other.setdefault(lang, []).append(_split_sentences(d["text"]))
        desc = "demo/web/docs.jsonl only (../shared/data absent): low variety, more duplicate-prone"
    return et_streams, other, demo_et, desc


def _compose(rng: random.Random, streams: list[list[str]], min_words: int, max_words: int) -> str:
    """Paragraphs of 2-5 consecutive sentences from random places until the word target."""
    target, words, paras = rng.randint(min_words, max_words), 0, []
    weights = [len(s) for s in streams]
    while words < target:
        s = rng.choices(streams, weights)[0]
        i = rng.randrange(len(s))
        run = s[i:i + rng.randint(2, 5)]
        paras.append(" ".join(run))
        words += sum(len(x.split()) for x in run)
    return "\n".join(paras)


NAV = ["Avaleht", "Uudised", "Sport", "Kultuur", "Kontakt", "Logi sisse", "Registreeru", "Otsi", "Meist",
       "Privaatsuspoliitika", "Küpsised", "Reklaam", "Arhiiv", "Tellimine", "KKK"]


def _junk(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:  # navigation / boilerplate lines
        return "\n".join(" | ".join(rng.sample(NAV, rng.randint(2, 6))) for _ in range(rng.randint(20, 60)))
    if kind == 1:  # one line repeated
        line = " ".join(rng.sample(NAV, 4)) + " " + str(rng.randint(1, 999))
        return "\n".join([line] * rng.randint(20, 80))
    if kind == 2:  # random characters
        alphabet = "abcdefghijklmnopqrstuvwxyzõäöü0123456789#$%&*/ "
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(500, 3000)))
    return " ".join(rng.sample(NAV, 5))  # too short


def build_corpus(folder: Path, n_docs: int, n_files: int, seed: int = 13) -> dict:
    """Write n_docs documents as n_files JSONL shards; returns a description of what was written."""
    rng = random.Random(seed)
    et_streams, other, demo_et, desc = load_sources()
    n_other = n_docs * 5 // 100 if other else 0
    n_junk, n_exact, n_near = n_docs * 3 // 100, n_docs * 4 // 100, n_docs * 4 // 100
    n_et = n_docs - n_other - n_junk - n_exact - n_near
    docs: list[dict] = []
    for i in range(n_et):
        text = demo_et[i] if i < len(demo_et) else _compose(rng, et_streams, 100, 400)
        docs.append({"id": f"et-{i:06d}", "text": text, "url": f"https://uudised.example/{i}", "kind": "et"})
    langs = sorted(other)
    for i in range(n_other):
        lang = langs[i % len(langs)]
        docs.append({"id": f"{lang}-{i:06d}", "text": _compose(rng, other[lang], 100, 400),
                     "url": f"https://{lang}.example/{i}", "kind": lang})
    for i in range(n_junk):
        docs.append({"id": f"junk-{i:06d}", "text": _junk(rng), "url": f"https://junk.example/{i}", "kind": "junk"})
    originals = docs[:n_et]
    for i in range(n_exact):
        src = rng.choice(originals)["text"]
        text = src if i % 3 == 0 else (src.lower() if i % 3 == 1 else "  ".join(src.split(" ")))
        docs.append({"id": f"dup-{i:06d}", "text": text, "url": f"https://mirror.example/{i}", "kind": "exact_dup"})
    vocab = [w for s in et_streams[-1][:3000] for w in s.split() if w.isalpha()] or ["sõna"]
    for i in range(n_near):
        words = rng.choice(originals)["text"].split(" ")
        for _ in range(max(1, len(words) // 20)):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        docs.append({"id": f"near-{i:06d}", "text": " ".join(words), "url": f"https://copy.example/{i}",
                     "kind": "near_dup"})
    rng.shuffle(docs)
    folder.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, int] = {}
    for f in range(n_files):
        with open(folder / f"part-{f:04d}.jsonl", "w", encoding="utf-8") as fh:
            for d in docs[f::n_files]:
                kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    nbytes = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
    words = [len(d["text"].split()) for d in docs]
    return {"docs": len(docs), "files": n_files, "bytes": nbytes, "kinds": kinds, "source": desc,
            "words_median": statistics.median(words), "words_mean": round(statistics.mean(words), 1)}
