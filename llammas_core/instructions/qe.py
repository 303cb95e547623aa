"""Quality estimation of translated records, kept as columns; verdicts by per-language thresholds.

Checks on the translated part of a record (the MT segments; code and other verbatim pieces are
left out, they would only blur the scores):
- `lid_lang`/`lid_prob`: the project's fastText LID (llammas_core.corpus.langid, lid.176.ftz by
  default) on the translated text; it must be the target language with >= lid_min_prob;
- `length_ratio`: characters out / characters in, within [length_ratio_min, length_ratio_max];
- `copy_ratio`: share (by characters) of segments of 3+ words that came back unchanged (ignoring
  case and spacing): untranslated output;
- `compression_ratio`: len / len(zlib) of the output; repetition loops compress far better than
  the source (`src_compression_ratio`);
- `span_problems`: protected spans lost/duplicated/garbled (those records are quarantined, not
  removed: see mt.py);
- optional `roundtrip_chrf` (sacrebleu chrF of a back-translation against the source) and
  `comet` (a local COMET/CometKiwi checkpoint scored in a subprocess, since unbabel-comet needs
  transformers<5; "skipped" when not configured or not installed there).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import zlib

from llammas_core.instructions.translate.config import QEConfig

__all__ = ["record_qe", "compression_ratio", "copy_ratio", "roundtrip_chrf", "comet_scores", "COMET_SKIPPED"]

COMET_SKIPPED = "skipped"


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return round(len(data) / len(zlib.compress(data, 9)), 3)


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().casefold()


def copy_ratio(src_segments: list[str], out_segments: list[str]) -> float:
    total = sum(len(s) for s in src_segments)
    if not total:
        return 0.0
    copied = sum(len(s) for s, t in zip(src_segments, out_segments)
                 if len(s.split()) >= 3 and _norm(s) == _norm(t))
    return round(copied / total, 4)


def _strip_tokens(s: str) -> str:
    return re.sub(r"<\s*x\s*\d+\s*>", " ", s)


def record_qe(src_segments: list[str], out_segments: list[str], lang: str, qe: QEConfig,
              span_problems: list[str] | None = None) -> tuple[dict, list[str]]:
    """(QE columns, QE rejection reasons) of one record from its masked source and output segments."""
    from llammas_core.corpus.langid import predict_language
    from llammas_core.languages import lid_label_map

    th = qe.for_lang(lang)
    src = " ".join(_strip_tokens(s) for s in src_segments)
    out = " ".join(_strip_tokens(s) for s in out_segments)
    src_chars = len(re.sub(r"\s+", "", src))
    out_chars = len(re.sub(r"\s+", "", out))
    cols: dict = {"segments": len(src_segments), "span_problems": list(span_problems or [])}
    reasons: list[str] = []
    if not src_segments:
        return cols, reasons
    letters = sum(c.isalpha() for c in out)
    label_map = qe.lid_label_map if qe.lid_label_map is not None or qe.lid_model else lid_label_map(lang)
    lid_lang, lid_prob = predict_language(out, model=qe.lid_model, label_map=label_map or None)
    cols.update(lid_lang=lid_lang, lid_prob=round(lid_prob, 4))
    if th.lid_min_prob is not None and letters >= th.lid_min_chars:
        if lid_lang != lang:
            reasons.append("lid_not_target")
        elif lid_prob < th.lid_min_prob:
            reasons.append("lid_low_prob")
    ratio = round(out_chars / src_chars, 4) if src_chars else 0.0
    cols["length_ratio"] = ratio
    if src_chars >= th.length_min_chars and (
            (th.length_ratio_min is not None and ratio < th.length_ratio_min)
            or (th.length_ratio_max is not None and ratio > th.length_ratio_max)):
        reasons.append("length_ratio")
    cols["copy_ratio"] = copy_ratio(src_segments, out_segments)
    if (th.copy_max is not None and len(src_segments) >= th.copy_min_segments
            and cols["copy_ratio"] > th.copy_max):
        reasons.append("copy")
    cr, src_cr = compression_ratio(out), compression_ratio(src)
    cols.update(compression_ratio=cr, src_compression_ratio=src_cr)
    if (th.compression_ratio_max is not None and len(out) >= th.compression_min_chars
            and cr > th.compression_ratio_max and cr > src_cr + th.compression_ratio_margin):
        reasons.append("repetition")
    return cols, reasons


def roundtrip_chrf(sources: list[str], back_translations: list[str]) -> float:
    """chrF (sacrebleu) of a back-translation against its source."""
    from sacrebleu.metrics import CHRF

    return round(CHRF().sentence_score(" ".join(_strip_tokens(b) for b in back_translations),
                                       [" ".join(_strip_tokens(s) for s in sources)]).score, 2)


_COMET_SCRIPT = r"""
import json, sys
args = json.load(open(sys.argv[1]))
try:
    from comet import load_from_checkpoint
except ImportError:
    print(json.dumps({"skipped": "unbabel-comet not installed"})); sys.exit(0)
import torch
model = load_from_checkpoint(args["model"])
data = [{"src": s, "mt": m} for s, m in zip(args["src"], args["mt"])]
out = model.predict(data, batch_size=args["batch_size"], gpus=1 if torch.cuda.is_available() else 0,
                    progress_bar=False)
print(json.dumps({"scores": [float(x) for x in out.scores]}))
"""


def comet_scores(sources: list[str], translations: list[str], qe: QEConfig) -> list[float] | str:
    """COMET/CometKiwi (reference-free src+mt) scores from a local checkpoint, in a subprocess with
    its own interpreter (qe.comet_python). Returns "skipped" when no model is configured, the path
    does not exist, or unbabel-comet is not installed there; other failures raise."""
    if not qe.comet_model or not os.path.exists(qe.comet_model) or not sources:
        return COMET_SKIPPED
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.json")
        with open(path, "w") as f:
            json.dump({"model": qe.comet_model, "src": sources, "mt": translations,
                       "batch_size": qe.comet_batch_size}, f)
        proc = subprocess.run([qe.comet_python or sys.executable, "-c", _COMET_SCRIPT, path],
                              capture_output=True, text=True, timeout=qe.comet_timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"COMET subprocess failed: {proc.stderr[-500:]}")
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
    result = json.loads(last)
    if "skipped" in result:
        return COMET_SKIPPED
    return [round(s, 4) for s in result["scores"]]
