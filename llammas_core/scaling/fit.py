"""Scaling curves: translation score S as a function of the number X of translation pairs.

Forms (all increasing and concave for the parameters their bounds allow, see `concave`):
- `saturating`: S(X) = S_inf - a * X^(-b), a >= 0, b > 0; S'' = -a b (b+1) X^(-b-2) <= 0.
- `paper`: x-LLaMA's form as we recall it, S(X) = C - alpha * (gamma X)^beta with beta < 0 and C the metric's
  ceiling (100); gamma is not identifiable apart from alpha (alpha gamma^beta is one number), so it is the
  saturating form with S_inf fixed at `ceiling`. Offered only when a ceiling is configured.
- `loglinear`: S(X) = alpha + beta * log X; concave iff beta >= 0 (beta is not bounded: a falling score is
  reported as it is, and the allocation then says it is not exact).

Fits are deterministic least squares (scipy.optimize.curve_fit, trust-region with bounds, fixed start points;
log-linear in closed form). X is scaled by its largest value while fitting, for conditioning; the reported
parameters are for X in pairs. The form is chosen on held-out points: leave-one-out, or the largest X held out
(the extrapolation the allocation relies on).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from llammas_core.errors import ConfigError

FORMS = ("saturating", "paper", "loglinear")
N_PARAMS = {"saturating": 3, "paper": 2, "loglinear": 2}


@dataclass(frozen=True)
class Curve:
    form: str
    params: dict[str, float]

    def __call__(self, x) -> np.ndarray:
        """S(X); below one pair (log and power need X > 0) the tangent at X = 1, which keeps a concave curve
        concave down to X = 0 (a flat start would make the first step look worthless to water-filling)."""
        p = self.params
        if np.ndim(x) == 0:  # the allocation's inner loop: plain floats are ~20x faster than numpy scalars
            x = float(x)
            if self.form == "loglinear":
                return p["alpha"] + p["beta"] * (math.log(x) if x >= 1 else x - 1.0)
            return p["s_inf"] - p["a"] * (x ** -p["b"] if x >= 1 else 1.0 - p["b"] * (x - 1.0))
        x = np.asarray(x, dtype=float)
        u = np.maximum(x, 1.0)
        if self.form == "loglinear":
            y, slope = p["alpha"] + p["beta"] * np.log(u), p["beta"]
        else:
            y, slope = p["s_inf"] - p["a"] * np.power(u, -p["b"]), p["a"] * p["b"]
        return np.where(x < 1.0, y + slope * (x - 1.0), y)

    @property
    def concave(self) -> bool:
        """Concave (and non-decreasing) on X >= 1: marginal-gain water-filling is then exact."""
        if self.form == "loglinear":
            return self.params["beta"] >= 0
        return self.params["a"] >= 0 and self.params["b"] > 0

    def formula(self) -> str:
        p = self.params
        if self.form == "loglinear":
            return f"S(X) = {p['alpha']:.4g} + {p['beta']:.4g}·ln X"
        return f"S(X) = {p['s_inf']:.4g} − {p['a']:.4g}·X^(−{p['b']:.4g})"


def _points(xs, ys) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError("scaling points: X and S must be two lists of the same length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("scaling points: every X and S must be a finite number")
    if np.any(x < 1):
        raise ConfigError(f"scaling points: X is a number of translation pairs, at least 1 (got {x.min():g})")
    return x, y


def fit_curve(form: str, xs, ys, ceiling: float | None = None) -> Curve:
    """Least-squares fit of one form; a ConfigError when there are fewer distinct X than parameters."""
    if form not in FORMS:
        raise ConfigError(f"unknown scaling form {form!r}; known: {', '.join(FORMS)}")
    x, y = _points(xs, ys)
    need = N_PARAMS[form]
    if len(np.unique(x)) < need:
        raise ConfigError(f"the {form} form has {need} parameters and needs at least {need} distinct sizes X; "
                          f"got {len(np.unique(x))}")
    if form == "loglinear":
        beta, alpha = np.polyfit(np.log(x), y, 1)
        return Curve(form, {"alpha": float(alpha), "beta": float(beta)})
    if form == "paper" and ceiling is None:
        raise ConfigError("the paper form needs the metric's ceiling (scaling.ceiling, e.g. 100 for chrF/BLEU/COMET×100)")
    from scipy.optimize import curve_fit

    ref = float(x.max())
    u = x / ref  # conditioning: the curve in u = X / ref, then a_X = a_u * ref^b
    spread = float(np.ptp(y)) or 1.0
    if form == "saturating":
        top = ceiling if ceiling is not None else float(y.max()) + 100 * spread
        top = max(top, float(y.max()))
        def f(u, s, a, b):
            return s - a * np.power(u, -b)
        p0 = [min(float(y.max()) + 0.1 * spread, top), spread, 0.5]
        bounds = ([float(y.min()), 0.0, 1e-3], [top, np.inf, 5.0])
    else:
        def f(u, a, b):
            return ceiling - a * np.power(u, -b)
        p0, bounds = [max(ceiling - float(y.max()), 1e-6), 0.5], ([0.0, 1e-3], [np.inf, 5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # covariance not estimable with as many points as parameters: not used
        try:
            popt, _ = curve_fit(f, u, y, p0=p0, bounds=bounds, method="trf", maxfev=20000)
        except RuntimeError as e:
            raise ConfigError(f"the {form} fit did not converge on these points: {e}") from None
    if form == "saturating":
        s, a, b = popt
    else:
        (a, b), s = popt, ceiling
    return Curve(form, {"s_inf": float(s), "a": float(a) * ref ** float(b), "b": float(b)})


def rmse(curve: Curve, xs, ys) -> float:
    x, y = _points(xs, ys)
    return float(np.sqrt(np.mean((curve(x) - y) ** 2)))


def heldout_error(form: str, xs, ys, holdout: str, ceiling: float | None) -> float | None:
    """RMSE of predictions on points left out of the fit; None when too few points remain to fit."""
    x, y = _points(xs, ys)
    if holdout == "largest":
        keep = x < x.max()
        splits = [(keep, ~keep)]
    elif holdout == "loo":
        splits = [(np.arange(len(x)) != i, np.arange(len(x)) == i) for i in range(len(x))]
    else:
        raise ConfigError(f"unknown holdout {holdout!r}; use loo or largest")
    errors = []
    for train, test in splits:
        if len(np.unique(x[train])) < N_PARAMS[form]:
            return None
        curve = fit_curve(form, x[train], y[train], ceiling)
        errors += list(curve(x[test]) - y[test])
    return float(np.sqrt(np.mean(np.square(errors))))


@dataclass
class FitReport:
    chosen: str
    curve: Curve
    candidates: dict[str, dict]  # form -> {params, formula, rmse, heldout_rmse, concave} or {skipped: reason}
    note: str = ""

    def to_json(self) -> dict:
        return {"chosen": self.chosen, "params": self.curve.params, "formula": self.curve.formula(),
                "concave": self.curve.concave, "candidates": self.candidates, "note": self.note}


def choose(xs, ys, forms=FORMS, holdout: str = "loo", ceiling: float | None = None) -> FitReport:
    """Fit every form the points allow; choose the lowest held-out RMSE (ties: fewer parameters).

    Fewer than 2 distinct X is an error. When no form can be held out (too few points), the form with the
    fewest parameters that fits is chosen and the report says so."""
    x, y = _points(xs, ys)
    if len(np.unique(x)) < 2:
        raise ConfigError(f"a scaling curve needs points at 2 or more distinct sizes X; got {len(np.unique(x))}")
    candidates: dict[str, dict] = {}
    for form in forms:
        if form == "paper" and ceiling is None:
            candidates[form] = {"skipped": "no scaling.ceiling configured"}
            continue
        try:
            curve = fit_curve(form, x, y, ceiling)
        except ConfigError as e:
            candidates[form] = {"skipped": str(e)}
            continue
        candidates[form] = {"params": curve.params, "formula": curve.formula(), "rmse": rmse(curve, x, y),
                            "heldout_rmse": heldout_error(form, x, y, holdout, ceiling), "concave": curve.concave,
                            "_curve": curve}
    fitted = {f: c for f, c in candidates.items() if "_curve" in c}
    if not fitted:
        raise ConfigError("no scaling form could be fitted: " + "; ".join(f"{f}: {c['skipped']}" for f, c in candidates.items()))
    judged = {f: c for f, c in fitted.items() if c["heldout_rmse"] is not None}
    if judged:
        chosen = min(judged, key=lambda f: (round(judged[f]["heldout_rmse"], 12), N_PARAMS[f], FORMS.index(f)))
        note = f"chosen on {holdout} held-out RMSE"
    else:
        chosen = min(fitted, key=lambda f: (N_PARAMS[f], FORMS.index(f)))
        note = (f"too few points to hold any out ({len(x)}): {chosen} chosen for having the fewest parameters "
                "(ties: the order of scaling.forms)")
    curve = candidates[chosen]["_curve"]
    for c in fitted.values():
        del c["_curve"]
    return FitReport(chosen, curve, candidates, note)
