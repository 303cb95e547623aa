#!/usr/bin/env python
"""Generate the bundled demo inputs from demo_texts.py, then self-check them.

    python demo/make_demo_inputs.py           # (re)write demo/web/*.jsonl and demo/warc/demo.warc.gz, then check
    python demo/make_demo_inputs.py --check   # only check the files that are there (and that they are up to date)

Outputs (deterministic: same bytes on every run):
    web/docs.jsonl     web documents {id, text, url[, date]} with planted duplicates, near-duplicates, junk, PII
    web/bad.jsonl      malformed lines mixed with two good records (quarantine demo)
    warc/demo.warc.gz  HTML pages (request + response records), one image/png, one 404

All text is original, written for this project (CC0 1.0). Needs only the standard library and warcio;
the check also uses trafilatura and llammas_core.corpus.langid when they are importable.
"""

from __future__ import annotations

import argparse
import html
import io
import itertools
import json
import re
import struct
import sys
import uuid
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import demo_texts as T  # noqa: E402

WEB = HERE / "web"
WARC = HERE / "warc"
DOCS = WEB / "docs.jsonl"
BAD = WEB / "bad.jsonl"
WARC_FILE = WARC / "demo.warc.gz"

# Estonian sites for the web docs, by topic (invented, reserved .example TLD).
SITE_BY_TOPIC = {
    "news": "https://lounaleht.example/uudised",
    "weather": "https://ilmajutt.example/prognoos",
    "recipe": "https://koogitarkused.example/retseptid",
    "food": "https://koogitarkused.example/lood",
    "local-government": "https://vallateataja.example/teated",
    "politics": "https://pealinnauudised.example/poliitika",
    "sport": "https://spordipaevik.example/uudised",
    "tech": "https://tehnikanurk.example/artiklid",
    "culture": "https://kultuuriveeb.example/artiklid",
    "nature": "https://loodusblogi.example/postitused",
    "health": "https://tervisenou.example/artiklid",
    "education": "https://haridusuudised.example/uudised",
    "agriculture": "https://maaelu.example/uudised",
    "history": "https://ajalookiri.example/lood",
    "transport": "https://pealinnauudised.example/liiklus",
    "science": "https://teadusuudised.example/uudised",
    "economy": "https://arileht.example/uudised",
    "energy": "https://arileht.example/energia",
    "housing": "https://kodukiri.example/artiklid",
    "events": "https://sundmused.example/kalender",
    "opinion": "https://pealinnauudised.example/arvamus",
    "pets": "https://lemmikloom.example/nouanded",
    "gardening": "https://aiapidaja.example/nouanded",
    "classifieds": "https://kuulutused.example/kadunud",
    "jobs": "https://toopakkumised.example/kuulutus",
    "notices": "https://ametlikudteated.example/teade",
    "forum": "https://foorum.example/teema",
    "community": "https://kogukond.example/uudised",
    "safety": "https://turvaline.example/nouanded",
    "travel": "https://reisikiri.example/lood",
}

ET_STOPWORDS = {"ja", "on", "et", "ka", "see", "oma", "mis", "ei", "kui", "ning", "ta", "nad", "kes", "aga", "või",
                "siis", "mida", "seda", "ole", "oli", "kuid", "ka", "veel", "nii", "seal", "juba", "kõik", "selle"}


# ---------------------------------------------------------------------------------------------
# web/docs.jsonl
# ---------------------------------------------------------------------------------------------


def _record(id_: str, text: str, url: str, date: str | None = None, **extra) -> dict:
    rec = {"id": id_, "text": text, "url": url}
    if date:
        rec["date"] = date
    rec.update(extra)
    return rec


def _apply_near_dup(text: str, ops) -> str:
    for op in ops:
        if isinstance(op, str):  # appended text
            text = text + (op if op.startswith("\n") else " " + op)
        else:
            for old, new in op:
                assert old in text, (old, text[:60])
                text = text.replace(old, new)
    return text


