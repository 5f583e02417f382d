"""Tests for continuous endpoints, vectorised over replicate trials.

Design decisions
----------------
- Effect = mean(treated) - mean(control) (or the adjusted difference in ANCOVA).
- :func:`t_test`: Student's pooled-variance t (df = n1 + n0 - 2); :func:`welch_test`: Welch's
  unequal-variance t with Welch–Satterthwaite df. Both agree with :func:`scipy.stats.ttest_ind`.
- :func:`ancova`: ordinary least squares ``y ~ 1 + treated + covariates`` solved per replicate with
  batched normal equations; model-based SE ``s^2 [(X'X)^-1]_11`` with df = n - p; t-based CI and
  p-value. This is the estimator of the EMA PROCOVA qualification opinion (2022) when the covariate
  is a prognostic score. The treatment coefficient does not depend on centring the covariates.
- Missing outcomes or covariates (NaN) drop the patient from that replicate only.
- CIs have level ``1 - alpha`` (two-sided) or are one-sided bounds for one-sided alternatives, so
  the CI excludes 0 exactly when the test rejects.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twintrial.analysis._common import (
    FloatArray,
    TestResult,
    as_float,
    check_alpha,
    check_alternative,
    check_same_batch,
    finish,
)
from twintrial.exceptions import AnalysisError

__all__ = ["ancova", "t_test", "welch_test"]


def _moments(y: FloatArray, name: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    ok = np.isfinite(y)
    n = ok.sum(axis=-1).astype(np.float64)
    if np.all(n < 2):  # replicates of a batch with too few patients get NaN, not an error
        raise AnalysisError(f"{name}: needs at least 2 non-missing outcomes per trial; got "
                            f"{int(n.max())}. Increase the arm size or check the missing values.")
    n = np.where(n < 2, np.nan, n)
    y0 = np.where(ok, y, 0.0)
    mean = y0.sum(axis=-1) / n
    dev = np.where(ok, y - mean[..., None], 0.0)
    var = np.einsum("...i,...i->...", dev, dev) / (n - 1.0)
    return n, mean, var


def t_test(treated: npt.ArrayLike, control: npt.ArrayLike, *, alpha: float = 0.05,
           alternative: str = "two-sided") -> TestResult:
    """Student's two-sample t-test (pooled variance) of treated vs control means.

    Parameters
    ----------
    treated, control
        Outcomes, shape ``(..., n1)`` and ``(..., n0)`` (patients last; NaN = missing).
    alpha
        Significance level; the CI has level ``1 - alpha``.
    alternative
        ``"two-sided"``, ``"greater"`` (treated > control) or ``"less"``.

    Returns
    -------
    TestResult
        Fields of shape ``(...)``: mean difference, SE, CI, t, p-value, df.
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    y1, y0 = as_float(treated, "treated"), as_float(control, "control")
    check_same_batch("treated", y1, "control", y0)
    n1, m1, v1 = _moments(y1, "treated")
    n0, m0, v0 = _moments(y0, "control")
    df = n1 + n0 - 2.0
    pooled = ((n1 - 1.0) * v1 + (n0 - 1.0) * v0) / df
    se = np.sqrt(pooled * (1.0 / n1 + 1.0 / n0))
    return finish(m1 - m0, se, df, alpha=alpha, alternative=alternative,
                  method="Student t-test", scale="difference")


