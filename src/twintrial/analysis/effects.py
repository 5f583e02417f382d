"""Individual counterfactual effects from paired twin outcomes, and their population summaries.

Design decisions
----------------
- Every virtual patient is simulated under both arms, so the individual effect is the paired
  difference ``y(treated) - y(control)`` per posterior draw: shape ``(n_draws, n_patients)``.
  For responder endpoints the differences are -1/0/1 and their mean is the risk difference.
- The population-average effect of a draw is the mean over patients; its posterior is summarised
  by the mean, median, SD and an equal-tailed credible interval (``ci_prob`` pinned explicitly,
  0.95 by default; no HDI, which is unstable in the tails for few draws).
- The distribution of individual effects is summarised per patient (posterior mean, ETI,
  probability of benefit) and across patients (quantiles of the posterior-mean effects, the share
  of patients who benefit, and the posterior of the between-patient SD of effects). Individual
  effects are model-based: they depend on the twin model's assumption about how treatment acts
  on each patient, which no trial can check directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial.analysis._common import FloatArray, as_float
from twintrial.exceptions import AnalysisError

__all__ = ["average_effect", "average_effects", "effect_distribution", "individual_effects",
           "patient_effects"]


def _ci_prob(ci_prob: float) -> float:
    if not 0.0 < ci_prob < 1.0:
        raise AnalysisError(f"ci_prob: must be in (0, 1); got {ci_prob!r}. Use e.g. 0.95.")
    return float(ci_prob)


def _direction(benefit: str) -> str:
    if benefit not in ("greater", "less"):
        raise AnalysisError(f"benefit: must be 'greater' or 'less'; got {benefit!r}. Use 'less' "
                            "when a lower value (e.g. tumour size, events) is better.")
    return benefit


def individual_effects(treated: npt.ArrayLike, control: npt.ArrayLike) -> FloatArray:
    """Per-patient counterfactual differences ``treated - control`` (same shape as the inputs).

    Parameters
    ----------
    treated, control
        Outcomes of the same virtual patients under each arm, shape ``(n_patients,)`` or
        ``(n_draws, n_patients)``, aligned by ``vid``.

    Returns
    -------
    numpy.ndarray
        The differences (NaN where either outcome is missing).
    """
    y1, y0 = as_float(treated, "treated"), as_float(control, "control")
    if y1.shape != y0.shape:
        raise AnalysisError(f"treated/control: paired outcomes must have the same shape; got "
                            f"{y1.shape} and {y0.shape}. Align both arms by vid and draw.")
    return y1 - y0


def _draw_means(effect: npt.ArrayLike) -> FloatArray:
    e = as_float(effect, "effect")
    if e.ndim == 2:
        e = np.nanmean(e, axis=-1)
    if e.ndim != 1 or e.size < 2:
        raise AnalysisError(f"effect: must be (n_draws,) or (n_draws, n_patients) with >= 2 "
                            f"draws; got shape {np.shape(effect)}. Pass effects per posterior draw.")
    return e[np.isfinite(e)]


def average_effect(effect: npt.ArrayLike, *, ci_prob: float = 0.95,
                   benefit: str = "greater") -> dict[str, float]:
    """Posterior summary of the population-average effect.

    Parameters
    ----------
    effect
        Population-average effect per draw ``(n_draws,)``, or individual effects
        ``(n_draws, n_patients)`` (averaged over patients per draw).
    ci_prob
        Credible interval probability (equal-tailed).
    benefit
        Direction of benefit for ``prob_benefit``.

    Returns
    -------
    dict
        ``mean, median, sd, ci_low, ci_high, prob_benefit, n_draws``.
    """
    ci_prob, benefit = _ci_prob(ci_prob), _direction(benefit)
    e = _draw_means(effect)
    lo, hi = np.quantile(e, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
    good = e > 0 if benefit == "greater" else e < 0
    return {"mean": float(e.mean()), "median": float(np.median(e)), "sd": float(e.std(ddof=1)),
            "ci_low": float(lo), "ci_high": float(hi), "prob_benefit": float(good.mean()),
            "n_draws": int(e.size)}


def average_effects(effects: Mapping[str, npt.ArrayLike], *, ci_prob: float = 0.95,
                    benefit: Mapping[str, str] | None = None) -> pd.DataFrame:
    """:func:`average_effect` for several endpoints: one row per endpoint.

    ``benefit`` maps endpoint -> ``"greater"``/``"less"`` (default ``"greater"``).
    """
    benefit = benefit or {}
    rows = [{"endpoint": name, **average_effect(e, ci_prob=ci_prob,
                                               benefit=benefit.get(name, "greater"))}
            for name, e in effects.items()]
    return pd.DataFrame(rows)


def patient_effects(effect: npt.ArrayLike, *, ci_prob: float = 0.95, benefit: str = "greater",
                    vid: Sequence[int] | None = None) -> pd.DataFrame:
    """Per-patient posterior summary of individual effects ``(n_draws, n_patients)``.

    Returns
    -------
    pandas.DataFrame
        ``vid, mean, ci_low, ci_high, prob_benefit`` per patient.
    """
    ci_prob, benefit = _ci_prob(ci_prob), _direction(benefit)
    e = as_float(effect, "effect")
    if e.ndim == 1:
        e = e[None, :]
    if e.ndim != 2:
        raise AnalysisError(f"effect: must be (n_draws, n_patients); got shape {e.shape}. "
                            "Stack draws on the first axis.")
    lo, hi = np.nanquantile(e, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=0)
    good = (e > 0) if benefit == "greater" else (e < 0)
    ids = np.arange(e.shape[1]) if vid is None else np.asarray(vid)
    if ids.shape != (e.shape[1],):
        raise AnalysisError(f"vid: need one id per patient ({e.shape[1]}); got {ids.shape}. "
                            "Pass the cohort's vid column.")
    return pd.DataFrame({"vid": ids, "mean": np.nanmean(e, axis=0), "ci_low": lo, "ci_high": hi,
                         "prob_benefit": np.mean(good, axis=0)})


def effect_distribution(effect: npt.ArrayLike, *, ci_prob: float = 0.95,
                        benefit: str = "greater", confidence: float = 0.95,
                        quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)
                        ) -> dict[str, float]:
    """How individual effects are spread across patients.

    Parameters
    ----------
    effect
        Individual effects ``(n_draws, n_patients)`` (or ``(n_patients,)`` for one draw).
    ci_prob
        Credible interval probability for the between-patient SD.
    benefit
        Direction of benefit.
    confidence
        A patient "confidently benefits" when its posterior probability of benefit exceeds this.
    quantiles
        Quantiles of the per-patient posterior-mean effects to report.

    Returns
    -------
    dict
        ``q<pct>`` quantiles, ``share_benefit`` (posterior-mean effect in the benefit direction),
        ``share_confident_benefit``, ``sd_between`` (posterior mean of the per-draw SD across
        patients) with ``sd_between_ci_low/high``, ``n_patients``, ``n_draws``.
    """
    ci_prob, benefit = _ci_prob(ci_prob), _direction(benefit)
    per_patient = patient_effects(effect, ci_prob=ci_prob, benefit=benefit)
    e = as_float(effect, "effect")
    e = e[None, :] if e.ndim == 1 else e
    means = per_patient["mean"].to_numpy()
    out: dict[str, float] = {f"q{round(100 * q):02d}": float(np.nanquantile(means, q))
                             for q in quantiles}
    out["share_benefit"] = float(np.mean(means > 0 if benefit == "greater" else means < 0))
    out["share_confident_benefit"] = float(np.mean(per_patient["prob_benefit"] > confidence))
    sd_draw = np.nanstd(e, axis=1, ddof=1) if e.shape[1] > 1 else np.full(e.shape[0], np.nan)
    out["sd_between"] = float(np.mean(sd_draw))
    lo, hi = np.quantile(sd_draw, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
    out["sd_between_ci_low"], out["sd_between_ci_high"] = float(lo), float(hi)
    out["n_patients"], out["n_draws"] = int(e.shape[1]), int(e.shape[0])
    return out
