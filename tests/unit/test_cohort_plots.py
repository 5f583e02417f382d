"""Cohort figures: the reference each panel draws, and what the stage writes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from twintrial.cohort import CohortConfig, CohortSummary, build_cohort
from twintrial.cohort.marginals import ParametricMarginal
from twintrial.cohort.plots import _target_cdf, cohort_figures

pytestmark = pytest.mark.filterwarnings("ignore::twintrial.exceptions.FidelityWarning")


@pytest.mark.parametrize("family, params, low, high, dist", [
    ("normal", (10.0, 2.0), -np.inf, np.inf, stats.norm(10, 2)),
    ("lognormal", (1.0, 0.5), 0.0, np.inf, stats.lognorm(s=0.5, scale=np.e)),
    ("normal", (10.0, 2.0), 9.0, 30.0, stats.truncnorm(-0.5, 10.0, loc=10, scale=2)),
])
def test_target_cdf_inverts_the_marginal(family, params, low, high, dist) -> None:
    m = ParametricMarginal("x", family, params, low, high)
    x = np.linspace(dist.ppf(0.001), dist.ppf(0.999), 50)
    np.testing.assert_allclose(_target_cdf(m, x), dist.cdf(x), atol=2e-4)
    assert _target_cdf(m, np.array([dist.ppf(1e-9) - 100]))[0] == 0.0


def _panels(fig):
    return [ax for ax in fig.axes if ax.axison]


def test_data_source_panels_compare_virtual_with_the_real_patients() -> None:
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"age": rng.normal(55, 10, 400), "stage": rng.integers(1, 5, 400) * 1.0,
                         "sex": pd.array(rng.choice(["f", "m"], 400), dtype="str")})
    cfg = CohortConfig.from_dict({"n": 3000, "covariates": [
        {"name": "age", "unit": "year"}, {"name": "stage", "type": "categorical"},
        {"name": "sex", "type": "categorical"}]})
    res = build_cohort(real, cfg, seed=3)
    assert res.reference is real and [m.name for m in res.marginals] == ["age", "stage", "sex"]
    figs = cohort_figures(res.table, res.report, res.marginals, res.reference,
                          units={"age": "year"})
    assert set(figs) == {"marginals", "correlations"}
    age, stage, sex = _panels(figs["marginals"])
    assert age.get_title().startswith("age (year)\nKS ")
    assert "max |Δp|" in stage.get_title()
    # the bars: real shares of the levels, then the virtual ones
    real_shares = [p.get_height() for p in sex.patches[:2]]
    np.testing.assert_allclose(real_shares, real["sex"].value_counts(normalize=True)
                               .reindex(["f", "m"]).to_numpy())
    virtual_shares = [p.get_height() for p in sex.patches[2:]]
    np.testing.assert_allclose(virtual_shares, res.table["sex"].value_counts(normalize=True)
                               .reindex(["f", "m"]).to_numpy())
    assert "real (lower)" in figs["correlations"].axes[0].get_title()


def test_summary_source_draws_the_target_distribution() -> None:
    summary = CohortSummary.from_dict({"id": "toy", "covariates": [
        {"name": "a", "mean": 10.0, "sd": 2.0, "bounds": [0, 30]},
        {"name": "b", "type": "binary", "proportion": 0.3}]})
    res = build_cohort(summary, CohortConfig.from_dict({"source": "summary", "n": 4000}), seed=1)
    assert res.reference is None
    figs = cohort_figures(res.table, res.report, res.marginals, None)
    a, b = _panels(figs["marginals"])
    ref = next(p for p in a.patches if p.get_label() == "target")  # the target's step outline
    heights, edges = ref.get_data().values, ref.get_data().edges
    normal = stats.norm(10, 2)  # the summary's mean and SD, bounds far out
    cdf = normal.cdf(edges)
    cdf[0], cdf[-1] = 0.0, 1.0  # the outer bins hold the tails
    np.testing.assert_allclose(heights, np.diff(cdf), atol=1e-3)
    assert a.get_xscale() == "linear"
    np.testing.assert_allclose([p.get_height() for p in b.patches[:2]], [0.7, 0.3])
    assert "target (lower)" in figs["correlations"].axes[0].get_title()


def test_one_covariate_has_no_correlation_figure() -> None:
    real = pd.DataFrame({"age": np.random.default_rng(1).normal(55, 10, 200)})
    res = build_cohort(real, CohortConfig.from_dict({"n": 500, "covariates": [{"name": "age"}]}),
                       seed=2)
    assert set(cohort_figures(res.table, res.report, res.marginals, res.reference)) == \
        {"marginals"}


def test_a_few_real_patients_get_wide_bins_and_a_tick_each() -> None:
    real = pd.DataFrame({"wt": np.random.default_rng(4).normal(70, 9, 12)})
    res = build_cohort(real, CohortConfig.from_dict({"n": 2000, "covariates": [{"name": "wt"}]}),
                       seed=5)
    (ax,) = _panels(cohort_figures(res.table, res.report, res.marginals, res.reference)
                    ["marginals"])
    ref = next(p for p in ax.patches if p.get_label() == "real")
    assert ref.get_data().values.size == 8  # Rice's rule on 12 patients, at least 8 bins
    (rug,) = [ln for ln in ax.get_lines() if ln.get_marker() == "|"]
    np.testing.assert_array_equal(np.sort(rug.get_xdata()), np.sort(real["wt"].to_numpy()))


def test_a_long_right_tail_is_drawn_on_a_log_axis_with_shares_per_bin() -> None:
    rng = np.random.default_rng(6)
    real = pd.DataFrame({"bili": np.exp(rng.normal(0.3, 1.0, 300)),
                         "age": rng.normal(50, 10, 300)})
    res = build_cohort(real, CohortConfig.from_dict({"n": 3000, "covariates": [
        {"name": "bili", "bounds": [0.01, 100]}, {"name": "age"}]}), seed=7)
    bili, age = _panels(cohort_figures(res.table, res.report, res.marginals, res.reference)
                        ["marginals"])
    assert bili.get_xscale() == "log" and age.get_xscale() == "linear"
    ref = next(p for p in bili.patches if p.get_label() == "real")
    edges, shares = ref.get_data().edges, ref.get_data().values
    np.testing.assert_allclose(np.diff(np.log(edges)), np.diff(np.log(edges))[0])
    assert shares.sum() == pytest.approx(1.0)  # every real patient is in a bin
    virtual = sum(p.get_height() for p in bili.patches if p.get_label() != "real")
    assert virtual == pytest.approx(1.0)
