"""The rehearsal of a multilingual config (`languages` + `for_each_language`, x-LLaMA's MuIT): the
templates are expanded, then each language's corpus and instructions sections get overlay.py's fixtures
and tiny models, as a single-language config's do.

What changes beyond overlay.py:
- `languages`: the first SIZES["scaling_languages"] (each language runs the same code; the MuIT mixture,
  the m-LLaMA and the per-language x-LLaMAs still see several). `per_language` overrides and `muit` caps
  or weights of the languages left out are dropped with them;
- the fixtures hold English and Estonian text only: for another target language the Estonian side stands
  in (bitext, FLORES, Belebele), so the bitext cleaning's LID and script checks are off (noted), and so are
  QE's thresholds (a random MT model's output cannot pass them; its records must reach SFT).
"""

from __future__ import annotations

from llammas_core.rehearsal.overlay import SIZES, Placer, _corpus, _instructions, qe_thresholds_off

def overlay_languages(cfg: dict, placer: Placer) -> None:
    """Expand `cfg`'s per-language templates (in place) for the kept languages and overlay their sections."""
    from llammas_core.multilingual.config import expand_languages

    langs = list(cfg["languages"])
    kept = langs[:SIZES["scaling_languages"]]
    placer.languages = kept  # FLORES fixtures get a column per kept language
    cfg["languages"] = kept
    if cfg.get("per_language"):
        cfg["per_language"] = {k: v for k, v in cfg["per_language"].items() if k in kept}
    for field in ("translation_caps", "weights"):
        value = (cfg.get("muit") or {}).get(field)
        if isinstance(value, dict):
            cfg["muit"][field] = {k: v for k, v in value.items() if k in kept}
    expanded = expand_languages(cfg)
    cfg.clear()
    cfg.update(expanded)
    placer.notes.append(f"languages: {kept} of {langs} (each language runs the same code)")
    stand_in = sorted(set(kept) - {"et"})
    if stand_in:
        placer.notes.append(f"Estonian fixture text stands in for {', '.join(stand_in)}; "
                            "bitext cleaning's LID and script checks off for them")
    for lang, sections in cfg["per_language"].items():
        if sections.get("corpus"):
            _corpus(sections["corpus"], placer)
        inst = sections.get("instructions")
        if not inst:
            continue
        if lang != "et":
            inst.setdefault("cleaning", {}).update(lid=False, min_script_ratio=0.0)
        _instructions(inst, placer)
        qe_thresholds_off(inst)
