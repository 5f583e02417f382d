"""Prognostic covariate adjustment (PROCOVA): ANCOVA on the twin-predicted control outcome.

Design decisions
----------------
- The prognostic score of a patient is its digital twin's predicted outcome under control (a
  baseline quantity, so adjusting for it cannot bias the randomised comparison). The estimator is
  the ANCOVA of :func:`twintrial.analysis.continuous.ancova` with the score as the covariate and
  model-based SE, as qualified by EMA (2022, "Qualification opinion for Prognostic Covariate
  Adjustment (PROCOVA)", EMA/CHMP/SAWP/261404/2022) following Schuler et al. (2021).
- Variance: by Yang & Tsiatis (2001), ANCOVA with a pooled slope has asymptotic variance
  ``Var(Y1 - b X)/pi + Var(Y0 - b X)/(1 - pi)`` (per patient) with ``b`` the within-arm slope.
  With equal outcome SDs and equal score-outcome correlations rho in the two arms this is
  ``(1 - rho**2)`` times the unadjusted variance: Schuler et al.'s simplified formula.
  :func:`variance_factor` gives the general ratio, :func:`procova_sample_size` plans with the
  noncentral t on ``sd**2 (1 - rho**2)`` and df = 2n - 3 (one covariate), so the sample-size saving
  is ~rho**2 (slightly less for small n because of the lost degree of freedom).
- rho should be estimated on historical controls not used to train the score, and planned
  conservatively: :func:`prognostic_correlation` gives a Fisher-z confidence interval; plan with
  its lower bound. Type I error of the adjusted test stays nominal because the score is fixed
  before randomisation (checked by simulation in the known-answer tests).

References
----------
Schuler A, Walsh D, Hall D, Walsh J, Fisher C. Increasing the efficiency of randomized trial
estimates via linear adjustment for a prognostic score. Int J Biostat 18(2):329-356 (2022; online
2021), doi:10.1515/ijb-2021-0072.
Yang L, Tsiatis AA. Efficiency study of estimators for a treatment effect in a pretest-posttest
trial. Am Stat 55:314-321 (2001).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats

from twintrial.analysis._common import TestResult, as_float
from twintrial.analysis.continuous import ancova
from twintrial.analysis.power import t_test_sample_size
from twintrial.analysis.simulation import Sampler, TrialBatch
from twintrial.exceptions import AnalysisError

__all__ = ["procova_sample_size", "procova_test", "prognostic_correlation",
           "prognostic_normal_sampler", "variance_factor"]


def procova_test(treated: npt.ArrayLike, control: npt.ArrayLike, score_treated: npt.ArrayLike,
                 score_control: npt.ArrayLike, *, alpha: float = 0.05,
                 alternative: str = "two-sided") -> TestResult:
    """PROCOVA analysis: ANCOVA of the outcome on treatment and the prognostic score.

    Parameters
    ----------
    treated, control
        Outcomes, shape ``(..., n1)`` and ``(..., n0)``.
    score_treated, score_control
        Twin-predicted control outcome of the same patients (same shapes).
    alpha, alternative
        As :func:`twintrial.analysis.continuous.t_test`.

    Returns
    -------
    TestResult
        Adjusted mean difference with model-based SE and t CI (df = n - 3).
    """
    res = ancova(treated, control, score_treated, score_control, alpha=alpha,
                 alternative=alternative)
    return TestResult(**{**res.__dict__, "method": "PROCOVA (ANCOVA on prognostic score)"})


def _check_rho(rho: float, name: str) -> float:
    if not -1.0 < rho < 1.0:
        raise AnalysisError(f"{name}: correlation must be in (-1, 1); got {rho!r}. "
                            "Estimate it on historical controls.")
    return float(rho)


def variance_factor(rho: float, *, rho_treated: float | None = None, sd_ratio: float = 1.0,
                    allocation: float = 0.5) -> float:
    """Asymptotic variance of the PROCOVA estimate relative to the unadjusted difference in means.

    Parameters
    ----------
    rho
        Correlation of score and outcome in the control arm.
    rho_treated
        Correlation in the treated arm (default: ``rho``).
    sd_ratio
        Outcome SD treated / control.
    allocation
        Fraction randomised to treatment.

    Returns
    -------
    float
        ``1 - rho**2`` when correlations and SDs are equal; the Yang–Tsiatis ratio otherwise.
    """
    r0 = _check_rho(rho, "rho")
    r1 = r0 if rho_treated is None else _check_rho(rho_treated, "rho_treated")
    if not 0 < allocation < 1 or sd_ratio <= 0:
        raise AnalysisError(f"allocation/sd_ratio: need 0 < allocation < 1 and sd_ratio > 0; got "
                            f"{allocation!r}, {sd_ratio!r}. Use 0.5 and 1.0 for the usual case.")
    p, s1, s0 = allocation, sd_ratio, 1.0
    slope = p * r1 * s1 + (1 - p) * r0 * s0           # Var(X) = 1 without loss of generality
    adjusted = ((s1**2 - 2 * slope * r1 * s1 + slope**2) / p
                + (s0**2 - 2 * slope * r0 * s0 + slope**2) / (1 - p))
    return float(adjusted / (s1**2 / p + s0**2 / (1 - p)))


def procova_sample_size(*, delta: float, sd: float, rho: float, power: float = 0.8,
                        alpha: float = 0.05, alternative: str = "two-sided") -> dict[str, float]:
    """Sample size per arm with and without prognostic adjustment at equal power.

    Parameters
    ----------
    delta, sd
        Effect and outcome SD (unadjusted).
    rho
        Planning correlation of prognostic score and outcome (use a conservative value).
    power, alpha, alternative
        Design targets.

    Returns
    -------
    dict
        ``n_unadjusted``, ``n_procova`` (per arm), ``saving`` (fraction of patients saved),
        ``variance_factor`` (1 - rho**2) and ``expected_saving`` (rho**2, Schuler's asymptotic).
    """
    rho = _check_rho(rho, "rho")
    factor = 1.0 - rho**2
    n_raw = t_test_sample_size(delta=delta, sd=sd, power=power, alpha=alpha,
                               alternative=alternative)
    n_adj = t_test_sample_size(delta=delta, sd=sd, power=power, alpha=alpha,
                               alternative=alternative, n_covariates=1, variance_factor=factor)
    return {"n_unadjusted": n_raw, "n_procova": n_adj, "saving": 1.0 - n_adj / n_raw,
            "variance_factor": factor, "expected_saving": rho**2}


def prognostic_correlation(outcome: npt.ArrayLike, score: npt.ArrayLike, *,
                           ci_level: float = 0.95) -> dict[str, float]:
    """Pearson correlation of observed control outcomes and their prognostic scores.

    Returns ``rho``, ``ci_low``, ``ci_high`` (Fisher z interval) and ``n``; plan with ``ci_low``.
    """
    y, x = as_float(outcome, "outcome"), as_float(score, "score")
    if y.shape != x.shape or y.ndim != 1:
        raise AnalysisError(f"score: must be 1-D and match outcome's shape {y.shape}; got "
                            f"{x.shape}. Give one score per patient.")
    ok = np.isfinite(y) & np.isfinite(x)
    n = int(ok.sum())
    if n < 4:
        raise AnalysisError(f"outcome: need >= 4 complete pairs to estimate rho; got {n}. "
                            "Use more historical controls.")
    r = float(np.corrcoef(y[ok], x[ok])[0, 1])
    z, half = math.atanh(r), stats.norm.isf((1 - ci_level) / 2) / math.sqrt(n - 3)
    return {"rho": r, "ci_low": math.tanh(z - half), "ci_high": math.tanh(z + half), "n": n}


def prognostic_normal_sampler(*, delta: float, sd: float, rho: float,
                              mean_control: float = 0.0) -> Sampler:
    """Sampler of normal outcomes with a prognostic score correlated ``rho`` with the outcome.

    The score is ``E[Y(0) | covariates] = mean + sd * rho * Z``; the outcome under control is
    ``mean + sd (rho Z + sqrt(1 - rho**2) e)`` and under treatment adds ``delta`` (constant effect),
    so ``corr(score, Y) = rho`` in both arms. Keys: ``y_*`` and ``x_*``.
    """
    rho = _check_rho(rho, "rho")

    def sample(n: int, reps: int, rng: np.random.Generator) -> TrialBatch:
        z = rng.standard_normal(size=(2, 2, reps, n))
        score = mean_control + sd * rho * z[0]
        y = score + sd * math.sqrt(1 - rho**2) * z[1]
        return {"y_treated": y[0] + delta, "y_control": y[1],
                "x_treated": score[0], "x_control": score[1]}
    return sample
