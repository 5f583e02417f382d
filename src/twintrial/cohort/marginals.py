"""Per-covariate marginal distributions, driven by a latent standard-normal score.

Every marginal maps a latent ``z ~ N(0, 1)`` (one column of the Gaussian copula) to covariate
values through its quantile function, ``x = F^{-1}(Phi(z))``:

- :class:`EmpiricalMarginal`: the linearly interpolated empirical quantile function of the observed
  values (plotting positions ``(i - 0.5) / n``), with exponential tails beyond the data whose scale
  is the mean excess of the outermost ``max(5, n/20)`` observations, truncated at the bounds;
- :class:`ParametricMarginal`: a named SciPy family (fitted by maximum likelihood to data, or
  matched to summary moments/quantiles), truncated at the bounds by quantile rescaling;
- :class:`QuantileMarginal`: piecewise linear (in log or linear scale) through given summary
  quantiles in normal-score space, so it reproduces a Table 1's median and quartiles exactly;
- :class:`DiscreteMarginal`: proportions over levels (binary, categorical, numeric ordinal), sampled
  by thresholding ``z`` at ``Phi^{-1}`` of the cumulative proportions.

Missing values: marginals are fitted to the observed values only (the count of missing values is
reported by the caller); synthetic patients are complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, special, stats

from twintrial.exceptions import CohortError

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-15


def _bounded(low: float | None, high: float | None) -> tuple[float, float]:
    return (-np.inf if low is None else float(low), np.inf if high is None else float(high))


@dataclass(frozen=True)
class EmpiricalMarginal:
    """Smoothed empirical distribution of a continuous covariate."""

    name: str
    knots_x: FloatArray
    knots_p: FloatArray
    tail_low: float
    tail_high: float
    low: float
    high: float

    kind = "continuous"

    @classmethod
    def fit(cls, name: str, values: npt.ArrayLike, *, low: float | None = None,
            high: float | None = None) -> EmpiricalMarginal:
        """Fit to the observed (non-missing) ``values``.

        Without a lower bound, a covariate observed non-negative keeps a lower bound of 0 (the
        tail never turns a concentration or a count negative).
        """
        x = np.sort(np.asarray(values, dtype=float))
        x = x[np.isfinite(x)]
        n = x.size
        if n < 2:
            raise CohortError(f"covariate {name!r}: needs at least 2 observed values for an "
                              f"empirical marginal; got {n}. Use a parametric family or more data")
        lo, hi = _bounded(low, high)
        if low is None and x[0] >= 0:
            lo = 0.0
        if x[0] < lo or x[-1] > hi:
            raise CohortError(f"covariate {name!r}: observed values [{x[0]:g}, {x[-1]:g}] fall "
                              f"outside the bounds [{lo:g}, {hi:g}]. Fix the data or the bounds")
        k = max(5, n // 20)
        k = min(k, n - 1)
        tail_low = float(np.mean(x[k] - x[:k])) if n > 1 else 0.0
        tail_high = float(np.mean(x[n - k:] - x[n - k - 1]))
        p = (np.arange(1, n + 1) - 0.5) / n
        return cls(name, x, p, max(tail_low, 0.0), max(tail_high, 0.0), lo, hi)

    def from_latent(self, z: FloatArray) -> FloatArray:
        """Covariate values for latent normal scores ``z``."""
        u = special.ndtr(z)
        x = np.interp(u, self.knots_p, self.knots_x)
        p1, pn = self.knots_p[0], self.knots_p[-1]
        below = u < p1
        if below.any():
            w = np.clip(u[below] / p1, _EPS, 1.0)  # conditional tail quantile in (0, 1]
            x[below] = self._tail(self.knots_x[0], self.tail_low, self.knots_x[0] - self.low, w,
                                  sign=-1.0)
        above = u > pn
        if above.any():
            w = np.clip(special.ndtr(-z[above]) / (1.0 - pn), _EPS, 1.0)
            x[above] = self._tail(self.knots_x[-1], self.tail_high, self.high - self.knots_x[-1],
                                  w, sign=1.0)
        return x

    @staticmethod
    def _tail(edge: float, scale: float, room: float, w: FloatArray, *, sign: float) -> FloatArray:
        """Exponential tail from ``edge`` outwards, truncated after ``room``; ``w`` = P(beyond)."""
        if scale <= 0 or room <= 0:
            return np.full_like(w, edge)
        if np.isfinite(room):
            # truncated exponential: distance d with P(D > d) = (e^{-d/s} - e^{-R/s}) / (1 - e^{-R/s})
            c = np.exp(-room / scale)
            d = -scale * np.log(c + w * (1.0 - c))
            d = np.minimum(d, room)
        else:
            d = -scale * np.log(w)
        return edge + sign * d

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description."""
        return {"family": "empirical", "n_knots": int(self.knots_x.size),
                "tail_scale": [self.tail_low, self.tail_high],
                "bounds": [_finite(self.low), _finite(self.high)]}


