"""Tidy adapter on the real PBC files (no editing of the files), layouts, filters, doses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from twintrial.data import DataConfig, Dataset, dataset_summary, load_dataset
from twintrial.exceptions import DataError

ROOT = Path(__file__).resolve().parents[2]
PBC = "cohorts/pbc/pbc.csv"
PBCSEQ = "cohorts/pbc/pbcseq.csv"


def pbc_config() -> dict[str, Any]:
    """The `data:` section of the default PBC trial (kept in step with the final report)."""
    return {
        "format": "tidy",
        "time_unit": "year",
        "subjects": {
            "path": PBC, "id": "id",
            "filter": {"column": "trt", "in": [1, 2]},
            "arm": {"column": "trt", "map": {1: "dpen", 2: "placebo"}},
            "covariates": {
                "age": {"unit": "year"},
                "sex": {"type": "categorical", "levels": ["m", "f"]},
                "ascites": {"type": "binary"}, "hepato": {"type": "binary"},
                "spiders": {"type": "binary"}, "edema": None,
                "bili": {"unit": "mg/dL"}, "albumin": {"unit": "g/dL"},
                "protime": {"unit": "s"}, "chol": {"unit": "mg/dL"},
                "alk_phos": {"column": "alk.phos", "unit": "U/L"},
                "platelet": {"unit": "10^9/L"},
                "stage": {"type": "categorical", "levels": [1, 2, 3, 4]},
            },
        },
        "events": {"time": "time", "time_unit": "day", "status": "status",
                   "event_values": [1, 2], "censored_values": [0]},
        "observations": {"path": PBCSEQ, "id": "id", "time": "day", "time_unit": "day",
                         "layout": "wide",
                         "variables": {"bili": {"unit": "mg/dL"}, "albumin": {"unit": "g/dL"},
                                       "protime": {"unit": "s"}}},
    }


@pytest.fixture(scope="module")
def pbc() -> Dataset:
    return load_dataset(DataConfig.from_dict(pbc_config()), base_dir=ROOT)


def test_pbc_subjects_and_arms(pbc: Dataset) -> None:
    s = pbc.subjects
    assert len(s) == 312
    assert s["arm"].value_counts().to_dict() == {"dpen": 158, "placebo": 154}
    assert list(s.columns[:2]) == ["id", "arm"]
    assert s["id"].tolist()[:3] == ["1", "2", "3"]
    assert s["age"].dtype == np.float64 and s["ascites"].dtype == np.float64
    assert pd.api.types.is_string_dtype(s["sex"]) and set(s["sex"]) == {"m", "f"}
    assert set(s["stage"].dropna()) == {"1", "2", "3", "4"}
    # the real missing counts of the randomized patients (chol 28, platelet 4, stage 0)
    summary = dataset_summary(pbc)
    assert summary["missing"]["chol"] == 28
    assert summary["missing"]["platelet"] == 4
    assert summary["missing"]["bili"] == 0
    row = s.set_index("id").loc["1"]
    assert row["arm"] == "dpen" and row["bili"] == 14.5 and row["sex"] == "f"


def test_pbc_arm_comes_from_pbc_not_pbcseq(pbc: Dataset) -> None:
    """pbcseq codes trt 0 = placebo, 1 = D-pen: the arm must agree with pbc.csv's 1/2 coding."""
    seq = pd.read_csv(ROOT / PBCSEQ).groupby("id")["trt"].first()
    arm = pbc.subjects.set_index("id")["arm"]
    seq_arm = seq.map({1: "dpen", 0: "placebo"})
    seq_arm.index = seq_arm.index.astype(str)
    assert (arm.loc[seq_arm.index] == seq_arm).all()


def test_pbc_observations_and_events(pbc: Dataset) -> None:
    obs = pbc.observations
    assert obs.groupby("variable").size().to_dict() == {"albumin": 1945, "bili": 1945,
                                                        "protime": 1945}
    assert obs["time"].min() == 0.0
    # day 192 of patient 1 in years, bilirubin 21.3 mg/dL
    hit = obs[(obs["id"] == "1") & (obs["variable"] == "bili")]
    np.testing.assert_allclose(hit["time"], [0.0, 192 / 365.25])
    np.testing.assert_allclose(hit["value"], [14.5, 21.3])
    order = np.lexsort((obs["time"], obs["variable"], obs["id"].astype(int)))
    assert (order == np.arange(len(obs))).all()  # sorted by id (numeric), variable, time
    ev = pbc.events
    assert len(ev) == 312 and int(ev["event"].sum()) == 144
    assert ev.set_index("id").loc["1", "time"] == pytest.approx(400 / 365.25)
    assert pbc.units["bili"] == "mg/dL" and pbc.time_unit == "year"
    summary = dataset_summary(pbc)
    assert summary["n_observations_after_event_time"] == 3 * 138  # 138 visits x 3 variables
    assert summary["arms"] == {"dpen": 158, "placebo": 154}
    assert summary["events"] == {"n": 312, "events": 144, "censored": 168}


