"""The rehearsal of a `scaling` section: its CoIT pilots (instructions -> SFT -> FLORES, per language and
translation-data size) at toy size, then the fit and the allocation (`@allocation`), on the same S3 store.

What changes, beyond what overlay.py does to the pilot's instructions, train and evaluate sections:
- `pilot_sizes` become SIZES["pilot_sizes"] (what the demo bitext can fill), and `budget`, `step` and
  `available` shrink with them (budget per language over the largest pilot keeps its ratio), so the
  allocation problem keeps its shape;
- `languages`: the first SIZES["scaling_languages"] (each language runs the same code). The inputs of
  every listed language are written, so `--set scaling.languages=[...]` rehearses more of them;
- the fixtures hold English and Estonian text only: for another target language the Estonian side stands
  in (bitext, FLORES), so the bitext cleaning's LID and script checks are off (noted), and so are QE's
  thresholds (a random MT model's output cannot pass them; its records must reach the pilots' SFT).
A section without `pilot` (points or pilot_results only) fits in seconds: it runs as configured.
"""

from __future__ import annotations

from llammas_core.rehearsal.overlay import SIZES, Placer, _evaluate, _instructions, _train, qe_thresholds_off

def _toy(n: float, step: int) -> int:
    return max(step, int(round(n / step)) * step)


def overlay_scaling(s: dict, placer: Placer) -> None:
    pilot = s.get("pilot")
    if not pilot:
        return
    langs = list(s.get("languages") or [])
    placer.languages = langs
    sizes, step = list(SIZES["pilot_sizes"]), SIZES["scaling_step"]
    factor = max(sizes) / max(s.get("pilot_sizes") or sizes)
    kept = langs[:SIZES["scaling_languages"]]
    per_language = s.get("budget", 0) / max(1, len(langs))
    s.update(pilot_sizes=sizes, step=step, languages=kept, budget=_toy(per_language * len(kept) * factor, step))
    if s.get("available"):
        s["available"] = {k: _toy(v * factor, step) for k, v in s["available"].items() if k in kept}
    for key in ("points", "pilot_results"):
        if s.get(key):
            s[key] = [p for p in s[key] if p.get("language") in kept]
    placer.notes.append(f"scaling: languages {kept} of {langs} (the inputs of all are written), pilot sizes "
                        f"{sizes}, budget {s['budget']} in steps of {step}")
    inst = pilot.get("instructions") or {}
    if set(langs) - {"et"}:
        cleaning = inst.setdefault("cleaning", {})
        cleaning.update(lid=False, min_script_ratio=0.0)
        placer.notes.append("scaling pilots: Estonian fixture text stands in for "
                            f"{', '.join(sorted(set(langs) - {'et'}))}; bitext cleaning's LID and script checks off")
    _instructions(inst, placer)
    qe_thresholds_off(inst)
    _train(pilot.get("train") or {}, placer)
    _evaluate(pilot.get("evaluate") or {}, placer)
