"""transformers `generate` on seq2seq MT checkpoints: Marian/OPUS-MT, NLLB-200, M2M100, MADLAD-400.

transformers 5 has no pipeline("translation"), so this calls generate directly:
- segments are tokenized once, sorted by length and grouped into token-budget batches
  (longest x count <= batch_tokens): little padding, few batches;
- each batch gets max_new_tokens proportional to its longest source (max_ratio), so a
  degenerate or random-init model stops, and each output is cut to its own source's cap, so a
  segment translates the same whatever batch it lands in (the cache relies on that); both are
  clamped to the model's positions (a 512-position Marian cannot decode 600 tokens);
- nothing is cut silently: an output without EOS within its cap is reported OUTPUT_TRUNCATED,
  a source over the input limit SOURCE_TRUNCATED (translate_checked; mt.py quarantines them);
- language codes per family: NLLB sets tokenizer.src_lang and forces the target code as BOS
  (est_Latn); M2M100 likewise with "__et__"; MADLAD-400 (T5) prefixes the source with "<2et>";
  Marian multi-target models take a ">>est<<" prefix given as tgt_code;
- bfloat16 on CUDA by default, float32 on CPU.
"""

from __future__ import annotations

import logging
import warnings
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
from llammas_core.instructions.translate.config import TranslatorConfig, model_lang_code
from llammas_core.threads import model_lock

__all__ = ["HFSeq2SeqTranslator", "detect_family", "LangSetup", "lang_setup", "load_tokenizer", "resolve_revision"]

log = logging.getLogger(__name__)


def load_tokenizer(path: str, revision: str | None = None, local: bool = True):
    from transformers import AutoTokenizer

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*sacremoses.*")  # Marian's optional punct. normaliser
        try:
            return AutoTokenizer.from_pretrained(path, revision=revision, local_files_only=True)
        except OSError as exc:
            where = "folder" if local else "hub id (looked in the local HF cache only; nothing is downloaded)"
            raise ConfigError(f"cannot load a tokenizer from model {where} {path!r}: {exc}") from exc


def resolve_revision(model: str, revision: str | None) -> str | None:
    """The commit hash of the local HF-cache snapshot that `model` (a hub id) at `revision` loads:
    what the segment cache is keyed on, so a newer snapshot never reuses older translations."""
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(model, revision=revision, local_files_only=True)
    except Exception:  # not in the cache as a snapshot: loading fails with its own clear error
        return None
    return Path(path).name


def detect_family(model_type: str, tokenizer) -> str:
    name = type(tokenizer).__name__.lower()
    if model_type == "marian" or "marian" in name:
        return "marian"
    if "nllb" in name:
        return "nllb"
    if model_type == "m2m_100" or "m2m100" in name:
        return "m2m100"
    if model_type in {"t5", "mt5"} and "<2et>" in tokenizer.get_vocab():
        return "madlad"
    return "generic"


class LangSetup:
    """How one model family is told the language pair: a text prefix and/or a forced first token;
    `drop_tokens`: language tokens never kept in decoded text (under transformers 5 the M2M100
    tokenizer does not count its `__xx__` tokens as special, so skip_special_tokens keeps them)."""

    def __init__(self, prefix: str = "", forced_bos_token: str | None = None, drop_tokens: frozenset = frozenset()):
        self.prefix = prefix
        self.forced_bos_token = forced_bos_token
        self.drop_tokens = drop_tokens

    def drop_ids(self, tokenizer) -> set[int]:
        return {tokenizer.convert_tokens_to_ids(t) for t in self.drop_tokens}


def lang_setup(tokenizer, family: str, cfg: TranslatorConfig) -> LangSetup:
    src = cfg.src_code or model_lang_code(family, cfg.src_lang)
    tgt = cfg.tgt_code or model_lang_code(family, cfg.tgt_lang)
    def known(token: str | None) -> bool:
        # not get_vocab(): M2M100Tokenizer keeps its language tokens outside it under transformers 5
        return bool(token) and tokenizer.convert_tokens_to_ids(token) not in (None, tokenizer.unk_token_id)

    if family == "nllb":
        if not (known(src) and known(tgt)):
            raise ConfigError(f"NLLB tokenizer has no language token {src!r} or {tgt!r}")
        tokenizer.src_lang = src
        return LangSetup(forced_bos_token=tgt)
    if family == "m2m100":
        tokenizer.src_lang = src
        token = getattr(tokenizer, "lang_code_to_token", {}).get(tgt, f"__{tgt}__")
        if not known(token):
            raise ConfigError(f"M2M100 tokenizer has no language token {token!r}")
        lang_tokens = frozenset(getattr(tokenizer, "lang_token_to_id", {}) or [token])
        return LangSetup(forced_bos_token=token, drop_tokens=lang_tokens)
    if family == "madlad":
        if not known(tgt):
            raise ConfigError(f"MADLAD tokenizer has no target prefix token {tgt!r}")
        return LangSetup(prefix=f"{tgt} ")
    if family == "marian" and tgt and tgt.startswith(">>"):
        return LangSetup(prefix=f"{tgt} ")
    return LangSetup()


