"""CTranslate2 on a converted model folder (int8 on CPU, float16 on GPU by default).

The folder comes from `ct2-transformers-converter` / `tiny_mt.convert_to_ctranslate2`, with the
tokenizer files copied along (`--copy_files`): tokenization and language codes are the HF
tokenizer's, exactly as in hf_seq2seq, so both backends see the same source tokens. Batching
is the same token-budget grouping of length-sorted segments with the same proportional cap,
clamped to the model's positions (the tokenizer's model_max_length), and the same
OUTPUT_TRUNCATED / SOURCE_TRUNCATED reports (the end token is asked back to tell a stop from a cut).
"""

from __future__ import annotations

import json
from pathlib import Path

from llammas_core.errors import ConfigError
from llammas_core.instructions.translate.base import (
    OUTPUT_TRUNCATED,
    SOURCE_TRUNCATED,
    TokenizedTranslator,
    fingerprint_dir,
    model_positions,
    output_cap,
    resolve_model_dir,
    token_budget_batches,
)
from llammas_core.instructions.translate.config import TranslatorConfig
from llammas_core.instructions.translate.hf_seq2seq import lang_setup, load_tokenizer

__all__ = ["CTranslate2Translator"]

# CTranslate2 architecture name -> family (language-code handling as in hf_seq2seq)
_FAMILIES = {"MarianMTModel": "marian", "M2M100ForConditionalGeneration": "m2m100",
             "T5ForConditionalGeneration": "madlad"}


class CTranslate2Translator(TokenizedTranslator):
    def __init__(self, cfg: TranslatorConfig):
        try:
            import ctranslate2
        except ImportError as exc:  # pragma: no cover - a project dependency
            raise ConfigError("the ctranslate2 backend needs the 'ctranslate2' package") from exc
        self.cfg = cfg
        path, local = resolve_model_dir(cfg.model)
        if not local or not (Path(path) / "model.bin").is_file():
            raise ConfigError(f"{cfg.model!r} is not a CTranslate2 model folder (no model.bin); convert it with "
                              "ct2-transformers-converter --copy_files <tokenizer files>")
        self.path = path
        self._fingerprint = fingerprint_dir(path)
        device = cfg.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        index = 0
        if device.startswith("cuda:"):
            device, index = "cuda", int(device.split(":", 1)[1])
        compute_type = cfg.compute_type
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        self.device, self.compute_type = device, compute_type
        self.translator = ctranslate2.Translator(
            path, device=device, device_index=index, compute_type=compute_type,
            intra_threads=cfg.threads, inter_threads=1)
        self.tokenizer = load_tokenizer(path)
        family = cfg.family
        if family == "auto":
            family = "generic"
            arch = ""
            try:
                arch = json.loads((Path(path) / "config.json").read_text()).get("architecture", "")
            except (OSError, ValueError):
                pass
            family = _FAMILIES.get(arch, "generic")
            name = type(self.tokenizer).__name__.lower()
            if "nllb" in name:
                family = "nllb"
            elif "marian" in name:
                family = "marian"
            elif family == "madlad" and "<2et>" not in self.tokenizer.get_vocab():
                family = "generic"
        self.family = family
        self.lang = lang_setup(self.tokenizer, family, cfg)
        positions = model_positions(None, self.tokenizer)
        self.input_limit = min(cfg.max_input_tokens, positions) if positions else cfg.max_input_tokens
        self.output_limit = positions - 1 if positions else None

    def model_id(self) -> dict:
        return {"name": "local", "revision": self.cfg.revision, "fingerprint": self._fingerprint,
                "family": self.family, "compute_type": self.compute_type, "device": self.device}

    def translate_checked(self, segments: list[str]) -> list[tuple[str, str | None]]:
        if not segments:
            return []
        texts = [self.lang.prefix + s for s in segments]
        full = self.tokenizer(texts, verbose=False)["input_ids"]  # long ones are reported, not warned about
        tokens = [self.tokenizer.convert_ids_to_tokens(x[: self.input_limit]) for x in full]
        end = self.tokenizer.eos_token
        out: list = [None] * len(segments)
        prefix = [self.lang.forced_bos_token] if self.lang.forced_bos_token else None
        for batch in token_budget_batches([len(t) for t in tokens], self.cfg.batch_tokens, self.cfg.max_batch_size):
            longest = max(len(tokens[i]) for i in batch)
            results = self.translator.translate_batch(
                [tokens[i] for i in batch],
                target_prefix=[prefix for _ in batch] if prefix else None,
                beam_size=self.cfg.beams,
                max_decoding_length=output_cap(longest, self.cfg, self.output_limit),
                max_input_length=0,  # already cut to input_limit (and reported) above
                return_end_token=True,
                max_batch_size=0,
            )
            for i, res in zip(batch, results):
                # cut to the segment's own cap, as hf_seq2seq does
                kept = res.hypotheses[0][:output_cap(len(tokens[i]), self.cfg, self.output_limit)]
                hyp = self.tokenizer.convert_tokens_to_ids([t for t in kept if t not in self.lang.drop_tokens])
                problem = SOURCE_TRUNCATED if len(full[i]) > self.input_limit else (
                    None if end in kept else OUTPUT_TRUNCATED)
                out[i] = (self.tokenizer.decode(hyp, skip_special_tokens=True).strip(), problem)
        return out

    def close(self) -> None:
        self.translator = None
