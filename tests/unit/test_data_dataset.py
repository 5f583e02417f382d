"""The canonical Dataset: typing, sorting, validation of hand-built tables, summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twintrial.data import dataset_summary, make_dataset
from twintrial.exceptions import DataError


def subjects() -> pd.DataFrame:
    return pd.DataFrame({"id": [10, 2, 1], "arm": ["a", None, "b"], "wt": [70.0, np.nan, 80.0],
                         "sex": ["m", "f", None]})


def test_types_and_sorting() -> None:
    obs = pd.DataFrame({"id": ["10", "2", "2", "2"], "time": [1, 3, 1, 2],
                        "variable": ["c", "e", "c", "c"], "value": [1.0, 2.0, 3.0, 4.0],
                        "cens": [0, 0, 1, 0]})
    ds = make_dataset(subjects(), observations=obs, units={"c": "mg/L", "wt": "kg"},
                      time_unit="h", source={"obs": "x.csv"})
    o = ds.observations
    assert o[["id", "variable", "time"]].values.tolist() == [
        ["2", "c", 1.0], ["2", "c", 2.0], ["2", "e", 3.0], ["10", "c", 1.0]]
    assert o["cens"].dtype == np.int8 and o["time"].dtype == np.float64
    assert ds.subjects["id"].tolist() == ["10", "2", "1"]  # subjects keep their input order
    assert ds.subjects["arm"].isna().tolist() == [False, True, False]
    assert len(ds.doses) == 0 and list(ds.doses.columns) == ["id", "time", "amount", "route",
                                                              "duration"]
    assert ds.events["event"].dtype == np.int8
    s = dataset_summary(ds)
    assert s["n_subjects"] == 3 and s["arms"] == {"<NA>": 1, "a": 1, "b": 1}
    assert s["observations"]["c"] == {"n": 3, "subjects": 2, "median_per_subject": 1.5,
                                      "n_below_lloq": 1}
    assert s["missing"] == {"wt": 1, "sex": 1}
    assert s["follow_up"]["max"] == 3.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"doses": pd.DataFrame({"id": ["1"], "time": [0.0], "amount": [1.0], "route": ["nasal"],
                             "duration": [0.0]})}, "column 'route' has unknown route"),
    ({"doses": pd.DataFrame({"id": ["1"], "time": [0.0], "amount": [1.0], "route": ["infusion"],
                             "duration": [0.0]})}, "infusion dose(s) without a positive duration"),
    ({"doses": pd.DataFrame({"id": ["1"], "time": [0.0], "amount": [-1.0], "route": ["oral"],
                             "duration": [0.0]})}, "column 'amount' has 1 negative value(s)"),
    ({"events": pd.DataFrame({"id": ["1", "1"], "time": [1.0, 2.0], "event": [0, 1]})},
     "more than one event row for subject '1'"),
    ({"events": pd.DataFrame({"id": ["99"], "time": [1.0], "event": [0]})},
     "events: 1 subject id(s) not in the subjects table; got '99'"),
    ({"observations": pd.DataFrame({"id": ["1"], "time": [-1.0], "variable": ["c"],
                                    "value": [1.0], "cens": [0]})},
     "observations: column 'time' has 1 negative value(s)"),
    ({"units": {"c": "furlong"}}, "units.c: unknown unit; got 'furlong'"),
    ({"time_unit": "fortnight"}, "time_unit: must be one of"),
])
def test_canonical_problems(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError) as info:
        make_dataset(subjects(), **kwargs)
    assert any(message in p for p in info.value.problems), info.value.problems


def test_duplicate_subjects_rejected() -> None:
    subj = pd.DataFrame({"id": ["1", "1"], "arm": ["a", "a"]})
    with pytest.raises(DataError, match="1 duplicated subject id"):
        make_dataset(subj)
