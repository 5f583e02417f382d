"""Tests for binary (responder) endpoints, vectorised over replicate trials.

Design decisions
----------------
- Outcomes are 0/1 (bool accepted), NaN = missing (dropped from that replicate only).
- :func:`two_proportion_test`: effect = risk difference p1 - p0 with the unpooled Wald CI; the test
  is the pooled-variance z test (identical to Pearson's chi-square without continuity correction,
  ``z**2 == chi2``). The Wald CI and the pooled test can disagree at the margin; that is the
  textbook pairing (Agresti 2013, sections 3.1 and 3.2).
- :func:`chi_square_test`: Pearson chi-square on the 2x2 table, optionally with Yates' correction
  (``scipy.stats.chi2_contingency`` default is corrected; ours is not unless asked).
- :func:`logistic_test`: logistic regression ``logit P(y=1) = b0 + b1 treated (+ covariates)`` by
  Newton–Raphson (IRLS) batched over replicates; effect = b1 (log odds ratio), Wald SE and CI from
  the observed information. Replicates with separation (no convergence within ``max_iter`` or
  |b| > 25) get NaN: count them with ``np.isnan(result.estimate)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from twintrial.analysis._common import (
    FloatArray,
    TestResult,
    as_float,
    check_alpha,
    check_alternative,
    check_same_batch,
    finish,
    p_and_ci,
)
from twintrial.exceptions import AnalysisError

__all__ = ["chi_square_test", "logistic_test", "two_proportion_test"]


def _binary(values: npt.ArrayLike, name: str) -> FloatArray:
    y = as_float(values, name)
    ok = np.isfinite(y)
    if np.any(ok & (y != 0.0) & (y != 1.0)):
        bad = y[ok & (y != 0.0) & (y != 1.0)].ravel()[0]
        raise AnalysisError(f"{name}: responder outcomes must be 0 or 1 (NaN = missing); got "
                            f"{bad!r}. Dichotomise the endpoint first.")
    return y


def _counts(y: FloatArray, name: str) -> tuple[FloatArray, FloatArray]:
    ok = np.isfinite(y)
    n = ok.sum(axis=-1).astype(np.float64)
    if np.all(n < 1):  # replicates of a batch with an empty arm get NaN, not an error
        raise AnalysisError(f"{name}: the arm has no non-missing outcome; got n = 0. "
                            "Increase the arm size or check the missing values.")
    return np.where(ok, y, 0.0).sum(axis=-1), np.where(n < 1, np.nan, n)


def two_proportion_test(treated: npt.ArrayLike, control: npt.ArrayLike, *, alpha: float = 0.05,
                        alternative: str = "two-sided") -> TestResult:
    """Risk difference with Wald CI and the pooled two-proportion z test.

    Parameters
    ----------
    treated, control
        Responder flags, shape ``(..., n1)`` and ``(..., n0)``.
    alpha, alternative
        Level and alternative (``"greater"``: treated responds more).

    Returns
    -------
    TestResult
        ``estimate`` = p1 - p0, ``se`` = unpooled SE, ``statistic`` = pooled z.
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    y1, y0 = _binary(treated, "treated"), _binary(control, "control")
    check_same_batch("treated", y1, "control", y0)
    (x1, n1), (x0, n0) = _counts(y1, "treated"), _counts(y0, "control")
    p1, p0 = x1 / n1, x0 / n0
    est = p1 - p0
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    pbar = (x1 + x0) / (n1 + n0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / np.sqrt(pbar * (1 - pbar) * (1 / n1 + 1 / n0))
    z = np.where(np.isnan(z) & np.isfinite(n1 + n0), 0.0, z)  # all 0 or all 1: no evidence
    p, _, _ = p_and_ci(est, se, z, np.inf, alpha=alpha, alternative=alternative)
    _, lo, hi = p_and_ci(est, se, est, np.inf, alpha=alpha, alternative=alternative)
    return TestResult(estimate=est, se=se, ci_low=lo, ci_high=hi, statistic=z, p_value=p,
                      df=np.full_like(est, np.inf), method="two-proportion z test",
                      scale="risk difference")


def chi_square_test(treated: npt.ArrayLike, control: npt.ArrayLike, *, alpha: float = 0.05,
                    correction: bool = False) -> TestResult:
    """Pearson chi-square test of the 2x2 table (two-sided), risk difference with Wald CI.

    Parameters
    ----------
    treated, control
        Responder flags, shape ``(..., n1)`` and ``(..., n0)``.
    alpha
        Level of the test and of the CI.
    correction
        Apply Yates' continuity correction.

    Returns
    -------
    TestResult
        ``statistic`` is chi-square on 1 df.
    """
    alpha = check_alpha(alpha)
    y1, y0 = _binary(treated, "treated"), _binary(control, "control")
    check_same_batch("treated", y1, "control", y0)
    (a, n1), (c, n0) = _counts(y1, "treated"), _counts(y0, "control")
    b, d = n1 - a, n0 - c
    n = n1 + n0
    num = np.abs(a * d - b * c)
    if correction:
        num = np.maximum(num - n / 2.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = n * num**2 / (n1 * n0 * (a + c) * (b + d))
    chi2 = np.where(np.isnan(chi2) & np.isfinite(n), 0.0, chi2)
    p1, p0 = a / n1, c / n0
    est = p1 - p0
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    _, lo, hi = p_and_ci(est, se, est, np.inf, alpha=alpha, alternative="two-sided")
    return TestResult(estimate=est, se=se, ci_low=lo, ci_high=hi, statistic=chi2,
                      p_value=stats.chi2.sf(chi2, 1), df=np.full_like(est, np.inf),
                      method="Pearson chi-square" + (" (Yates)" if correction else ""),
                      scale="risk difference")


def logistic_regression(y: FloatArray, design: FloatArray, *, max_iter: int = 30,
                        tol: float = 1e-10) -> tuple[FloatArray, FloatArray]:
    """Batched logistic regression by Newton–Raphson.

    Returns ``(beta, covariance)`` of shapes ``(..., p)`` and ``(..., p, p)``; NaN where the
    fit did not converge (separation).
    """
    ok = np.isfinite(y) & np.all(np.isfinite(design), axis=-1)
    yz = np.where(ok, y, 0.0)
    xz = np.where(ok[..., None], design, 0.0)
    p = design.shape[-1]
    beta = np.zeros((*y.shape[:-1], p))
    converged = np.zeros(y.shape[:-1], dtype=bool)
    info = np.broadcast_to(np.eye(p), (*y.shape[:-1], p, p)).copy()
    for _ in range(max_iter):
        mu = special.expit(np.einsum("...ni,...i->...n", xz, beta))
        wt = np.where(ok, mu * (1.0 - mu), 0.0)
        score = np.einsum("...ni,...n->...i", xz, np.where(ok, yz - mu, 0.0))
        info = np.swapaxes(xz * wt[..., None], -1, -2) @ xz
        info = info + 1e-12 * np.eye(p)
        step = np.linalg.solve(info, score[..., None])[..., 0]
        step = np.clip(step, -5.0, 5.0)
        beta = np.where(converged[..., None], beta, beta + step)
        converged |= np.max(np.abs(step), axis=-1) < tol
        if np.all(converged):
            break
    cov = np.linalg.inv(info)
    bad = ~converged | np.any(np.abs(beta) > 25.0, axis=-1)
    beta = np.where(bad[..., None], np.nan, beta)
    cov = np.where(bad[..., None, None], np.nan, cov)
    return beta, cov


def logistic_test(treated: npt.ArrayLike, control: npt.ArrayLike,
                  covariate_treated: npt.ArrayLike | None = None,
                  covariate_control: npt.ArrayLike | None = None, *, alpha: float = 0.05,
                  alternative: str = "two-sided") -> TestResult:
    """Logistic regression of response on treatment (and optional covariates): Wald test of b1.

    Parameters
    ----------
    treated, control
        Responder flags, shape ``(..., n1)`` and ``(..., n0)``.
    covariate_treated, covariate_control
        Optional covariates, shape ``(..., n)`` or ``(..., n, k)``; both or neither.
    alpha, alternative
        As :func:`two_proportion_test`.

    Returns
    -------
    TestResult
        Log odds ratio treated vs control (conditional on covariates), Wald SE, CI and z.
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    y1, y0 = _binary(treated, "treated"), _binary(control, "control")
    check_same_batch("treated", y1, "control", y0)
    batch, n1, n0 = y1.shape[:-1], y1.shape[-1], y0.shape[-1]
    y = np.concatenate([y1, y0], axis=-1)
    cols = [np.ones((*batch, n1 + n0, 1)),
            np.broadcast_to(np.r_[np.ones(n1), np.zeros(n0)], (*batch, n1 + n0))[..., None]]
    if (covariate_treated is None) != (covariate_control is None):
        raise AnalysisError("covariate_treated/covariate_control: give both or neither; got one. "
                            "Pass the covariate for both arms.")
    if covariate_treated is not None and covariate_control is not None:
        x1, x0 = as_float(covariate_treated, "covariate_treated"), as_float(
            covariate_control, "covariate_control")
        x1 = x1[..., None] if x1.shape == y1.shape else x1
        x0 = x0[..., None] if x0.shape == y0.shape else x0
        x = np.concatenate([x1, x0], axis=-2)
        cols.append(x - np.nanmean(x, axis=-2, keepdims=True))
    beta, cov = logistic_regression(y, np.concatenate(cols, axis=-1))
    return finish(beta[..., 1], np.sqrt(cov[..., 1, 1]), np.inf, alpha=alpha,
                  alternative=alternative, method="logistic regression (Wald)",
                  scale="log odds ratio")
