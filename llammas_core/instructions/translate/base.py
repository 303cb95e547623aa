"""The Translator interface every MT backend implements, and helpers they share."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterator

from llammas_core.errors import ConfigError
from llammas_core.instructions.translate.config import TranslatorConfig

__all__ = ["Translator", "TokenizedTranslator", "fingerprint_dir", "resolve_model_dir", "token_budget_batches", "output_cap",
           "OUTPUT_TRUNCATED", "SOURCE_TRUNCATED"]

# per-segment problems a backend reports (the record is then quarantined with it as the reason)
OUTPUT_TRUNCATED = "output_truncated"   # stopped by the length cap, not by the model (no EOS / finish_reason "length")
SOURCE_TRUNCATED = "source_truncated"   # the source was longer than the model's input limit and was cut


class Translator(ABC):
    """Translate batches of plain-text segments (protected spans already masked as <xN>)."""

    cfg: TranslatorConfig

    def identity(self) -> dict:
        """What determines the output: backend, model (+ revision or fingerprint of a local folder),
        decoding settings and language pair. The segment cache is keyed by its hash."""
        return {
            "backend": self.cfg.backend,
            "model": self.model_id(),
            "decoding": self.cfg.decoding(),
            "src_lang": self.cfg.src_lang,
            "tgt_lang": self.cfg.tgt_lang,
            "src_code": self.cfg.src_code,
            "tgt_code": self.cfg.tgt_code,
        }

    def model_id(self) -> dict:
        return {"name": self.cfg.model, "revision": self.cfg.revision}

    @abstractmethod
    def translate(self, segments: list[str]) -> list[str]:
        """One translation per segment, in order. Batching is the backend's business."""

    def translate_checked(self, segments: list[str]) -> list[tuple[str, str | None]]:
        """(translation, problem) per segment; problem is None, OUTPUT_TRUNCATED or SOURCE_TRUNCATED.
        Backends that can tell (all real ones) override this; translate() is then its text part."""
        return [(t, None) for t in self.translate(segments)]

    def max_source_tokens(self) -> int:
        """Longest source (in the model's tokens) translated without cutting."""
        return self.cfg.max_input_tokens

    def source_tokens(self, segments: list[str]) -> list[int]:
        """Source length of each segment in the units of max_source_tokens (an estimate of ~3
        characters a token here; the NMT backends count with their tokenizer)."""
        return [-(-len(s) // 3) for s in segments]

    def close(self) -> None:
        """Free the model / connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TokenizedTranslator(Translator):
    """A backend with a transformers tokenizer (`tokenizer`, `lang.prefix`) and an `input_limit`:
    counts source tokens as the model sees them; translate() is translate_checked()'s text."""

    tokenizer: object
    lang: object
    input_limit: int

    def max_source_tokens(self) -> int:
        return self.input_limit

    def source_tokens(self, segments: list[str]) -> list[int]:
        if not segments:
            return []
        return [len(x) for x in self.tokenizer([self.lang.prefix + s for s in segments], verbose=False)["input_ids"]]

    def translate(self, segments: list[str]) -> list[str]:
        return [t for t, _ in self.translate_checked(segments)]


def fingerprint_dir(path: str | Path) -> str:
    """sha256 over (name, size, content hash) of the files of a local model folder (a few seconds
    for a 2-3 GB checkpoint, once per run)."""
    root = Path(path)
    digest = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file() and not q.name.startswith(".")):
        st = p.stat()
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest.update(f"{p.relative_to(root).as_posix()}\0{st.st_size}\0{h.hexdigest()}\n".encode())
    return digest.hexdigest()


def resolve_model_dir(model: str, cache_root: str | Path | None = None) -> tuple[str, bool]:
    """(what from_pretrained should load, is_local_dir). Store URIs (file://, s3://) are copied to a
    local cache folder first; a hub id is returned as is and loaded from the local HF cache only."""
    if "://" in model:
        from llammas_core.store import open_uri

        if model.startswith("file://"):
            local = Path(model[len("file://"):])
            if not local.is_dir():
                raise ConfigError(f"model folder {model} does not exist")
            return str(local), True
        store, key = open_uri(model.rstrip("/") + "/x")
        key = key.rsplit("/", 1)[0] if "/" in key else ""
        digest = hashlib.sha256(model.encode()).hexdigest()[:16]
        dest = Path(cache_root or os.environ.get("LLAMMAS_MODEL_CACHE", "~/.cache/llammas/models")).expanduser() / digest
        if not (dest / ".complete").exists():
            files = list(store.list(key))
            if not files:
                raise ConfigError(f"no model files under {model}")
            for k, _ in files:
                store.get_file(k, dest / k[len(key):].lstrip("/"))
            (dest / ".complete").write_text(model)
        return str(dest), True
    p = Path(model).expanduser()
    if p.is_dir():
        return str(p.resolve()), True
    if model.startswith((".", "/", "~")):
        raise ConfigError(f"model folder {model!r} does not exist")
    return model, False


def output_cap(n_src_tokens: int, cfg: TranslatorConfig, model_limit: int | None = None) -> int:
    """New-token cap for a source of n tokens: proportional, so degenerate models stop, and never
    past the model's own limit (the decoder's positions, start token included)."""
    cap = int(n_src_tokens * cfg.max_ratio) + cfg.max_extra_tokens
    return min(cap, model_limit) if model_limit else cap


def model_positions(config, tokenizer=None) -> int | None:
    """The most positions a model's encoder/decoder takes (None: no fixed limit, e.g. T5's relative
    positions), from its config or else the tokenizer's model_max_length."""
    n = getattr(config, "max_position_embeddings", None) if config is not None else None
    if not n and tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        n = tokenizer.model_max_length
    return int(n) if n else None


def token_budget_batches(lengths: list[int], batch_tokens: int, max_batch_size: int) -> Iterator[list[int]]:
    """Indices grouped into batches of length-sorted segments whose padded size
    (longest x count) stays within batch_tokens (a single longer segment gets its own batch)."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i), reverse=True)
    batch: list[int] = []
    longest = 0
    for i in order:
        n = max(lengths[i], 1)
        new_longest = max(longest, n)
        if batch and (new_longest * (len(batch) + 1) > batch_tokens or len(batch) >= max_batch_size):
            yield batch
            batch, new_longest = [], n
        batch.append(i)
        longest = new_longest
    if batch:
        yield batch
