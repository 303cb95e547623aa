"""Small inputs in the real formats, generated on the fly from the bundled demo texts (CC0):

CulturaX-like Parquet (text, url, timestamp, source), Common Crawl WET (warcio `conversion` records),
Alpaca(-cleaned) JSON lists, alpaca-est JSONL (native Estonian records), OASST-style chat JSONL, Moses
bitext (line-aligned .en/.et), FLORES-200 `parallel/{dev,devtest}.{eng,est}_Latn`, XCOPA JSONL, Belebele
CSV, SQuAD-format QA JSON, WMT SGML, and a data kit laid out like ../shared/data (for decontamination).
Each writer takes the destination path and writes one file (or folder); nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo"


def web_docs() -> list[dict]:
    """The demo's web documents (Estonian and English, with planted duplicates and junk)."""
    lines = (DEMO / "web" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def write_parquet_corpus(path: Path, docs: list[dict], source: str = "mC4") -> None:
    """CulturaX's schema: text, timestamp, url, source."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": [d["text"] for d in docs], "timestamp": [d.get("date") or "2023-01-01" for d in docs],
                             "url": [d["url"] for d in docs], "source": [source] * len(docs)}), path)


def write_wet(path: Path, docs: list[dict]) -> None:
    """A gzipped WET file: a warcinfo record, then one `conversion` (text/plain) record per document."""
    from warcio.warcwriter import WARCWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "llammas rehearsal"}))
        for d in docs:
            body = d["text"].encode("utf-8")
            writer.write_record(writer.create_warc_record(
                d["url"], "conversion", payload=io.BytesIO(body), length=len(body),
                warc_headers_dict={"Content-Type": "text/plain", "WARC-Date": "2024-08-01T00:00:00Z"}))


def alpaca_records() -> list[dict]:
    return json.loads((DEMO / "instructions" / "alpaca_sample.json").read_text(encoding="utf-8"))


def write_alpaca_json(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(alpaca_records(), ensure_ascii=False, indent=2), encoding="utf-8")


def write_alpaca_est_jsonl(path: Path, n: int = 24) -> None:
    """Native Estonian Alpaca-shaped records (TartuNLP/alpaca-est's fields), from the demo's Estonian pairs."""
    et = lines(DEMO / "instructions" / "bitext" / "demo.et")
    recs = [{"instruction": "Selgita lühidalt, mida see lause tähendab.", "input": et[i], "output": et[i + 1]}
            if i % 2 else {"instruction": f"Kirjuta lause, mis jätkab mõtet: {et[i]}", "input": "", "output": et[i + 1]}
            for i in range(0, min(2 * n, len(et) - 1), 2)]
    write_jsonl(path, recs)


def write_chat_jsonl(path: Path) -> None:
    """OASST-style conversations ({messages: [{role, content}]})."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEMO / "instructions" / "chat_sample.jsonl", path)


def write_moses(paths: list[Path], part: int, parts: int) -> None:
    """One slice of the demo bitext as Moses files (paths[0] source side, paths[1] target side)."""
    en, et = lines(DEMO / "instructions" / "bitext" / "demo.en"), lines(DEMO / "instructions" / "bitext" / "demo.et")
    for p, side in zip(paths, (en, et)):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(line + "\n" for line in side[part::parts]), encoding="utf-8")


_DEV = [("The bus leaves at {i} o'clock.", "Buss väljub kell {i}."),
        ("There are {i} apples in the basket.", "Korvis on {i} õuna."),
        ("The meeting lasted {i} minutes.", "Koosolek kestis {i} minutit.")]


def _flores_rows() -> list[dict]:
    """The demo's FLORES-style rows, plus made-up dev rows so a 5-shot task has its few-shot pool."""
    rows = [json.loads(x) for x in lines(DEMO / "eval" / "flores" / "flores_demo.jsonl")]
    extra = [{"flores_split": "dev", "flores_line": 100 + i, "eng_Latn": en.format(i=i + 2), "est_Latn": et.format(i=i + 2)}
             for i, (en, et) in enumerate(_DEV * 3)]
    return rows + extra


def write_flores_folder(folder: Path, codes: list[str] = ()) -> None:
    """FLORES-200 layout: parallel/{dev,devtest}.{eng_Latn,est_Latn}, line-aligned (or, at a `.jsonl` path,
    the data kit's one-field-per-code rows). Each of `codes` (other target languages) gets its side too,
    with the Estonian text standing in: the fixtures hold no other text."""
    rows = _flores_rows()
    if folder.suffix == ".jsonl":
        write_jsonl(folder, [{**r, **{c: r["est_Latn"] for c in codes if c != "eng_Latn"}} for r in rows])
        return
    (folder / "parallel").mkdir(parents=True, exist_ok=True)
    for split in ("dev", "devtest"):
        for code in dict.fromkeys(["eng_Latn", "est_Latn", *codes]):
            side = code if code == "eng_Latn" else "est_Latn"
            text = "".join(r[side] + "\n" for r in rows if r["flores_split"] == split)
            (folder / "parallel" / f"{split}.{code}").write_text(text, encoding="utf-8")


def write_xcopa_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("test.et.jsonl", "val.et.jsonl"):
        shutil.copyfile(DEMO / "eval" / "xcopa_et" / name, folder / name)


def write_belebele(path: Path) -> None:
    """The test CSV at `path`, its dev CSV beside it (few-shot pool)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in ("belebele-est_Latn-test.csv", "belebele-est_Latn-dev.csv"):
        dest = path if name.endswith("-test.csv") else path.with_name(path.name.replace("test", "dev"))
        shutil.copyfile(DEMO / "eval" / "belebele" / name, dest)


def write_qa(path: Path) -> None:
    """SQuAD-format items (JSON lines of id, title, context, question, answers); dev beside test."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEMO / "eval" / "qa" / "qa-test.json", path)
    shutil.copyfile(DEMO / "eval" / "qa" / "qa-dev.json", path.with_name(path.name.replace("test", "dev")))


def write_eval_kit(root: Path) -> None:
    """Evaluation data laid out like ../shared/data (what decontamination scans)."""
    rows = _flores_rows()
    write_jsonl(root / "flores_sib200" / "flores200_sib_subset.jsonl", rows)
    write_flores_folder(root / "flores_sib200")
    write_xcopa_folder(root / "xcopa_et")
    write_belebele(root / "belebele" / "belebele-est_Latn-test.csv")


def write_sgm(path: Path, side: str) -> None:
    """A WMT SGML file (newstest style) holding the FLORES demo sentences of one side."""
    code = "eng_Latn" if side == "en" else "est_Latn"
    segs = "".join(f'<seg id="{i}">{r[code]}</seg>\n' for i, r in enumerate(_flores_rows(), 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<srcset setid="newstest2018" srclang="any">\n<doc sysid="ref" docid="rehearsal" origlang="en">\n'
                    f"{segs}</doc>\n</srcset>\n", encoding="utf-8")



def lines(path: Path) -> list[str]:
    return [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
