"""Unit tests of twintrial.validation.splits and twintrial.validation.baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twintrial.data.dataset import Dataset
from twintrial.exceptions import AnalysisError
from twintrial.validation.baselines import (
    compare_with_baselines,
    locf_baseline,
    population_baseline,
)
from twintrial.validation.splits import (
    convert_time,
    split_by_subjects,
    split_by_time,
    subject_folds,
)


def tables(n: int = 20) -> dict[str, pd.DataFrame]:
    ids = [f"p{i:02d}" for i in range(n)]
    subjects = pd.DataFrame({"id": ids, "arm": ["A", "B"] * (n // 2), "age": np.linspace(40, 70, n)})
    obs = pd.DataFrame({"id": np.repeat(ids, 4), "time": np.tile([0.0, 1.0, 2.0, 3.0], n),
                        "variable": "y", "value": np.arange(4 * n, dtype=float),
                        "cens": np.zeros(4 * n, dtype=np.int8)})
    doses = pd.DataFrame({"id": ids, "time": 0.0, "amount": 100.0, "route": "oral", "duration": 0.0})
    events = pd.DataFrame({"id": ids, "time": np.linspace(0.5, 5.0, n),
                           "event": np.ones(n, dtype=np.int8)})
    return {"subjects": subjects, "observations": obs, "doses": doses, "events": events}


def test_split_by_time_on_a_dataset():
    ds = Dataset(**tables(), units={"y": "1"}, time_unit="day")
    sp = split_by_time(ds, cutoff=36, unit="h")  # 1.5 days
    assert isinstance(sp.train, Dataset) and sp.train.time_unit == "day"
    assert sp.train.observations["time"].max() == 1.0
    assert sp.test.observations["time"].min() == 2.0
    assert len(sp.train.observations) + len(sp.test.observations) == 80
    ev = sp.train.events
    assert ev["time"].max() == 1.5
    assert ev.loc[ev["time"] == 1.5, "event"].eq(0).all()
    assert (sp.test.events["time"] > 1.5).all()
    assert len(sp.train.doses) == len(sp.test.doses) == 20


def test_split_by_time_errors():
    with pytest.raises(AnalysisError, match="cutoff"):
        split_by_time(tables(), cutoff=100.0)
    with pytest.raises(AnalysisError, match="unknown time unit"):
        convert_time(1.0, "fortnight", "day")
    assert convert_time(1.0, "year", "month") == pytest.approx(12.0)


def test_kfold_partitions_patients_deterministically_and_stratified():
    t = tables(30)
    folds = split_by_subjects(t, k=3, seed=5)
    held = np.concatenate([f.test_ids for f in folds])
    assert sorted(held) == sorted(t["subjects"]["id"])
    for f in folds:
        assert set(f.train["observations"]["id"]).isdisjoint(f.test_ids)
        assert f.test["subjects"]["arm"].value_counts().to_dict() == {"A": 5, "B": 5}
    again = split_by_subjects(t, k=3, seed=5)
    assert [f.test_ids for f in folds] == [f.test_ids for f in again]
    other = split_by_subjects(t, k=3, seed=6)
    assert [f.test_ids for f in folds] != [f.test_ids for f in other]
    # row order of the input does not matter
    shuffled = {**t, "subjects": t["subjects"].sample(frac=1.0, random_state=1)}
    assert [f.test_ids for f in split_by_subjects(shuffled, k=3, seed=5)] == [f.test_ids for f in folds]


def test_holdout_fraction_and_errors():
    t = tables(20)
    (sp,) = split_by_subjects(t, holdout_fraction=0.2, seed=1)
    assert len(sp.test_ids) == 4 and sp.name == "holdout 0.2"
    with pytest.raises(AnalysisError, match="exactly one"):
        subject_folds(t["subjects"]["id"], k=2, holdout_fraction=0.5)
    with pytest.raises(AnalysisError, match="validation.split.k"):
        subject_folds(t["subjects"]["id"], k=50)


def test_population_baseline_uses_same_band():
    train = pd.DataFrame({"id": ["a", "b", "c", "a", "b", "c"], "time": [0, 0, 0, 10, 10, 10.0],
                          "variable": "y", "value": [1, 2, 3, 11, 12, 13.0]})
    test = pd.DataFrame({"id": ["d", "d", "d"], "time": [0.0, 10.0, 5.0], "variable": ["y", "y", "z"],
                         "value": [2.0, 12.0, 1.0]})
    pooled = population_baseline(train, test, n_draws=4)
    np.testing.assert_allclose(pooled.point[:2], [7.0, 7.0])
    assert np.isnan(pooled.point[2])  # variable z never seen in training
    banded = population_baseline(train, test, bands=[0, 5, 20], min_n=3, n_draws=4)
    np.testing.assert_allclose(banded.point[:2], [2.0, 12.0])
    fallback = population_baseline(train, test, bands=[0, 5, 20], min_n=4, n_draws=4)
    np.testing.assert_allclose(fallback.point[:2], [7.0, 7.0])


def test_locf_baseline_carries_last_value_plus_changes():
    train = pd.DataFrame({"id": ["a", "a", "a", "b", "b"], "time": [0, 1, 2, 0, 1.0],
                          "variable": "y", "value": [1, 2, 4, 10, 10.0],
                          "cens": np.array([0, 0, 0, 0, 0], dtype=np.int8)})
    test = pd.DataFrame({"id": ["a", "b", "c"], "time": [3.0, 5.0, 1.0], "variable": "y",
                         "value": [5.0, 11.0, 0.0]})
    pred = locf_baseline(train, test, n_draws=3, min_changes=3)
    # changes: a: +1, +2; b: 0 -> quantiles at 1/6, 1/2, 5/6 of {0, 1, 2}
    changes = np.quantile([1.0, 2.0, 0.0], [1 / 6, 0.5, 5 / 6])
    np.testing.assert_allclose(pred.draws[0], 4.0 + changes)
    np.testing.assert_allclose(pred.draws[1], 10.0 + changes)
    assert pred.predicted.tolist() == [True, True, False]


def test_baseline_rejects_bad_tables():
    with pytest.raises(AnalysisError, match="missing column"):
        locf_baseline(pd.DataFrame({"id": []}), pd.DataFrame({"id": []}))


def test_twin_beats_baselines_on_a_known_model():
    """Random-intercept data: the true predictive (given the patient's intercept) beats both."""
    rng = np.random.default_rng(5)
    n, times = 150, np.arange(6.0)
    a = rng.normal(10, 3, n)
    ids = np.repeat([f"p{i}" for i in range(n)], times.size)
    t = np.tile(times, n)
    obs = pd.DataFrame({"id": ids, "time": t, "variable": "y",
                        "value": np.repeat(a, times.size) + 0.5 * t + rng.normal(0, 1, t.size)})
    train, test = obs[obs["time"] <= 2].reset_index(drop=True), obs[obs["time"] > 2].reset_index(drop=True)
    a_test = np.repeat(a, 3)
    twin = (a_test + 0.5 * test["time"].to_numpy())[:, None] + rng.normal(0, 1, (len(test), 500))
    bases = [population_baseline(train, test), locf_baseline(train, test)]
    res = compare_with_baselines(test, twin, bases, bands=[3, 4, 6])
    overall = res[res["band"] == "all"].set_index("model")
    assert list(overall.index) == ["twin", "population", "locf"]
    assert (overall["n"] == len(test)).all() and (overall["n_excluded"] == 0).all()
    assert overall.loc["twin", "crps"] < overall.loc["locf", "crps"] < overall.loc["population", "crps"]
    assert abs(overall.loc["twin", "coverage_0.9"] - 0.9) < 0.05
    assert set(res["band"]) == {"all", "[3, 4)", "[4, 6]"}
    with pytest.raises(AnalysisError, match="twin_draws"):
        compare_with_baselines(test, twin[:5], bases)


def test_strata_with_missing_arm():
    t = tables(10)
    t["subjects"]["arm"] = pd.array(["A", None] * 5, dtype="str")
    folds = split_by_subjects(t, k=2, seed=1)
    assert sorted(np.concatenate([f.test_ids for f in folds])) == sorted(t["subjects"]["id"])