def test_without_filter_keeps_unrandomized_with_na_arm() -> None:
    raw = pbc_config()
    del raw["subjects"]["filter"]
    del raw["observations"]
    ds = load_dataset(DataConfig.from_dict(raw), base_dir=ROOT)
    assert len(ds.subjects) == 418
    assert int(ds.subjects["arm"].isna().sum()) == 106
    assert dataset_summary(ds)["arms"]["<NA>"] == 106


def test_filter_drops_observations_of_filtered_subjects() -> None:
    raw = pbc_config()
    raw["subjects"]["filter"] = [{"column": "trt", "in": [2]}, {"column": "age", "op": ">=",
                                                                 "value": 50}]
    ds = load_dataset(DataConfig.from_dict(raw), base_dir=ROOT)
    assert set(ds.subjects["arm"]) == {"placebo"} and (ds.subjects["age"] >= 50).all()
    assert set(ds.observations["id"]) == set(ds.subjects["id"])
    assert set(ds.events["id"]) == set(ds.subjects["id"])


def test_long_layout_matches_wide(tmp_path: Path) -> None:
    seq = pd.read_csv(ROOT / PBCSEQ)
    long = seq.melt(id_vars=["id", "day"], value_vars=["bili", "albumin"],
                    var_name="test", value_name="result")
    long["result"] = np.where(long["test"] == "albumin", long["result"] * 10, long["result"])
    long["test"] = long["test"].map({"bili": "BILI", "albumin": "ALB"})
    long.to_parquet(tmp_path / "long.parquet")
    raw = {"format": "tidy", "time_unit": "year",
           "units": {"albumin": "g/dL"},
           "observations": {"path": str(tmp_path / "long.parquet"), "time": "day",
                            "time_unit": "day", "layout": "long", "variable_column": "test",
                            "value_column": "result",
                            "variables": {"bili": {"code": "BILI", "unit": "mg/dL"},
                                          "albumin": {"code": "ALB", "unit": "g/L"}}}}
    ds = load_dataset(DataConfig.from_dict(raw))
    wide = load_dataset(DataConfig.from_dict(pbc_config()), base_dir=ROOT).observations
    wide = wide[wide["variable"] != "protime"].reset_index(drop=True)
    pd.testing.assert_frame_equal(ds.observations, wide, check_exact=False, rtol=1e-12)
    assert ds.units == {"bili": "mg/dL", "albumin": "g/dL"}
    assert ds.subjects["arm"].isna().all() and len(ds.subjects) == 312


def test_tidy_doses_per_kg_from_theoph(tmp_path: Path) -> None:
    th = pd.read_csv(ROOT / "cohorts/theoph/pk_theoph.csv")
    first = th.groupby("Subject", as_index=False).first().assign(t0=0.0)
    first.to_csv(tmp_path / "doses.csv", index=False)
    raw = {"format": "tidy", "time_unit": "h",
           "subjects": {"path": "cohorts/theoph/pk_theoph.csv", "id": "Subject",
                        "covariates": {"wt": {"column": "Wt", "unit": "kg"}}},
           "observations": {"path": "cohorts/theoph/pk_theoph.csv", "id": "Subject",
                            "time": "Time", "variables": {"conc": {"unit": "mg/L"}}},
           "doses": {"path": str(tmp_path / "doses.csv"), "id": "Subject", "time": "t0",
                     "amount": "Dose", "amount_unit": "mg/kg", "weight": "Wt"}}
    ds = load_dataset(DataConfig.from_dict(raw), base_dir=ROOT)
    assert len(ds.subjects) == 12 and len(ds.observations) == 132
    np.testing.assert_allclose(ds.doses["amount"], first["Dose"] * first["Wt"])
    assert ds.units["amount"] == "mg" and set(ds.doses["route"]) == {"oral"}


def test_no_tables_is_an_error() -> None:
    with pytest.raises(DataError, match="no tables configured"):
        load_dataset(DataConfig.from_dict({}))


def test_text_ids_kept_verbatim(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("pid,grp\n007,A\n010,B\nX2,A\n")
    raw = {"format": "tidy", "subjects": {"path": str(tmp_path / "s.csv"), "id": "pid",
                                          "arm": {"column": "grp"}}}
    ds = load_dataset(DataConfig.from_dict(raw))
    assert ds.ids == ["007", "010", "X2"]
    assert ds.subjects["arm"].tolist() == ["A", "B", "A"]  # empty map: codes are the names
