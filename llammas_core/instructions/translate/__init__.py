"""Machine-translation backends behind one interface (`Translator`), built by `make_translator`.

Backends (one a file): hf_seq2seq (transformers generate), ctranslate2 (converted folder),
openai (OpenAI-compatible chat/completions endpoint). Heavy libraries load only with their backend.
"""

from __future__ import annotations

from llammas_core.errors import ConfigError
from llammas_core.instructions.translate.base import Translator
from llammas_core.instructions.translate.config import QEConfig, QEThresholds, TranslatorConfig

__all__ = ["Translator", "TranslatorConfig", "QEConfig", "QEThresholds", "make_translator"]


def make_translator(cfg: TranslatorConfig) -> Translator:
    """The Translator for cfg.backend (model loaded / client ready)."""
    if cfg.backend == "hf_seq2seq":
        from llammas_core.instructions.translate.hf_seq2seq import HFSeq2SeqTranslator

        return HFSeq2SeqTranslator(cfg)
    if cfg.backend == "ctranslate2":
        from llammas_core.instructions.translate.ctranslate2 import CTranslate2Translator

        return CTranslate2Translator(cfg)
    if cfg.backend == "openai":
        from llammas_core.instructions.translate.openai import OpenAITranslator

        return OpenAITranslator(cfg)
    raise ConfigError(f"unknown translation backend {cfg.backend!r}")
