"""Merging new data into a twin's dataset (the data side of the twin update)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from twintrial.data.dataset import Dataset
from twintrial.twins.update import merge_datasets


def _ds(ids, obs_rows, ev_rows) -> Dataset:
    subjects = pd.DataFrame({"id": ids, "arm": pd.Series([pd.NA] * len(ids), dtype="str"),
                             "age": np.arange(len(ids), dtype=float) + 50})
    obs = pd.DataFrame(obs_rows, columns=["id", "time", "variable", "value", "cens"])
    events = pd.DataFrame(ev_rows, columns=["id", "time", "event"])
    doses = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": [], "amount": [],
                          "route": pd.Series([], dtype="str"), "duration": []})
    return Dataset(subjects, obs, doses, events, time_unit="year")


def test_merge_appends_observations_adds_patients_and_extends_follow_up() -> None:
    old = _ds(["1", "2"], [("1", 0.0, "bili", 1.0, 0), ("2", 0.0, "bili", 2.0, 0)],
              [("1", 1.0, 0), ("2", 1.5, 0)])
    new = _ds(["1", "3"], [("1", 0.0, "bili", 1.0, 0), ("1", 2.0, "bili", 1.4, 0),
                           ("3", 0.0, "bili", 0.7, 0)],
              [("1", 2.5, 1), ("3", 0.5, 0)])
    merged = merge_datasets(old, new)
    assert merged.subjects["id"].tolist() == ["1", "2", "3"]
    assert merged.subjects.set_index("id").loc["1", "age"] == 50.0   # baseline kept
    obs = merged.observations
    assert len(obs) == 4                                            # exact duplicate dropped
    assert obs[obs["id"] == "1"]["time"].tolist() == [0.0, 2.0]
    ev = merged.events.set_index("id")
    assert ev.loc["1", "time"] == 2.5 and ev.loc["1", "event"] == 1   # follow-up replaced
    assert ev.loc["2", "time"] == 1.5 and "3" in ev.index
