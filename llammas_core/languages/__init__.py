"""The language registry: what llammas knows about each language, in one place (languages.yaml).

    from llammas_core.languages import get, require, register, Language
    get("et").flores                 # 'est_Latn'
    require("lv", "xcopa")           # ConfigError: no XCOPA for lv; FLORES and Belebele are available
    register(Language(code="xx", name="...", iso639_3="...", script="Latn", ...))

Extra languages for every process (datatrove workers, Prefect workers): a YAML file of the shape of
languages.yaml, named in the LLAMMAS_LANGUAGES environment variable.
"""

from llammas_core.languages.qa import qa_normalizer
from llammas_core.languages.registry import (
    CAPABILITIES,
    ENV,
    Language,
    LanguageCode,
    codes,
    default_target,
    english_name,
    find,
    flores_code,
    get,
    has,
    lid_label_map,
    lid_threshold,
    prompt_templates,
    register,
    reload,
    require,
    script_prefixes,
    sentence_splitter,
    translation_templates,
    with_filter_defaults,
    word_tokenizer,
    xcopa_connectives,
)

__all__ = [
    "CAPABILITIES", "ENV", "Language", "LanguageCode", "codes", "default_target", "english_name", "find",
    "flores_code", "get", "has", "lid_label_map", "lid_threshold", "prompt_templates",
    "qa_normalizer", "register", "reload", "require", "script_prefixes", "sentence_splitter",
    "translation_templates", "with_filter_defaults", "word_tokenizer", "xcopa_connectives",
]
