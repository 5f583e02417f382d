"""Shared helpers of the analysis package: the result type, input checks and quantiles.

Every test function works on the last axis: an outcome array of shape ``(..., n)`` per arm gives
results of shape ``(...)``; ``(R, n)`` arrays are ``R`` replicate trials analysed at once. Missing
outcomes are ``NaN`` and drop out of that replicate only (so arms may differ in size per replicate).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from twintrial.exceptions import AnalysisError

FloatArray = npt.NDArray[np.float64]
Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class TestResult:
    """Effect estimates and tests of a batch of trials (each field has the batch shape).

    Attributes
    ----------
    estimate
        Effect of treated vs control on the method's scale (see ``scale``).
    se
        Standard error of ``estimate``.
    ci_low, ci_high
        Confidence limits on the same scale (level ``1 - alpha`` two-sided, or one-sided bounds).
    statistic
        Test statistic (t, z or chi-square as named by ``method``).
    p_value
        P-value for the chosen alternative.
    df
        Degrees of freedom of a t reference distribution (``inf`` for normal references).
    method
        Name of the method.
    scale
        ``"difference"``, ``"risk difference"``, ``"log odds ratio"`` or ``"log hazard ratio"``.
    """

    __test__ = False  # not a pytest test class despite the name

    estimate: FloatArray
    se: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    statistic: FloatArray
    p_value: FloatArray
    df: FloatArray
    method: str
    scale: str

    def reject(self, alpha: float) -> npt.NDArray[np.bool_]:
        """Return where the null hypothesis is rejected at level ``alpha`` (NaN p never rejects)."""
        return np.asarray(self.p_value < alpha)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per trial with the numeric fields as columns."""
        cols = {f.name: np.ravel(getattr(self, f.name)) for f in fields(self)
                if f.name not in ("method", "scale")}
        frame = pd.DataFrame(cols)
        frame["method"] = self.method
        frame["scale"] = self.scale
        return frame


def check_alpha(alpha: float, where: str = "alpha") -> float:
    """Return ``alpha`` as float or raise if it is not in (0, 1)."""
    if not 0.0 < float(alpha) < 1.0:
        raise AnalysisError(f"{where}: must be in (0, 1); got {alpha!r}. Use e.g. 0.05.")
    return float(alpha)


def check_alternative(alternative: str) -> str:
    """Return ``alternative`` or raise if it is not a known alternative hypothesis."""
    if alternative not in ALTERNATIVES:
        raise AnalysisError(f"alternative: must be one of {list(ALTERNATIVES)}; got {alternative!r}. "
                            "Use 'two-sided' unless the protocol pre-specifies a one-sided test.")
    return alternative


def as_float(values: npt.ArrayLike, name: str, *, min_ndim: int = 1) -> FloatArray:
    """Return ``values`` as a float64 array with at least ``min_ndim`` dimensions."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name}: must be numeric; got {type(values).__name__} ({exc}). "
                            "Convert the column to float first.") from None
    if arr.ndim < min_ndim:
        raise AnalysisError(f"{name}: must have at least {min_ndim} dimension(s) (patients last); "
                            f"got shape {arr.shape}. Pass one value per patient.")
    return arr


def check_same_batch(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise unless ``a`` and ``b`` (patients on the last axis) have the same batch shape."""
    if a.shape[:-1] != b.shape[:-1]:
        raise AnalysisError(f"{name_a}/{name_b}: replicate shapes differ; got {a.shape[:-1]} and "
                            f"{b.shape[:-1]}. Both arms need the same leading (replicate) axes.")


def p_and_ci(estimate: FloatArray, se: FloatArray, statistic: FloatArray, df: FloatArray | float,
             *, alpha: float, alternative: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return ``(p_value, ci_low, ci_high)`` for a t (finite ``df``) or normal (``inf``) pivot.

    Two-sided: the usual equal-tailed interval at level ``1 - alpha``. One-sided alternatives give
    the matching one-sided bound (the other limit is infinite), so the CI excludes 0 exactly when
    the test rejects.
    """
    df = np.broadcast_to(np.asarray(df, dtype=np.float64), np.shape(statistic))
    with np.errstate(invalid="ignore"):
        finite_df = np.isfinite(df)
        safe_df = np.where(finite_df, df, 1.0)
        sf = np.where(finite_df, stats.t.sf(statistic, safe_df), stats.norm.sf(statistic))
        cdf = np.where(finite_df, stats.t.cdf(statistic, safe_df), stats.norm.cdf(statistic))
        tail = alpha / 2 if alternative == "two-sided" else alpha
        q = np.where(finite_df, stats.t.isf(tail, safe_df), stats.norm.isf(tail))
    if alternative == "two-sided":
        p = np.minimum(1.0, 2.0 * np.minimum(sf, cdf))
        lo, hi = estimate - q * se, estimate + q * se
    elif alternative == "greater":
        p = sf
        lo, hi = estimate - q * se, np.full_like(estimate, np.inf)
    else:
        p = cdf
        lo, hi = np.full_like(estimate, -np.inf), estimate + q * se
    return np.asarray(p), np.asarray(lo), np.asarray(hi)


def finish(estimate: FloatArray, se: FloatArray, df: FloatArray | float, *, alpha: float,
           alternative: str, method: str, scale: str) -> TestResult:
    """Build a :class:`TestResult` from an estimate, its SE and the pivot's degrees of freedom."""
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.asarray(estimate / se)
    p, lo, hi = p_and_ci(estimate, se, statistic, df, alpha=alpha, alternative=alternative)
    df_arr = np.broadcast_to(np.asarray(df, dtype=np.float64), np.shape(estimate)).copy()
    return TestResult(estimate=np.asarray(estimate), se=np.asarray(se), ci_low=lo, ci_high=hi,
                      statistic=statistic, p_value=p, df=df_arr, method=method, scale=scale)