@dataclass(frozen=True)
class ParametricMarginal:
    """A SciPy distribution, truncated to ``[low, high]`` by quantile rescaling."""

    name: str
    family: str
    params: tuple[float, ...]
    low: float
    high: float

    kind = "continuous"

    @property
    def dist(self) -> Any:
        """The frozen (untruncated) SciPy distribution."""
        return _frozen(self.family, self.params, self.low, self.high)

    def from_latent(self, z: FloatArray) -> FloatArray:
        """Covariate values for latent normal scores ``z``."""
        d = self.dist
        f_lo = float(d.cdf(self.low)) if np.isfinite(self.low) else 0.0
        f_hi = float(d.cdf(self.high)) if np.isfinite(self.high) else 1.0
        if f_lo == 0.0 and f_hi == 1.0:
            return np.asarray(d.ppf(special.ndtr(z)), dtype=float)
        u = f_lo + special.ndtr(z) * (f_hi - f_lo)
        return np.clip(np.asarray(d.ppf(u), dtype=float), self.low, self.high)

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description."""
        return {"family": self.family, "params": [float(p) for p in self.params],
                "bounds": [_finite(self.low), _finite(self.high)]}


@dataclass(frozen=True)
class QuantileMarginal:
    """A distribution through given quantiles: piecewise linear in the normal score.

    ``y = T(x)`` (``log`` for positive skewed covariates, identity otherwise) is linear in
    ``z = Phi^{-1}(p)`` between the given quantiles and continues with the outer slopes beyond them
    (a two-piece normal/lognormal for quartiles); the tails beyond the outermost quantiles are
    truncated at the bounds, so every given quantile is reproduced exactly.
    """

    name: str
    z_knots: FloatArray
    y_knots: FloatArray
    log: bool
    low: float
    high: float

    kind = "continuous"

    @classmethod
    def fit(cls, name: str, quantiles: dict[float, float], *, low: float | None = None,
            high: float | None = None) -> QuantileMarginal:
        """Build from ``{probability: value}`` (at least 2 quantiles)."""
        ps = np.array(sorted(quantiles), dtype=float)
        xs = np.array([quantiles[p] for p in ps], dtype=float)
        if ps.size < 2 or np.any(np.diff(xs) <= 0):
            raise CohortError(f"covariate {name!r}: needs >= 2 strictly increasing quantiles; "
                              f"got {dict(zip(ps.tolist(), xs.tolist(), strict=True))}")
        lo, hi = _bounded(low, high)
        mid = ps.size // 2
        skewed = ps.size >= 3 and (xs[-1] - xs[mid]) > (xs[mid] - xs[0])
        use_log = bool(xs[0] > 0 and lo >= 0 and skewed) if np.isfinite(lo) else bool(
            xs[0] > 0 and skewed)
        ys = np.log(xs) if use_log else xs
        return cls(name, special.ndtri(ps), ys, use_log, lo, hi)

    def _y_of_z(self, z: FloatArray) -> FloatArray:
        zk, yk = self.z_knots, self.y_knots
        y = np.interp(z, zk, yk)
        s_lo = (yk[1] - yk[0]) / (zk[1] - zk[0])
        s_hi = (yk[-1] - yk[-2]) / (zk[-1] - zk[-2])
        y = np.where(z < zk[0], yk[0] + s_lo * (z - zk[0]), y)
        return np.where(z > zk[-1], yk[-1] + s_hi * (z - zk[-1]), y)

    def _z_of_x(self, x: float) -> float:
        if not np.isfinite(x):
            return float(np.sign(x) * np.inf)
        if self.log and x <= 0:
            return -np.inf
        y = np.log(x) if self.log else x
        zk, yk = self.z_knots, self.y_knots
        if y < yk[0]:
            return float(zk[0] + (y - yk[0]) * (zk[1] - zk[0]) / (yk[1] - yk[0]))
        if y > yk[-1]:
            return float(zk[-1] + (y - yk[-1]) * (zk[-1] - zk[-2]) / (yk[-1] - yk[-2]))
        return float(np.interp(y, yk, zk))

    def from_latent(self, z: FloatArray) -> FloatArray:
        """Covariate values for latent normal scores ``z``.

        The bounds truncate only the tails beyond the outermost given quantiles (each tail keeps
        its probability mass), so the given quantiles stay exact.
        """
        z = np.array(z, dtype=float, copy=True)
        z_first, z_last = self.z_knots[0], self.z_knots[-1]
        z_low, z_high = self._z_of_x(self.low), self._z_of_x(self.high)
        lower = z < z_first
        if lower.any() and z_low > -np.inf:
            tail = special.ndtr(z_first)  # P(z < z_first)
            cut = special.ndtr(z_low) / tail  # share of the tail below the bound
            w = special.ndtr(z[lower]) / tail
            z[lower] = special.ndtri(np.clip((cut + w * (1 - cut)) * tail, 1e-300, 1.0))
        upper = z > z_last
        if upper.any() and z_high < np.inf:
            tail = special.ndtr(-z_last)
            cut = special.ndtr(-z_high) / tail
            w = special.ndtr(-z[upper]) / tail
            z[upper] = -special.ndtri(np.clip((cut + w * (1 - cut)) * tail, 1e-300, 1.0))
        y = self._y_of_z(z)
        x = np.exp(y) if self.log else y
        return np.clip(x, self.low, self.high)

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description."""
        return {"family": "quantile", "scale": "log" if self.log else "linear",
                "probabilities": special.ndtr(self.z_knots).round(6).tolist(),
                "values": (np.exp(self.y_knots) if self.log else self.y_knots).tolist(),
                "bounds": [_finite(self.low), _finite(self.high)]}


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _frozen(family: str, params: tuple[float, ...], low: float, high: float) -> Any:
    a, b = params[0], params[1]
    if family == "normal":
        return stats.norm(loc=a, scale=b)
    if family == "lognormal":  # a = mu, b = sigma of log(x)
        return stats.lognorm(s=b, scale=np.exp(a))
    if family == "gamma":  # a = shape, b = scale
        return stats.gamma(a, scale=b)
    if family == "weibull":  # a = shape, b = scale
        return stats.weibull_min(a, scale=b)
    if family == "beta":  # on [low, high]
        return stats.beta(a, b, loc=low, scale=high - low)
    if family == "truncnorm":  # a = mu, b = sigma of the parent normal
        return stats.norm(loc=a, scale=b)
    raise CohortError(f"family {family!r} is unknown; use normal, lognormal, gamma, weibull, "
                      "beta or truncnorm")


