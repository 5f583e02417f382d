"""Trial power, vectorised over sensitivity samples (the formulas of :mod:`twintrial.analysis`).

The analysis functions take scalar effect sizes; the sensitivity simulator needs one power per
sample, thousands at once. Each function here is checked against its scalar counterpart in
``tests/unit/test_sensitivity_simulator.py``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special, stats

FloatArray = npt.NDArray[np.float64]


def t_power(delta: FloatArray, sd: FloatArray, n_per_arm: FloatArray, *,
            alpha: float) -> FloatArray:
    """Exact two-sided two-sample t-test power, vectorised over ``delta``, ``sd`` and ``n``.

    The formula of :func:`twintrial.analysis.t_test_power` (which takes scalar ``delta``/``sd``);
    ``sd <= 0`` gives ``alpha`` for ``delta == 0`` and 1 otherwise.
    """
    delta, sd, n = np.broadcast_arrays(*(np.asarray(a, float) for a in (delta, sd, n_per_arm)))
    df = 2.0 * n - 2.0
    ok = sd > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ncp = np.where(ok, delta / (np.where(ok, sd, 1.0) * np.sqrt(2.0 / n)), 0.0)
    crit = stats.t.isf(alpha / 2.0, df)
    power = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
    return np.where(ok, power, np.where(delta == 0, alpha, 1.0))


def logrank_power_vec(log_hr: FloatArray, n_events: FloatArray, *, alpha: float) -> FloatArray:
    """Two-sided Schoenfeld log-rank power (1:1), vectorised; :func:`analysis.logrank_power`."""
    drift = np.asarray(log_hr, float) * np.sqrt(np.asarray(n_events, float) * 0.25)
    z = stats.norm.isf(alpha / 2)
    return special.ndtr(drift - z) + special.ndtr(-drift - z)


def two_proportion_power(p_t: FloatArray, p_c: FloatArray, n_per_arm: FloatArray, *,
                         alpha: float) -> FloatArray:
    """Two-sided power of the pooled two-proportion z-test (normal approximation), 1:1."""
    p_t, p_c, n = (np.asarray(a, float) for a in (p_t, p_c, n_per_arm))
    z = stats.norm.isf(alpha / 2)
    pbar = 0.5 * (p_t + p_c)
    se0 = np.sqrt(2.0 * pbar * (1 - pbar) / n)
    se1 = np.sqrt((p_t * (1 - p_t) + p_c * (1 - p_c)) / n)
    d = np.abs(p_t - p_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        power = special.ndtr((d - z * se0) / se1) + special.ndtr((-d - z * se0) / se1)
    return np.where(se1 > 0, power, np.where(d > 0, 1.0, alpha))