def build_docs() -> tuple[list[dict], dict[str, list[str]]]:
    """The web documents, and an inventory {kind: [ids]} of what is planted where."""
    docs: list[dict] = []
    inv: dict[str, list[str]] = {k: [] for k in ("et", "en", "fi", "lv", "ru", "exact_dup", "near_dup", "junk", "pii")}
    by_slug: dict[str, dict] = {}
    for i, (slug, topic, date, text) in enumerate(T.ET_DOCS, 1):
        rec = _record(f"et-{i:03d}", text, f"{SITE_BY_TOPIC[topic]}/{slug}", date)
        docs.append(rec)
        by_slug[slug] = rec
        inv["et"].append(rec["id"])
        if _find_pii(text):
            inv["pii"].append(rec["id"])
    for lang, items, site in [
        ("en", T.EN_DOCS, "https://northern-notes.example/posts"),
        ("fi", T.FI_DOCS, "https://paikallislehti.example/uutiset"),
        ("lv", T.LV_DOCS, "https://vietejaavize.example/zinas"),
        ("ru", T.RU_DOCS, "https://gorodskienovosti.example/novosti"),
    ]:
        for i, (slug, text) in enumerate(items, 1):
            rec = _record(f"{lang}-{i:02d}", text, f"{site}/{slug}")
            docs.append(rec)
            inv[lang].append(rec["id"])
    for i, slug in enumerate(T.EXACT_DUP_SLUGS, 1):
        orig = by_slug[slug]
        url = (
            f"https://uudistekogu.example/loe/{slug}"
            if i % 3
            else orig["url"] + "?utm_source=uudiskiri&utm_medium=email"
        )
        rec = _record(f"dup-{i:02d}", orig["text"], url, orig.get("date"))
        docs.append(rec)
        inv["exact_dup"].append(f"{rec['id']}={orig['id']}")
    for i, (slug, _how, *ops) in enumerate(T.NEAR_DUP_EDITS, 1):
        orig = by_slug[slug]
        rec = _record(f"near-{i:02d}", _apply_near_dup(orig["text"], ops), f"https://uudistekogu.example/near/{slug}")
        docs.append(rec)
        inv["near_dup"].append(f"{rec['id']}~{orig['id']}")
    for i, (suffix, _kind, text) in enumerate(T.JUNK_DOCS, 1):
        rec = _record(f"junk-{i:02d}-{suffix}", text, f"https://prahisait.example/{suffix}")
        docs.append(rec)
        inv["junk"].append(rec["id"])
    return docs, inv


def write_jsonl(path: Path, records: list[dict]) -> bytes:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    return data


def build_bad() -> bytes:
    good = [
        _record(id_, text, f"https://kogukond.example/teated/{id_}") for id_, text in T.BAD_FILE_GOOD_DOCS
    ]
    lines = [
        json.dumps(good[0], ensure_ascii=False).encode("utf-8"),
        b'{"id": "bad-broken-json", "text": "See kirje katkeb poole pealt ja JSON j\xc3\xa4\xc3\xa4b',  # truncated
        b'{"id": "bad-invalid-utf8", "text": "Vigane kodeering: t\xe4na \xff\xfe on ilus ilm."}',  # latin-1 bytes
        b'{"id": "bad-no-text", "url": "https://kogukond.example/teated/tuhi"}',
        b'{"id": "bad-null-text", "text": null, "url": "https://kogukond.example/teated/null"}',
        b'["see", "ei ole", "objekt"]',
        json.dumps(good[1], ensure_ascii=False).encode("utf-8"),
    ]
    return b"\n".join(lines) + b"\n"


# ---------------------------------------------------------------------------------------------
# warc/demo.warc.gz
# ---------------------------------------------------------------------------------------------

_UUID_NS = uuid.UUID("6f1d3c7e-2b1a-4a53-9a0c-3f2d1e0b9a71")


def _rid(name: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(_UUID_NS, name)}>"


def _page(site: dict, art: tuple, others: list[tuple]) -> str:
    _key, path, title, date, paras = art
    lang = site["lang"]
    e = html.escape
    nav = "\n".join(f'        <li><a href="{site["base"]}/{e(n.lower())}">{e(n)}</a></li>' for n in site["nav"])
    read_more = "Loe ka" if lang == "et" else "Read also"
    share = "Jaga: Facebook | X | E-post" if lang == "et" else "Share: Facebook | X | Email"
    related = "\n".join(f'        <li><a href="{site["base"]}{o[1]}">{e(o[2])}</a></li>' for o in others)
    body = "\n".join(f"      <p>{e(p)}</p>" for p in paras)
    newsletter = "Telli uudiskiri" if lang == "et" else "Subscribe to the newsletter"
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
  <meta charset="utf-8">
  <title>{e(title)} | {e(site["name"])}</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="description" content="{e(paras[0][:140])}">
  <meta property="og:title" content="{e(title)}">
  <link rel="stylesheet" href="/static/site.css">
  <script>window.dataLayer = window.dataLayer || []; function track(){{dataLayer.push(arguments);}}</script>
