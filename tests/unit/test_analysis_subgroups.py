"""Unit tests of subgroup effects, the interaction test and the forest plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from twintrial.analysis import forest_plot, interaction_test, subgroup_effects, t_test
from twintrial.exceptions import AnalysisError


@pytest.fixture
def trial() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    arm = np.where(rng.random(n) < 0.5, "treated", "control")
    sex = rng.choice(["f", "m"], n)
    stage = rng.choice([1, 2, 3], n)
    effect = np.where(sex == "f", 1.0, 0.0)  # strong interaction with sex only
    value = rng.normal(size=n) + (arm == "treated") * effect
    time = rng.exponential(np.where(arm == "treated", 1.5, 1.0))
    return pd.DataFrame({"arm": arm, "sex": sex, "stage": stage, "value": value, "time": time,
                         "event": (time < 2).astype(float), "time_obs": np.minimum(time, 2)})


def test_subgroup_rows_match_direct_tests(trial):
    table = subgroup_effects(trial, by=["sex", "stage"], test="t")
    assert list(table["variable"]) == ["overall", "sex", "sex", "stage", "stage", "stage"]
    part = trial[trial["sex"] == "f"]
    ref = t_test(part.loc[part["arm"] == "treated", "value"],
                 part.loc[part["arm"] == "control", "value"])
    row = table[(table["variable"] == "sex") & (table["level"] == "f")].iloc[0]
    assert row["estimate"] == pytest.approx(float(ref.estimate))
    assert row["n_treated"] + row["n_control"] == len(part)
    p_sex = table.loc[table["variable"] == "sex", "p_interaction"].iloc[0]
    p_stage = table.loc[table["variable"] == "stage", "p_interaction"].iloc[0]
    assert p_sex < 0.001 and p_stage > 0.001


def test_interaction_q_by_hand():
    effects = pd.DataFrame({"variable": ["overall", "g", "g", "g"], "level": ["all", "a", "b", "c"],
                            "estimate": [0.0, 1.0, 2.0, 4.0], "se": [1.0, 1.0, 0.5, 1.0]})
    out = interaction_test(effects)
    w = np.array([1.0, 4.0, 1.0])
    est = np.array([1.0, 2.0, 4.0])
    q = np.sum(w * (est - np.sum(w * est) / w.sum()) ** 2)
    assert out["q"].iloc[0] == pytest.approx(q)
    assert out["p_value"].iloc[0] == pytest.approx(stats.chi2.sf(q, 2))


def test_survival_subgroups_and_forest_plot(trial):
    table = subgroup_effects(trial, by=["sex"], test="cox", time="time_obs")
    assert (table["scale"] == "log hazard ratio").all()
    fig = forest_plot(table, title="HR by sex")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert len(ax.get_yticklabels()) == 3


def test_small_stratum_is_nan_not_an_error(trial):
    small = trial.copy()
    small["site"] = "big"
    small.loc[small.index[:1], "site"] = "tiny"
    table = subgroup_effects(small, by=["site"], test="t")
    assert np.isnan(table.loc[table["level"] == "tiny", "estimate"].iloc[0])
    assert np.isnan(table["p_interaction"].iloc[1])


def test_subgroup_errors(trial):
    with pytest.raises(AnalysisError, match=r"frame: missing column\(s\) \['age'\]"):
        subgroup_effects(trial, by=["age"])
    with pytest.raises(AnalysisError, match=r"test: unknown test"):
        subgroup_effects(trial, by=["sex"], test="anova")