def fit_parametric(name: str, values: npt.ArrayLike, family: str, *, low: float | None = None,
                   high: float | None = None) -> ParametricMarginal:
    """Fit ``family`` to the observed ``values`` by maximum likelihood.

    ``truncnorm`` is fitted with the truncation to the bounds in the likelihood; the other families
    are fitted untruncated and then truncated to the bounds.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    lo, hi = _bounded(low, high)
    if x.size < 3:
        raise CohortError(f"covariate {name!r}: needs at least 3 observed values to fit "
                          f"{family}; got {x.size}")
    positive = family in ("lognormal", "gamma", "weibull")
    if positive and x.min() <= 0:
        raise CohortError(f"covariate {name!r}: family {family!r} needs positive values; got "
                          f"minimum {x.min():g}. Use normal, truncnorm or empirical")
    if family == "normal":
        params: tuple[float, ...] = (float(x.mean()), float(x.std()))
    elif family == "lognormal":
        lx = np.log(x)
        params = (float(lx.mean()), float(lx.std()))
    elif family == "gamma":
        shape, _, scale = stats.gamma.fit(x, floc=0)
        params = (float(shape), float(scale))
    elif family == "weibull":
        shape, _, scale = stats.weibull_min.fit(x, floc=0)
        params = (float(shape), float(scale))
    elif family == "beta":
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise CohortError(f"covariate {name!r}: family 'beta' needs finite bounds")
        y = np.clip((x - lo) / (hi - lo), 1e-9, 1 - 1e-9)
        a, b, _, _ = stats.beta.fit(y, floc=0, fscale=1)
        params = (float(a), float(b))
    elif family == "truncnorm":
        def nll(theta: FloatArray) -> float:
            mu, sd = theta[0], np.exp(theta[1])
            mass = special.ndtr((hi - mu) / sd) - special.ndtr((lo - mu) / sd)
            return float(-np.sum(stats.norm.logpdf(x, mu, sd)) + x.size * np.log(max(mass, 1e-300)))
        res = optimize.minimize(nll, np.array([x.mean(), np.log(x.std())]), method="Nelder-Mead")
        params = (float(res.x[0]), float(np.exp(res.x[1])))
    else:
        raise CohortError(f"covariate {name!r}: family {family!r} is unknown")
    if not all(np.isfinite(params)) or params[1] <= 0:
        raise CohortError(f"covariate {name!r}: {family} fit failed (parameters {params})")
    return ParametricMarginal(name, family, params, lo, hi)


def match_summary(name: str, family: str, *, mean: float | None = None, sd: float | None = None,
                  quantiles: dict[float, float] | None = None, low: float | None = None,
                  high: float | None = None) -> ParametricMarginal:
    """Find the ``family`` member matching summary moments and/or quantiles.

    Closed forms are used where they exist (normal and lognormal moments, normal and lognormal
    median/IQR, gamma and beta moments); otherwise the parameters minimise the squared relative
    error of the given moments/quantiles of the (truncated) distribution.
    """
    lo, hi = _bounded(low, high)
    q = dict(quantiles or {})
    start: tuple[float, float]
    if family in ("normal", "truncnorm"):
        if mean is not None and sd is not None:
            start = (mean, sd)
        else:
            start = _normal_from_quantiles(q)
    elif family == "lognormal":
        if mean is not None and sd is not None:
            s2 = np.log1p((sd / mean) ** 2)
            start = (float(np.log(mean) - s2 / 2), float(np.sqrt(s2)))
        else:
            mu, s = _normal_from_quantiles({p: np.log(v) for p, v in q.items()})
            start = (mu, s)
    elif family == "gamma":
        m, s = (mean, sd) if mean is not None and sd is not None else _moments_guess(q)
        start = ((m / s) ** 2, s * s / m)
    elif family == "weibull":
        m, s = (mean, sd) if mean is not None and sd is not None else _moments_guess(q)
        k = max((s / m) ** -1.086, 0.1)
        start = (k, m / special.gamma(1 + 1 / k))
    elif family == "beta":
        m, s = (mean, sd) if mean is not None and sd is not None else _moments_guess(q)
        mu, var = (m - lo) / (hi - lo), (s / (hi - lo)) ** 2
        c = max(mu * (1 - mu) / var - 1, 1e-3)
        start = (mu * c, (1 - mu) * c)
    else:
        raise CohortError(f"covariate {name!r}: family {family!r} cannot be matched to a summary")
    closed = (family in ("normal", "lognormal") or
              (family in ("gamma", "beta") and mean is not None and sd is not None))
    truncated = np.isfinite(lo) and family != "beta" and _frozen(family, start, lo, hi).cdf(lo) > 1e-4
    truncated = truncated or (np.isfinite(hi) and family != "beta" and
                              _frozen(family, start, lo, hi).sf(hi) > 1e-4)
    if closed and not truncated:
        return ParametricMarginal(name, family, tuple(float(v) for v in start), lo, hi)
    targets: list[tuple[str, float, float]] = []
    if mean is not None and sd is not None:
        targets += [("mean", 0.0, mean), ("sd", 0.0, sd)]
    targets += [("q", p, v) for p, v in q.items()]
    scale = max(abs(t[2]) for t in targets) or 1.0

    def residuals(theta: FloatArray) -> FloatArray:
        a = theta[0] if family in ("normal", "truncnorm", "lognormal") else np.exp(theta[0])
        m = ParametricMarginal(name, family, (float(a), float(np.exp(theta[1]))), lo, hi)
        d = m.dist
        f_lo = d.cdf(lo) if np.isfinite(lo) else 0.0
        f_hi = d.cdf(hi) if np.isfinite(hi) else 1.0
        out = []
        grid = None
        for kind, p, v in targets:
            if kind == "q":
                out.append((d.ppf(f_lo + p * (f_hi - f_lo)) - v) / scale)
            else:
                if grid is None:
                    u = f_lo + (np.arange(2000) + 0.5) / 2000 * (f_hi - f_lo)
                    grid = d.ppf(u)
                stat = grid.mean() if kind == "mean" else grid.std()
                out.append((stat - v) / scale)
        return np.nan_to_num(np.asarray(out, dtype=float), nan=1e3, posinf=1e3, neginf=-1e3)

    a0 = start[0] if family in ("normal", "truncnorm", "lognormal") else np.log(start[0])
    res = optimize.least_squares(residuals, np.array([a0, np.log(start[1])]), method="lm")
    a = res.x[0] if family in ("normal", "truncnorm", "lognormal") else np.exp(res.x[0])
    return ParametricMarginal(name, family, (float(a), float(np.exp(res.x[1]))), lo, hi)


def _normal_from_quantiles(q: dict[float, float]) -> tuple[float, float]:
    ps = np.array(sorted(q))
    vs = np.array([q[p] for p in ps])
    zs = special.ndtri(ps)
    if ps.size < 2:
        raise CohortError("need mean and sd, or at least two quantiles (e.g. q1 and q3)")
    slope, intercept = np.polyfit(zs, vs, 1)
    return float(intercept), float(max(slope, 1e-12))


def _moments_guess(q: dict[float, float]) -> tuple[float, float]:
    mu, s = _normal_from_quantiles(q)
    return max(mu, 1e-9), s


@dataclass(frozen=True)
class DiscreteMarginal:
    """Proportions over ordered levels; ``values`` are the output values of the levels."""

    name: str
    kind: str  # "binary" | "categorical"
    levels: tuple[Any, ...]
    probs: FloatArray
    numeric: bool

    @classmethod
    def fit(cls, name: str, values: Any, kind: str, *,
            levels: tuple[Any, ...] | None = None) -> DiscreteMarginal:
        """Fit the proportions of the observed (non-missing) ``values``."""
        import pandas as pd

        s = pd.Series(values).dropna()
        if s.empty:
            raise CohortError(f"covariate {name!r}: no observed values")
        numeric = pd.api.types.is_numeric_dtype(s)
        counts = s.value_counts()
        if kind == "binary":
            if not numeric or not set(counts.index.astype(float)) <= {0.0, 1.0}:
                shown = sorted(map(str, counts.index))[:5]
                raise CohortError(f"covariate {name!r}: binary covariates take 0/1; got levels "
                                  f"{shown}. Use type: categorical")
            order: list[Any] = [0.0, 1.0]
        elif levels is not None:
            order = [float(v) for v in levels] if numeric else [str(v) for v in levels]
            unknown = sorted(set(map(str, counts.index)) - set(map(str, order)))
            if unknown:
                raise CohortError(f"covariate {name!r}: observed levels {unknown} are not in the "
                                  f"configured levels {list(levels)}. Add them to levels")
        else:
            order = sorted(float(v) for v in counts.index) if numeric else \
                sorted(str(v) for v in counts.index)
        key = (lambda v: float(v)) if numeric else str
        cmap = {key(k): int(c) for k, c in counts.items()}
        probs = np.array([cmap.get(key(lv), 0) for lv in order], dtype=float)
        return cls(name, kind, tuple(order), probs / probs.sum(), bool(numeric))

    @property
    def thresholds(self) -> FloatArray:
        """Latent cut points ``Phi^{-1}`` of the cumulative proportions (length levels - 1)."""
        return special.ndtri(np.clip(np.cumsum(self.probs)[:-1], 0.0, 1.0))

    def codes_from_latent(self, z: FloatArray) -> npt.NDArray[np.intp]:
        """Level indices for latent normal scores ``z``."""
        return np.searchsorted(self.thresholds, z, side="right")

    def from_latent(self, z: FloatArray) -> Any:
        """Level values for ``z``: float64 for numeric levels, an object array of str otherwise."""
        codes = self.codes_from_latent(z)
        lv = np.asarray(self.levels, dtype=float if self.numeric else object)
        return lv[codes]

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description."""
        return {"levels": [float(v) if self.numeric else str(v) for v in self.levels],
                "proportions": [float(p) for p in self.probs]}


Marginal = EmpiricalMarginal | ParametricMarginal | QuantileMarginal | DiscreteMarginal