</head>
<body>
  <div id="cookie-banner" class="banner">{e(site["cookie"])}</div>
  <header class="site-header">
    <a class="logo" href="{site["base"]}/">{e(site["name"])}</a>
    <nav class="main-nav">
      <ul>
{nav}
      </ul>
    </nav>
    <form class="search" action="/otsi"><input name="q" placeholder="Otsi..."><button>Otsi</button></form>
  </header>
  <div class="breadcrumb"><a href="{site["base"]}/">{e(site["nav"][0])}</a> &rsaquo; {e(title)}</div>
  <main>
    <article>
      <h1>{e(title)}</h1>
      <time datetime="{date}">{date}</time>
{body}
      <div class="share">{e(share)}</div>
    </article>
    <aside class="sidebar">
      <h2>{e(read_more)}</h2>
      <ul>
{related}
      </ul>
      <div class="newsletter">{e(newsletter)}: <input type="email"> <button>OK</button></div>
    </aside>
  </main>
  <footer class="site-footer">
    <p>{e(site["footer"])}</p>
    <ul class="footer-links"><li><a href="/kontakt">Kontakt</a></li><li><a href="/privaatsus">Privaatsus</a></li><li><a href="/rss">RSS</a></li></ul>
  </footer>
  <script src="/static/app.js"></script>
