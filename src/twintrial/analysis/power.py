"""Analytic power and sample size: two-sample t (noncentral t) and log-rank (Schoenfeld).

Design decisions
----------------
- Two-sample t, 1:1 allocation, common SD: power is exact under normality, from the noncentral t
  with df = 2n - 2 and noncentrality delta / (sd * sqrt(2/n)); two-sided power counts both
  rejection tails (as rpact ``getPowerMeans(normalApproximation = FALSE)``, G*Power, R
  ``power.t.test(strict = TRUE)``). Sample size = smallest n per arm reaching the power, e.g.
  delta 0.5, SD 1.1, alpha 0.05 two-sided, 90% -> 103 per arm.
- ``n_covariates`` removes degrees of freedom for ANCOVA (df = 2n - 2 - k) and ``variance_factor``
  scales the variance (1 - rho**2 for a prognostic covariate, see :mod:`.procova`).
- Log-rank: Schoenfeld (1981/1983) events D = (z_{1-a} + z_{1-b})**2 / (p (1 - p) log(HR)**2) with
  p the allocation fraction (a = alpha/2 two-sided); power = Phi(|log HR| sqrt(D p (1-p)) - z_{1-a})
  (+ the far tail when two-sided). The approximation is good for HR near 1 and equal allocation;
  it slightly overstates power for strong effects (the variance under the alternative is smaller
  than p(1-p)D).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats

from twintrial.analysis._common import FloatArray, check_alpha, check_alternative
from twintrial.exceptions import AnalysisError

__all__ = ["event_probability_exponential", "logrank_power", "schoenfeld_events",
           "t_test_power", "t_test_sample_size"]


def _positive(value: float, name: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise AnalysisError(f"{name}: must be a positive number; got {value!r}. Give e.g. 1.0.")
    return float(value)


def _power_target(power: float) -> float:
    if not 0.0 < power < 1.0:
        raise AnalysisError(f"power: must be in (0, 1); got {power!r}. Use e.g. 0.8 or 0.9.")
    return float(power)


def t_test_power(n_per_arm: npt.ArrayLike, *, delta: float, sd: float, alpha: float = 0.05,
                 alternative: str = "two-sided", n_covariates: int = 0,
                 variance_factor: float = 1.0) -> FloatArray:
    """Exact power of the two-sample t-test (or ANCOVA) with ``n_per_arm`` patients per arm.

    Parameters
    ----------
    n_per_arm
        Patients per arm (scalar or array).
    delta
        True mean difference treated - control (sign matters for one-sided alternatives).
    sd
        Common outcome SD.
    alpha, alternative
        Level and alternative hypothesis.
    n_covariates
        Covariates adjusted for (ANCOVA): each costs one residual degree of freedom.
    variance_factor
        Multiplier of the residual variance (``1 - rho**2`` for a prognostic score).

    Returns
    -------
    numpy.ndarray
        Power, same shape as ``n_per_arm``.
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    sd, variance_factor = _positive(sd, "sd"), _positive(variance_factor, "variance_factor")
    n = np.asarray(n_per_arm, dtype=np.float64)
    df = 2.0 * n - 2.0 - n_covariates
    if np.any(df < 1):
        raise AnalysisError(f"n_per_arm: too small for {n_covariates} covariate(s); got "
                            f"{n.min()!r}. Use at least {int(2 + n_covariates // 2)} per arm.")
    ncp = delta / (sd * math.sqrt(variance_factor) * np.sqrt(2.0 / n))
    if alternative == "two-sided":
        crit = stats.t.isf(alpha / 2.0, df)
        power = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
    elif alternative == "greater":
        power = stats.nct.sf(stats.t.isf(alpha, df), df, ncp)
    else:
        power = stats.nct.cdf(-stats.t.isf(alpha, df), df, ncp)
    return np.asarray(power)


