"""Marginals: quantile round trips, bounds, parametric fits, summary matching, proportions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from twintrial.cohort.marginals import (
    DiscreteMarginal,
    EmpiricalMarginal,
    QuantileMarginal,
    fit_parametric,
    match_summary,
)
from twintrial.exceptions import CohortError

Z_EXTREME = np.array([-40.0, -9.0, -5.0, 0.0, 5.0, 9.0, 40.0])


def test_empirical_round_trip_at_knots() -> None:
    x = np.random.default_rng(1).gamma(2.0, 3.0, size=200)
    m = EmpiricalMarginal.fit("x", x)
    z = special.ndtri(m.knots_p)
    np.testing.assert_allclose(m.from_latent(z), np.sort(x), rtol=1e-12)


def test_empirical_is_monotone_and_interpolates() -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 3.0, 5.0])
    m = EmpiricalMarginal.fit("x", x)
    z = np.linspace(-6, 6, 2001)
    y = m.from_latent(z)
    assert np.all(np.diff(y) >= 0)
    # between two knots the quantile function is linear in probability
    u = (m.knots_p[2] + m.knots_p[3]) / 2
    assert m.from_latent(special.ndtri(np.array([u])))[0] == pytest.approx(
        (np.sort(x)[2] + np.sort(x)[3]) / 2)


def test_empirical_tails_respect_bounds_and_default_nonnegative() -> None:
    x = np.random.default_rng(2).lognormal(0.0, 1.0, size=100)
    m = EmpiricalMarginal.fit("bili", x)  # no bounds given, observed positive -> low = 0
    y = m.from_latent(Z_EXTREME)
    assert y.min() >= 0.0 and np.all(np.isfinite(y))
    assert y[-1] > x.max()  # the upper tail extends beyond the data
    bounded = EmpiricalMarginal.fit("bili", x, low=0.05, high=x.max() * 1.5)
    yb = bounded.from_latent(np.linspace(-12, 12, 10001))
    assert yb.min() >= 0.05 and yb.max() <= x.max() * 1.5
    assert yb.max() > x.max()


def test_empirical_tail_mass_matches_plotting_positions() -> None:
    x = np.arange(1.0, 101.0)
    m = EmpiricalMarginal.fit("x", x, low=-1e6, high=1e6)
    z = np.random.default_rng(3).standard_normal(400_000)
    y = m.from_latent(z)
    assert np.mean(y > 100) == pytest.approx(0.005, abs=0.0006)
    assert np.mean(y < 1) == pytest.approx(0.005, abs=0.0006)


def test_empirical_errors() -> None:
    with pytest.raises(CohortError, match="at least 2 observed values"):
        EmpiricalMarginal.fit("x", [1.0, np.nan])
    with pytest.raises(CohortError, match="outside the bounds"):
        EmpiricalMarginal.fit("x", [1.0, 2.0, 50.0], high=10.0)


@pytest.mark.parametrize(("family", "dist", "params"), [
    ("normal", stats.norm(5.0, 2.0), (5.0, 2.0)),
    ("lognormal", stats.lognorm(0.5, scale=np.exp(1.0)), (1.0, 0.5)),
    ("gamma", stats.gamma(3.0, scale=2.0), (3.0, 2.0)),
    ("weibull", stats.weibull_min(1.5, scale=4.0), (1.5, 4.0)),
])
def test_parametric_mle_recovers_parameters(family: str, dist: object, params: tuple) -> None:
    x = dist.rvs(size=20_000, random_state=np.random.default_rng(4))  # type: ignore[attr-defined]
    m = fit_parametric("x", x, family)
    np.testing.assert_allclose(m.params, params, rtol=0.04)
    u = np.array([0.01, 0.3, 0.5, 0.9, 0.999])
    np.testing.assert_allclose(m.from_latent(special.ndtri(u)), m.dist.ppf(u), rtol=1e-10)


def test_beta_and_truncnorm_fits_use_bounds() -> None:
    rng = np.random.default_rng(5)
    x = 10 + 20 * rng.beta(2.0, 5.0, size=20_000)
    m = fit_parametric("x", x, "beta", low=10, high=30)
    np.testing.assert_allclose(m.params, (2.0, 5.0), rtol=0.05)
    t = stats.truncnorm.rvs(-1.0, 2.0, loc=0.0, scale=1.0, size=20_000, random_state=rng)
    mt = fit_parametric("t", t, "truncnorm", low=-1.0, high=2.0)
    np.testing.assert_allclose(mt.params, (0.0, 1.0), atol=0.06)
    y = mt.from_latent(rng.standard_normal(100_000))
    assert y.min() >= -1.0 and y.max() <= 2.0
    assert stats.ks_2samp(y, t).statistic < 0.02


def test_parametric_truncation_respects_bounds() -> None:
    m = fit_parametric("x", np.random.default_rng(6).normal(0, 1, 500), "normal", low=-0.5,
                       high=1.0)
    y = m.from_latent(Z_EXTREME)
    assert y.min() >= -0.5 and y.max() <= 1.0


def test_parametric_errors() -> None:
    with pytest.raises(CohortError, match="positive values"):
        fit_parametric("x", [-1.0, 2.0, 3.0], "gamma")
    with pytest.raises(CohortError, match="finite bounds"):
        fit_parametric("x", [0.1, 0.2, 0.3], "beta")
    with pytest.raises(CohortError, match="at least 3"):
        fit_parametric("x", [1.0, 2.0], "normal")


def test_match_summary_closed_forms() -> None:
    n = match_summary("age", "normal", mean=50.0, sd=10.0)
    assert n.params == (50.0, 10.0)
    ln = match_summary("bili", "lognormal", mean=3.0, sd=4.0)
    assert ln.dist.mean() == pytest.approx(3.0) and ln.dist.std() == pytest.approx(4.0)
    g = match_summary("x", "gamma", mean=6.0, sd=3.0)
    assert g.dist.mean() == pytest.approx(6.0) and g.dist.std() == pytest.approx(3.0)
    b = match_summary("x", "beta", mean=0.3, sd=0.1, low=0.0, high=1.0)
    assert b.dist.mean() == pytest.approx(0.3) and b.dist.std() == pytest.approx(0.1)


def test_match_summary_numeric_quantiles_and_truncated_moments() -> None:
    w = match_summary("x", "weibull", quantiles={0.25: 2.0, 0.5: 3.0, 0.75: 4.2})
    got = w.dist.ppf([0.25, 0.5, 0.75])
    np.testing.assert_allclose(got, [2.0, 3.0, 4.2], rtol=0.05)
    t = match_summary("x", "truncnorm", mean=1.0, sd=1.0, low=0.0)
    y = t.from_latent(np.random.default_rng(7).standard_normal(200_000))
    assert y.min() >= 0.0
    assert y.mean() == pytest.approx(1.0, abs=0.02) and y.std() == pytest.approx(1.0, abs=0.02)


def test_quantile_marginal_exact_at_given_quantiles_and_bounded() -> None:
    q = {0.25: 0.8, 0.5: 1.35, 0.75: 3.425}
    m = QuantileMarginal.fit("bili", q, low=0.1, high=40.0)
    assert m.log  # right-skewed and positive
    z = np.random.default_rng(8).standard_normal(400_000)
    y = m.from_latent(z)
    assert y.min() >= 0.1 and y.max() <= 40.0
    for p, v in q.items():
        assert np.mean(y <= v) == pytest.approx(p, abs=0.004)
    sym = QuantileMarginal.fit("age", {0.25: 40.0, 0.5: 50.0, 0.75: 60.0})
    assert not sym.log
    np.testing.assert_allclose(sym.from_latent(special.ndtri(np.array([0.25, 0.5, 0.75]))),
                               [40.0, 50.0, 60.0])


def test_discrete_marginal_proportions_and_levels() -> None:
    v = np.array([0.0] * 70 + [0.5] * 20 + [1.0] * 10)
    m = DiscreteMarginal.fit("edema", v, "categorical")
    assert m.levels == (0.0, 0.5, 1.0) and m.numeric
    np.testing.assert_allclose(m.probs, [0.7, 0.2, 0.1])
    y = m.from_latent(np.random.default_rng(9).standard_normal(200_000))
    assert set(np.unique(y)) == {0.0, 0.5, 1.0}
    assert np.mean(y == 0.5) == pytest.approx(0.2, abs=0.004)
    text = DiscreteMarginal.fit("sex", ["m", "f", "f", None], "categorical", levels=("m", "f"))
    assert text.levels == ("m", "f") and not text.numeric
    np.testing.assert_allclose(text.probs, [1 / 3, 2 / 3])
    assert text.from_latent(np.array([-5.0, 5.0])).tolist() == ["m", "f"]


def test_discrete_marginal_errors() -> None:
    with pytest.raises(CohortError, match="binary covariates take 0/1"):
        DiscreteMarginal.fit("x", [0.0, 2.0], "binary")
    with pytest.raises(CohortError, match="not in the configured levels"):
        DiscreteMarginal.fit("x", ["a", "b"], "categorical", levels=("a",))