</body>
</html>
"""


def _png(width: int = 16, height: int = 16) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 16 % 256, y * 16 % 256, 128)) for x in range(width)) for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def build_warc() -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)

    info = (
        "software: llammas demo/make_demo_inputs.py (warcio)\r\n"
        "format: WARC File Format 1.1\r\n"
        "description: synthetic demo crawl, all pages written for the llammas project (CC0 1.0)\r\n"
    ).encode("utf-8")
    writer.write_record(
        writer.create_warc_record(
            "", "warcinfo", payload=io.BytesIO(info), warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Filename": WARC_FILE.name, "WARC-Date": "2024-12-31T00:00:00Z",
                               "WARC-Record-ID": _rid("warcinfo")},
        )
    )

    def pair(url: str, date: str, status: str, ctype: str, body: bytes, payload_type: str) -> None:
        host = url.split("/")[2]
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
        req_id, resp_id = _rid("req " + url), _rid("resp " + url)
        req_http = StatusAndHeaders(f"GET {path} HTTP/1.1", [
            ("Host", host), ("User-Agent", "llammas-demo-crawler/0.1"), ("Accept", "text/html,*/*;q=0.8"),
            ("Accept-Language", "et,en;q=0.7")], is_http_request=True)
        writer.write_record(writer.create_warc_record(
            url, "request", payload=io.BytesIO(b""), http_headers=req_http,
            warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": req_id, "WARC-Concurrent-To": resp_id}))
        resp_http = StatusAndHeaders(status, [
            ("Content-Type", ctype), ("Content-Length", str(len(body))), ("Server", "nginx"),
            ("Date", "Mon, 01 Jan 2024 00:00:00 GMT")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=resp_http,
            warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": resp_id, "WARC-IP-Address": "192.0.2.10",
                               "WARC-Identified-Payload-Type": payload_type}))

    arts_by_site: dict[str, list[tuple]] = {}
    for art in T.WARC_ARTICLES:
        arts_by_site.setdefault(art[0], []).append(art)
    for art in T.WARC_ARTICLES:
        site = T.WARC_SITES[art[0]]
        others = [o for o in arts_by_site[art[0]] if o is not art][:3]
        page = _page(site, art, others).encode("utf-8")
        pair(site["base"] + art[1], f"{art[3]}T08:00:00Z", "200 OK", "text/html; charset=utf-8", page, "text/html")
    # an image (the reader must skip it)
    pair("https://lounaleht.example/static/logo.png", "2024-12-01T08:00:00Z", "200 OK", "image/png", _png(),
         "image/png")
    # a 404 page: HTML, but an error page, not content
    notfound = ("<!DOCTYPE html><html lang=\"et\"><head><meta charset=\"utf-8\"><title>404 – lehte ei leitud</title>"
                "</head><body><h1>Lehte ei leitud</h1><p>Otsitud lehte ei ole olemas. "
                "<a href=\"/\">Avalehele</a></p></body></html>\n").encode("utf-8")
    pair("https://lounaleht.example/uudised/2023/01/kustutatud-artikkel", "2024-12-01T08:05:00Z",
         "404 Not Found", "text/html; charset=utf-8", notfound, "text/html")
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def isikukood_valid(code: str) -> bool:
    if not re.fullmatch(r"[1-6]\d{10}", code):
        return False
    d = [int(c) for c in code]
    r = sum(x * w for x, w in zip(d, [1, 2, 3, 4, 5, 6, 7, 8, 9, 1])) % 11
    if r == 10:
        r = sum(x * w for x, w in zip(d, [3, 4, 5, 6, 7, 8, 9, 1, 2, 3])) % 11
        r = 0 if r == 10 else r
    return r == d[10]


_PII_PATTERNS = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "isikukood": re.compile(r"\b[1-6]\d{10}\b"),
    "phone": re.compile(r"(?:\+372[ ]?)?\b[3-8]\d{2,3}[ ]?\d{4}\b"),
    "ip": re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
}


def _find_pii(text: str) -> dict[str, list[str]]:
    found = {k: p.findall(text) for k, p in _PII_PATTERNS.items()}
    found["isikukood"] = [c for c in found["isikukood"] if isikukood_valid(c)]
    found["phone"] = [p for p in found["phone"] if p not in found["isikukood"] and not re.fullmatch(r"\d{4}", p)]
    return {k: v for k, v in found.items() if v}


def _gopher_ok(text: str) -> list[str]:
    """Light re-statement of the Gopher quality rules the Estonian docs must pass."""
    problems = []
    words = text.split()
    if len(words) < 60:
        problems.append(f"{len(words)} words < 60")
    mean_len = sum(len(w.strip(".,:;!?()\"'")) for w in words) / max(1, len(words))
    if not 3 <= mean_len <= 13:
        problems.append(f"mean word length {mean_len:.1f}")
    alpha = sum(any(c.isalpha() for c in w) for w in words) / max(1, len(words))
    if alpha < 0.8:
        problems.append(f"alpha words {alpha:.2f}")
    stop = sum(w.lower().strip(".,:;!?") in ET_STOPWORDS for w in words)
    if stop < 3:
        problems.append(f"{stop} stopwords")
    for line in text.split("\n"):
        if line.strip() and not line.rstrip().endswith((".", "!", "?", '"', "»")):
            problems.append(f"line without final punctuation: {line[-30:]!r}")
    return problems


def check(docs: list[dict], inv: dict[str, list[str]], bad: bytes, warc: bytes) -> list[str]:
    errors: list[str] = []
    by_id = {d["id"]: d for d in docs}

    # exact duplicates
    for pair_ in inv["exact_dup"]:
        dup, orig = pair_.split("=")
        if by_id[dup]["text"] != by_id[orig]["text"] or by_id[dup]["url"] == by_id[orig]["url"]:
            errors.append(f"exact dup {pair_} is not an exact copy with another url")

    # near duplicates: Jaccard of word 5-gram shingles with the original
    sh = {d["id"]: shingles(d["text"]) for d in docs}
    near_j = {}
    for pair_ in inv["near_dup"]:
        near, orig = pair_.split("~")
        j = jaccard(sh[near], sh[orig])
        near_j[pair_] = j
        if not 0.8 <= j < 1.0:
            errors.append(f"near dup {pair_}: Jaccard {j:.3f} not in [0.8, 1)")

    # distinct documents: everything except the planted copies, pairwise
    planted = {p.split("=")[0] for p in inv["exact_dup"]} | {p.split("~")[0] for p in inv["near_dup"]}
    distinct = [d["id"] for d in docs if d["id"] not in planted and not d["id"].startswith("junk-")]
    worst = (0.0, "", "")
    for a, b in itertools.combinations(distinct, 2):
        j = jaccard(sh[a], sh[b])
        if j > worst[0]:
            worst = (j, a, b)
        if j >= 0.3:
            errors.append(f"distinct docs {a} and {b} too similar: Jaccard {j:.3f}")
    if len({d["text"] for d in docs}) != len(docs) - len(inv["exact_dup"]):
        errors.append("unexpected exact duplicate texts")

    # quality of the Estonian originals
    for id_ in inv["et"]:
        for p in _gopher_ok(by_id[id_]["text"]):
            errors.append(f"{id_}: {p}")

    # PII
    pii_kinds: dict[str, int] = {}
    for id_ in inv["pii"]:
        for kind in _find_pii(by_id[id_]["text"]):
            pii_kinds[kind] = pii_kinds.get(kind, 0) + 1
    for kind in ("email", "isikukood", "phone", "ip"):
        if not pii_kinds.get(kind):
            errors.append(f"no planted PII of kind {kind}")
    for d in docs:
        for code in re.findall(r"\b[1-6]\d{10}\b", d["text"]):
            if not isikukood_valid(code):
                errors.append(f"{d['id']}: invalid isikukood {code}")

    # language ID with the project's step (optional)
    lid_line = "skipped (llammas_core not importable)"
    try:
        sys.path.insert(0, str(HERE.parent))
        from llammas_core.corpus.langid import DEFAULT_THRESHOLDS, predict_language

        th = DEFAULT_THRESHOLDS["et"]
        lid = {d["id"]: predict_language(d["text"]) for d in docs}
        et_ok = [i for i in inv["et"] if lid[i][0] == "et" and lid[i][1] >= th]
        wrong = [i for k in ("en", "fi", "lv", "ru") for i in inv[k] if lid[i][0] != k]
        if len(et_ok) != len(inv["et"]):
            errors.append(f"Estonian docs not kept by LID: {sorted(set(inv['et']) - set(et_ok))}")
        if wrong:
            errors.append(f"other-language docs with a wrong LID label: {wrong}")
        lid_line = (f"et kept {len(et_ok)}/{len(inv['et'])} (min score "
                    f"{min(lid[i][1] for i in inv['et']):.3f}, threshold {th}); others labelled right: "
                    f"{sum(len(inv[k]) for k in ('en', 'fi', 'lv', 'ru')) - len(wrong)}")
    except ImportError:
        pass

    # bad.jsonl: exactly the two good records parse
    parsed = 0
    for line in bad.splitlines():
        try:
            rec = json.loads(line.decode("utf-8"))
            if isinstance(rec, dict) and isinstance(rec.get("text"), str):
                parsed += 1
        except (UnicodeDecodeError, json.JSONDecodeError):
            pass
    if parsed != 2:
        errors.append(f"bad.jsonl: {parsed} good records, expected 2")

    # WARC: record counts, and main text extraction
    from warcio.archiveiterator import ArchiveIterator

    counts: dict[str, int] = {}
    html_pages = []
    for rec in ArchiveIterator(io.BytesIO(warc)):
        kind = rec.rec_type
        if kind == "response":
            status = rec.http_headers.get_statuscode()
            ptype = rec.rec_headers.get_header("WARC-Identified-Payload-Type")
            kind = f"response {status} {ptype}"
            if status == "200" and ptype == "text/html":
                html_pages.append((rec.rec_headers.get_header("WARC-Target-URI"), rec.content_stream().read()))
        counts[kind] = counts.get(kind, 0) + 1
    if counts.get("response 200 text/html") != len(T.WARC_ARTICLES):
        errors.append(f"WARC html responses: {counts}")
    if counts.get("request") != len(T.WARC_ARTICLES) + 2:
        errors.append(f"WARC requests: {counts}")
    extract_line = "skipped (trafilatura not importable)"
    try:
        import trafilatura

        words = []
        for url, body in html_pages:
            text = trafilatura.extract(body.decode("utf-8"), url=url, include_comments=False) or ""
            words.append(len(text.split()))
            for boiler in ("Kõik õigused kaitstud", "All rights reserved", "Kasutame küpsiseid", "Telli uudiskiri"):
                if boiler in text:
                    errors.append(f"trafilatura kept boilerplate {boiler!r} from {url}")
            if len(text.split()) < 60:
                errors.append(f"trafilatura extracted only {len(text.split())} words from {url}")
        extract_line = f"{len(words)} pages, {min(words)}-{max(words)} words extracted"
    except ImportError:
        pass

    total = sum(f.stat().st_size for f in HERE.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    if total > 1_000_000:
        errors.append(f"demo/ is {total} bytes > 1 MB")

    print(f"docs: {len(docs)} ({', '.join(f'{k}={len(v)}' for k, v in inv.items())})")
    print("near-dup Jaccard: " + ", ".join(f"{k} {v:.3f}" for k, v in near_j.items()))
    pair_txt = f" ({worst[1]} / {worst[2]})" if worst[1] else ""
    print(f"max Jaccard between distinct docs: {worst[0]:.3f}{pair_txt} over {len(distinct)} docs")
    print(f"PII kinds planted: {pii_kinds}")
    print(f"LID: {lid_line}")
    print(f"WARC records: {counts}; extraction: {extract_line}")
    print(f"demo/ size: {total} bytes")
    return errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check the existing files (no writing)")
    args = ap.parse_args(argv)

    docs, inv = build_docs()
    outputs = {DOCS: write_jsonl(DOCS, docs), BAD: build_bad(), WARC_FILE: build_warc()}
    if args.check:
        stale = [str(p.relative_to(HERE)) for p, data in outputs.items() if not p.is_file() or p.read_bytes() != data]
        if stale:
            print(f"out of date (re-run without --check): {stale}", file=sys.stderr)
            return 1
    else:
        for path, data in outputs.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {path.relative_to(HERE)} ({len(data)} bytes)")
    errors = check(docs, inv, outputs[BAD], outputs[WARC_FILE])
    for e in errors:
        print("CHECK FAILED:", e, file=sys.stderr)
    if not errors:
        print("all checks passed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