def t_test_sample_size(*, delta: float, sd: float, power: float = 0.8, alpha: float = 0.05,
                       alternative: str = "two-sided", n_covariates: int = 0,
                       variance_factor: float = 1.0) -> int:
    """Smallest number per arm whose exact t-test (ANCOVA) power reaches ``power``.

    Parameters are those of :func:`t_test_power`; returns patients per arm (1:1 allocation).
    """
    power = _power_target(power)
    if delta == 0 or not math.isfinite(delta):
        raise AnalysisError(f"delta: must be a non-zero finite difference; got {delta!r}. "
                            "Give the clinically relevant effect.")
    sd, variance_factor = _positive(sd, "sd"), _positive(variance_factor, "variance_factor")
    if (alternative == "greater" and delta < 0) or (alternative == "less" and delta > 0):
        raise AnalysisError(f"delta: sign {delta!r} contradicts alternative={alternative!r}; "
                            "flip the sign of delta or the alternative.")
    kw = dict(delta=delta, sd=sd, alpha=alpha, alternative=alternative,
              n_covariates=n_covariates, variance_factor=variance_factor)
    tail = alpha / 2 if alternative == "two-sided" else alpha
    z = stats.norm.isf(tail) + stats.norm.isf(1 - power)
    n_normal = 2.0 * (z * sd * math.sqrt(variance_factor) / abs(delta)) ** 2
    n = max(2 + n_covariates, int(math.floor(n_normal)) - 1)
    while float(t_test_power(n, **kw)) < power:  # a few steps: the normal guess is within ~2
        n += 1
    while n > 2 + n_covariates and float(t_test_power(n - 1, **kw)) >= power:
        n -= 1
    return n


def schoenfeld_events(*, hazard_ratio: float, power: float = 0.8, alpha: float = 0.05,
                      alternative: str = "two-sided", allocation: float = 0.5) -> int:
    """Events needed by the log-rank test (Schoenfeld's formula), rounded up.

    Parameters
    ----------
    hazard_ratio
        True HR treated vs control (!= 1).
    power, alpha, alternative
        Target power, level and alternative.
    allocation
        Fraction of patients on treatment.

    Returns
    -------
    int
        Total number of events.
    """
    power, alpha = _power_target(power), check_alpha(alpha)
    check_alternative(alternative)
    hazard_ratio = _positive(hazard_ratio, "hazard_ratio")
    if hazard_ratio == 1.0 or not 0 < allocation < 1:
        raise AnalysisError(f"hazard_ratio/allocation: need HR != 1 and 0 < allocation < 1; got "
                            f"{hazard_ratio!r}, {allocation!r}. Give the alternative HR.")
    tail = alpha / 2 if alternative == "two-sided" else alpha
    z = stats.norm.isf(tail) + stats.norm.isf(1 - power)
    return int(math.ceil(z**2 / (allocation * (1 - allocation) * math.log(hazard_ratio) ** 2)))


def logrank_power(n_events: npt.ArrayLike, *, hazard_ratio: float, alpha: float = 0.05,
                  alternative: str = "two-sided", allocation: float = 0.5) -> FloatArray:
    """Approximate log-rank power with ``n_events`` events (Schoenfeld).

    For one-sided alternatives the sign matters (``"less"``: HR < 1 is the benefit).
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    hazard_ratio = _positive(hazard_ratio, "hazard_ratio")
    d = np.asarray(n_events, dtype=np.float64)
    drift = math.log(hazard_ratio) * np.sqrt(d * allocation * (1 - allocation))
    if alternative == "two-sided":
        z = stats.norm.isf(alpha / 2)
        return np.asarray(stats.norm.cdf(drift - z) + stats.norm.cdf(-drift - z))
    z = stats.norm.isf(alpha)
    return np.asarray(stats.norm.cdf(drift - z) if alternative == "greater"
                      else stats.norm.cdf(-drift - z))


def event_probability_exponential(hazard: float, *, followup: float,
                                  accrual: float = 0.0) -> float:
    """Probability of observing the event for exponential survival with administrative censoring.

    Patients enter uniformly over ``accrual`` and are followed ``followup`` after the last entry:
    ``1 - (exp(-h f) - exp(-h (a + f))) / (h a)``; with ``accrual = 0``, ``1 - exp(-h f)``.
    Multiply by N to get the expected events for :func:`logrank_power`.
    """
    hazard = _positive(hazard, "hazard")
    if accrual <= 0:
        return float(-math.expm1(-hazard * followup))
    return float(1 - (math.exp(-hazard * followup) - math.exp(-hazard * (accrual + followup)))
                 / (hazard * accrual))
