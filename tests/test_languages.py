"""The language registry: its data checked against the real sources (NLLB/M2M100 tokenizers' code lists,
lm-eval's XCOPA connectives and Belebele configs, lid.176's labels, datatrove's word tokenizers), the
capability errors, the QA rules, per-language XCOPA prompts and the form choices."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from llammas_core import languages as L
from llammas_core.errors import ConfigError

LM_EVAL_TASKS = Path(__import__("lm_eval").__file__).parent / "tasks"
REQUIRED = ["en", "et", "fi", "lv", "ru", "de", "ar", "el", "hi", "tr", "vi", "zh"]


@pytest.fixture
def fresh_registry():
    L.reload()
    yield
    L.reload()


def test_required_languages_and_model_codes_are_real():
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES as M2M
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES as NLLB

    assert set(REQUIRED) <= set(L.codes())
    for code in L.codes():
        lang = L.get(code)
        assert lang.nllb is None or lang.nllb in NLLB, code
        assert lang.m2m100 is None or lang.m2m100 in M2M["m2m100"], code
        assert lang.madlad is None or lang.madlad == f"<2{code}>", code
        assert lang.belebele is None or (LM_EVAL_TASKS / "belebele" / f"belebele_{lang.belebele}.yaml").is_file(), code
        assert lang.flores is None or lang.flores.endswith("_" + lang.script if lang.script != "Jpan" else "_Jpan")
    for code in REQUIRED:  # every required language can be evaluated on FLORES and Belebele and translated
        assert L.require(code, "flores") and L.require(code, "belebele") and L.require(code, "nllb")


def test_xcopa_connectives_are_lm_evals():
    import importlib.util

    spec = importlib.util.spec_from_file_location("xcopa_utils", LM_EVAL_TASKS / "xcopa" / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    upstream = {name.removeprefix("doc_to_text_"): fn.keywords["connector"]
                for name, fn in vars(utils).items() if name.startswith("doc_to_text_") and isinstance(fn, partial)}
    assert {"et", "tr", "vi", "zh"} <= set(upstream)
    for code in L.codes():
        x = L.get(code).xcopa
        if code in upstream:  # an XCOPA language of the registry has lm-eval's connectives, verbatim
            assert x is not None and x.code == code and {"cause": x.cause, "effect": x.effect} == upstream[code], code
        else:
            assert x is None, code


def test_lid_labels_and_word_tokenizers_exist():
    from llammas_core.corpus.langid import _load_model, default_model_path
    from llammas_core.corpus.validate import tokenizer_languages

    labels = {x.removeprefix("__label__") for x in _load_model(default_model_path()).get_labels()}
    for code in L.codes():
        lang = L.get(code)
        assert lang.lid.lid176 is None or lang.lid.lid176 in labels, code
        assert L.word_tokenizer(code) in tokenizer_languages(), code
    assert L.lid_label_map("et", "glotlid")["ekk_Latn"] == "et"


def test_missing_capabilities_name_the_language_and_what_exists():
    with pytest.raises(ConfigError, match=r"^no XCOPA for lv; FLORES and Belebele are available$"):
        L.require("lv", "xcopa")
    with pytest.raises(ConfigError, match=r"^no NLLB for vro$"):
        L.require("vro", "nllb")
    with pytest.raises(ConfigError, match=r"language 'xx' is not in the language registry \(supported: .*\bet\b"):
        L.get("xx")
    # any of a language's codes finds it
    assert L.get("est_Latn").code == "et" and L.get("lav").code == "lv" and L.get("lvs_Latn").code == "lv"


def test_xcopa_without_connectives_fails_before_any_model_loads(tmp_path):
    from llammas_core.evaluate.lmeval import validate_mc
    from llammas_core.evaluate.spec import TaskSpec

    (tmp_path / "test.lv.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match="no XCOPA for lv; FLORES and Belebele are available"):
        validate_mc(TaskSpec(name="x", kind="xcopa", data=str(tmp_path), language="lv"))


def test_xcopa_prompt_uses_the_languages_connectives(tmp_path):
    from llammas_core.evaluate.lmeval import build_config
    from llammas_core.evaluate.spec import TaskSpec

    doc = {"premise": "男人病了。", "choice1": "A", "choice2": "B", "question": "cause", "label": 0}
    for code, conn in (("zh", "因为"), ("tr", "çünkü"), ("et", "sest")):
        (tmp_path / f"test.{code}.jsonl").write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
        cfg = build_config(TaskSpec(name="x", kind="xcopa", data=str(tmp_path), language=code))
        assert cfg["dataset_kwargs"]["data_files"]["test"].endswith(f"test.{code}.jsonl")
        assert cfg["doc_to_text"](doc) == f"男人病了 {conn}"


def test_qa_rules():
    en, et, de, zh = (L.qa_normalizer(c) for c in ("en", "et", "de", "zh"))
    assert en("The «Tallinn» port!") == "«tallinn» port"  # SQuAD v1.1: ASCII punctuation and a/an/the only
    assert et("«Tallinna» sadam – „vana“!") == "tallinna sadam vana"  # MLQA: every Unicode punctuation mark
    assert et("the sadam") == "the sadam"  # no English articles outside English
    assert de("Der Hafen, die Stadt.") == "hafen stadt"
    assert zh("北京，中国的首都。") == "北 京 中 国 的 首 都"  # MLQA's mixed segmentation


def test_form_offers_the_registry_and_register_extends_it(fresh_registry):
    from llammas_core.corpus.config import CorpusConfig
    from llammas_core.evaluate.spec import TaskSpec

    enum = CorpusConfig.model_json_schema()["properties"]["language"]["enum"]
    assert enum == L.codes() and set(REQUIRED) <= set(enum)
    L.register(L.Language(code="qaa", name="Test", iso639_3="qaa", script="Latn"))
    assert "qaa" in CorpusConfig.model_json_schema()["properties"]["language"]["enum"]
    branches = TaskSpec.model_json_schema()["properties"]["language"]["anyOf"]
    assert any("qaa" in b.get("enum", []) for b in branches)
    with pytest.raises(ConfigError, match="no FLORES for qaa$"):
        L.flores_code("qaa")


def test_extra_yaml_named_in_the_environment(tmp_path, monkeypatch, fresh_registry):
    extra = tmp_path / "extra.yaml"
    extra.write_text("languages:\n  qab: {name: Other test, iso639_3: qab, script: Cyrl, flores: qab_Cyrl}\n",
                     encoding="utf-8")
    monkeypatch.setenv(L.ENV, str(extra))
    L.reload()
    assert L.flores_code("qab") == "qab_Cyrl" and L.script_prefixes("qab") == ("CYRILLIC",)
    assert L.get("et").flores == "est_Latn"  # the shipped languages stay
    extra.write_text("languages:\n  qac: {name: Broken}\n", encoding="utf-8")
    L.reload()
    with pytest.raises(ConfigError, match=r"(?s)extra.yaml, language 'qac'.*iso639_3"):
        L.codes()
    extra.write_text("languages:\n  no: {name: Norwegian, iso639_3: nor, script: Latn}\n", encoding="utf-8")
    L.reload()
    with pytest.raises(ConfigError, match="language key False is not a string; quote it"):
        L.codes()