def welch_test(treated: npt.ArrayLike, control: npt.ArrayLike, *, alpha: float = 0.05,
               alternative: str = "two-sided") -> TestResult:
    """Welch's unequal-variance t-test of treated vs control means (Satterthwaite df).

    Parameters and returns as :func:`t_test`.
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    y1, y0 = as_float(treated, "treated"), as_float(control, "control")
    check_same_batch("treated", y1, "control", y0)
    n1, m1, v1 = _moments(y1, "treated")
    n0, m0, v0 = _moments(y0, "control")
    a, b = v1 / n1, v0 / n0
    se = np.sqrt(a + b)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (a + b) ** 2 / (a**2 / (n1 - 1.0) + b**2 / (n0 - 1.0))
    return finish(m1 - m0, se, df, alpha=alpha, alternative=alternative,
                  method="Welch t-test", scale="difference")


def _covariates(x: npt.ArrayLike, name: str, y: FloatArray) -> FloatArray:
    arr = as_float(x, name)
    if arr.shape == y.shape:
        arr = arr[..., None]
    if arr.shape[:-1] != y.shape:
        raise AnalysisError(f"{name}: shape must be the outcome's {y.shape} or that plus a "
                            f"covariate axis; got {arr.shape}. One row per patient, covariates last.")
    return arr


def ols_coefficient(y: FloatArray, design: FloatArray, *, coef: int = 1
                    ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Batched OLS: return ``(beta[coef], model-based SE, residual df)`` per batch element.

    ``design`` has shape ``(..., N, p)``; rows with a NaN in ``y`` or ``design`` are dropped.
    Rank-deficient batches get NaN.
    """
    ok = np.isfinite(y) & np.all(np.isfinite(design), axis=-1)
    w = ok.astype(np.float64)
    yz = np.where(ok, y, 0.0)
    xz = np.where(ok[..., None], design, 0.0)
    xtx = np.swapaxes(xz, -1, -2) @ xz
    xty = np.einsum("...ni,...n->...i", xz, yz)
    p = design.shape[-1]
    try:
        inv = np.linalg.inv(xtx)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(xtx)
    beta = np.einsum("...ij,...j->...i", inv, xty)
    resid = yz - np.einsum("...ni,...i->...n", xz, beta)
    df = w.sum(axis=-1) - p
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.einsum("...n,...n->...", resid, resid) / df
        se = np.sqrt(s2 * inv[..., coef, coef])
    rank_ok = np.abs(np.linalg.det(xtx)) > 1e-12 * np.prod(np.diagonal(xtx, axis1=-2, axis2=-1),
                                                           axis=-1)
    bad = ~rank_ok | (df <= 0)
    est = np.where(bad, np.nan, beta[..., coef])
    se = np.where(bad, np.nan, se)
    return est, se, df


def ancova(treated: npt.ArrayLike, control: npt.ArrayLike, covariate_treated: npt.ArrayLike,
           covariate_control: npt.ArrayLike, *, alpha: float = 0.05,
           alternative: str = "two-sided") -> TestResult:
    """ANCOVA: OLS of outcome on treatment and baseline covariates, per replicate trial.

    Parameters
    ----------
    treated, control
        Outcomes, shape ``(..., n1)`` and ``(..., n0)``.
    covariate_treated, covariate_control
        Covariates of the same patients, shape ``(..., n)`` (one covariate, e.g. a prognostic
        score or the baseline value) or ``(..., n, k)``.
    alpha, alternative
        As :func:`t_test`.

    Returns
    -------
    TestResult
        The adjusted treatment coefficient with model-based SE and t-based CI (df = n - 2 - k).
    """
    alpha, alternative = check_alpha(alpha), check_alternative(alternative)
    y1, y0 = as_float(treated, "treated"), as_float(control, "control")
    check_same_batch("treated", y1, "control", y0)
    x1 = _covariates(covariate_treated, "covariate_treated", y1)
    x0 = _covariates(covariate_control, "covariate_control", y0)
    if x1.shape[-1] != x0.shape[-1]:
        raise AnalysisError(f"covariate_treated/covariate_control: numbers of covariates differ; "
                            f"got {x1.shape[-1]} and {x0.shape[-1]}. Use the same covariates.")
    y = np.concatenate([y1, y0], axis=-1)
    batch, n1, n0 = y1.shape[:-1], y1.shape[-1], y0.shape[-1]
    trt = np.broadcast_to(np.r_[np.ones(n1), np.zeros(n0)], (*batch, n1 + n0))
    x = np.concatenate([x1, x0], axis=-2)
    # centre covariates per trial (numerical conditioning only; the coefficient is unchanged)
    x = x - np.nanmean(x, axis=-2, keepdims=True)
    design = np.concatenate([np.ones((*batch, n1 + n0, 1)), trt[..., None], x], axis=-1)
    est, se, df = ols_coefficient(y, design, coef=1)
    return finish(est, se, df, alpha=alpha, alternative=alternative, method="ANCOVA",
                  scale="difference")