class HFSeq2SeqTranslator(TokenizedTranslator):
    def __init__(self, cfg: TranslatorConfig):
        import torch
        from transformers import AutoConfig, AutoModelForSeq2SeqLM

        self.cfg = cfg
        path, self.local = resolve_model_dir(cfg.model)
        self.path = path
        self._fingerprint = fingerprint_dir(path) if self.local else None
        device = cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for but CUDA is not available")
        dtype = {"auto": torch.bfloat16 if device.startswith("cuda") else torch.float32,
                 "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.dtype]
        if cfg.threads and device == "cpu":
            torch.set_num_threads(cfg.threads)
        self.device, self.dtype = device, dtype
        self.tokenizer = load_tokenizer(path, cfg.revision, self.local)
        try:
            with model_lock():  # instruction stages of several languages run in threads side by side
                mconf = AutoConfig.from_pretrained(path, revision=cfg.revision, local_files_only=True)
                self.model = AutoModelForSeq2SeqLM.from_pretrained(
                    path, revision=cfg.revision, local_files_only=True, dtype=dtype).to(device).eval()
        except OSError as exc:
            raise ConfigError(f"cannot load seq2seq model {cfg.model!r}: {exc}") from exc
        self.family = cfg.family if cfg.family != "auto" else detect_family(mconf.model_type, self.tokenizer)
        self.lang = lang_setup(self.tokenizer, self.family, cfg)
        self.forced_bos_id = (self.tokenizer.convert_tokens_to_ids(self.lang.forced_bos_token)
                              if self.lang.forced_bos_token else None)
        self.drop_ids = self.lang.drop_ids(self.tokenizer)
        self.batches = 0
        self.new_tokens: list[int] = []  # generated tokens per segment of the last translate() call
        positions = model_positions(mconf, self.tokenizer)
        self.input_limit = min(cfg.max_input_tokens, positions) if positions else cfg.max_input_tokens
        self.output_limit = positions - 1 if positions else None  # the decoder start token takes one
        self.revision = resolve_revision(cfg.model, cfg.revision) if not self.local else None

    def model_id(self) -> dict:
        # the resolved snapshot commit (a hub id) or the files' hash (a folder): `revision: None`
        # must not match whatever snapshot the cache holds later
        return {"name": self.cfg.model if not self.local else "local", "revision": self.cfg.revision,
                "resolved_revision": self.revision, "fingerprint": self._fingerprint, "family": self.family,
                "dtype": str(self.dtype).removeprefix("torch."), "device": self.device.split(":")[0]}

    def encode(self, segments: list[str]) -> list[list[int]]:
        texts = [self.lang.prefix + s for s in segments]
        return self.tokenizer(texts, truncation=True, max_length=self.input_limit)["input_ids"]

    def generate_ids(self, segments: list[str]) -> list[list[int]]:
        """Generated token ids per segment (after the decoder start token, cut to the segment's cap)."""
        return self._generate(self.encode(segments))

    def _generate(self, ids: list[list[int]]) -> list[list[int]]:
        import torch

        out: list[list[int]] = [[] for _ in ids]
        pad = self.tokenizer.pad_token_id
        for batch in token_budget_batches([len(x) for x in ids], self.cfg.batch_tokens, self.cfg.max_batch_size):
            longest = max(len(ids[i]) for i in batch)
            input_ids = torch.full((len(batch), longest), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), longest), dtype=torch.long)
            for row, i in enumerate(batch):  # right padding, as the tokenizers do for seq2seq encoders
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            kwargs = dict(num_beams=self.cfg.beams, do_sample=False,
                          max_new_tokens=output_cap(longest, self.cfg, self.output_limit))
            if self.forced_bos_id is not None:
                kwargs["forced_bos_token_id"] = self.forced_bos_id
            with torch.inference_mode():
                gen = self.model.generate(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                          **kwargs)
            self.batches += 1
            for row, i in enumerate(batch):
                # each segment keeps at most its own cap, so the output does not depend on its batch
                out[i] = gen[row, 1:1 + output_cap(len(ids[i]), self.cfg, self.output_limit)].tolist()
        return out

    def translate_checked(self, segments: list[str]) -> list[tuple[str, str | None]]:
        if not segments:
            return []
        pad = self.tokenizer.pad_token_id
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos) if isinstance(eos, (list, tuple)) else {eos}
        full = self.tokenizer([self.lang.prefix + s for s in segments], verbose=False)["input_ids"]
        gen = self._generate([x[: self.input_limit] for x in full])
        self.new_tokens = [sum(1 for t in g if t != pad and t not in eos_ids) for g in gen]
        out = []
        for src, g in zip(full, gen):
            problem = SOURCE_TRUNCATED if len(src) > self.input_limit else (
                None if eos_ids & set(g) else OUTPUT_TRUNCATED)
            text = self.tokenizer.decode([t for t in g if t not in self.drop_ids], skip_special_tokens=True).strip()
            out.append((text, problem))
        return out

    def close(self) -> None:
        import gc

        self.model = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # pragma: no cover
            pass
