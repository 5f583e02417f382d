"""NONMEM adapter: the real theophylline table, and RATE/ADDL/BLQ/MDV handling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from twintrial.data import DataConfig, Dataset, load_dataset
from twintrial.exceptions import DataError

ROOT = Path(__file__).resolve().parents[2]


def theoph_config() -> dict[str, Any]:
    """The `data:` section of the theophylline example (kept in step with the final report)."""
    return {"format": "nonmem", "time_unit": "h", "units": {"amount": "mg"},
            "nonmem": {"path": "cohorts/theoph/theoph_nonmem.csv", "time_unit": "h",
                       "dv": {"variable": "conc", "unit": "mg/L"}, "amount_unit": "mg",
                       "route": "oral", "covariates": {"wt": {"column": "WT", "unit": "kg"}}}}


@pytest.fixture(scope="module")
def theoph() -> Dataset:
    return load_dataset(DataConfig.from_dict(theoph_config()), base_dir=ROOT)


def test_theoph_nonmem_real_file(theoph: Dataset) -> None:
    raw = pd.read_csv(ROOT / "cohorts/theoph/pk_theoph.csv")
    first = raw.groupby("Subject").first()
    assert len(theoph.subjects) == 12 and len(theoph.observations) == 132
    assert len(theoph.doses) == 12 and set(theoph.doses["route"]) == {"oral"}
    np.testing.assert_allclose(theoph.doses["amount"], (first["Dose"] * first["Wt"]).to_numpy(),
                               atol=0.005)
    np.testing.assert_allclose(theoph.subjects["wt"], first["Wt"].to_numpy())
    assert theoph.units == {"wt": "kg", "conc": "mg/L", "amount": "mg"}
    assert theoph.doses["amount"].mean() == pytest.approx(320.0, abs=10)


def test_theoph_nonmem_matches_tidy_source(theoph: Dataset) -> None:
    tidy = load_dataset(DataConfig.from_dict({
        "format": "tidy", "time_unit": "h",
        "observations": {"path": "cohorts/theoph/pk_theoph.csv", "id": "Subject", "time": "Time",
                         "variables": {"conc": {"unit": "mg/L"}}}}), base_dir=ROOT)
    pd.testing.assert_frame_equal(tidy.observations, theoph.observations)


def test_time_unit_conversion(tmp_path: Path) -> None:
    raw = theoph_config()
    raw["time_unit"] = "day"
    ds = load_dataset(DataConfig.from_dict(raw), base_dir=ROOT)
    assert ds.observations["time"].max() == pytest.approx(24.65 / 24)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "nm.csv"
    path.write_text(text)
    return str(path)


def test_rate_addl_blq_mdv_evid2(tmp_path: Path) -> None:
    path = write(tmp_path, "\n".join([
        "SUBJ,TIME,DV,AMT,RATE,EVID,MDV,ADDL,II,BLQ,WT,GRP",
        "1,0,.,100,50,1,1,2,12,0,70,1",    # 2-h infusion, repeated at 12 and 24 h (min -> h)
        "1,60,3.2,0,0,0,0,0,0,0,70,1",
        "1,90,9.9,0,0,0,1,0,0,0,70,1",     # MDV=1: not an observation
        "1,120,0.1,0,0,0,0,0,0,1,70,1",    # below LLOQ 0.1
        "1,150,.,0,0,2,1,0,0,0,70,1",      # EVID 2: other event, ignored
        "2,0,.,2,0,1,1,0,0,0,80,2",        # 2 mg/kg bolus at WT 80 -> 160 mg
        "2,30,1.5,0,0,0,0,0,0,0,81,2",     # weight changes: declared time-varying
    ]))
    raw = {"format": "nonmem", "time_unit": "h",
           "nonmem": {"path": path, "time_unit": "min", "columns": {"ID": "SUBJ"},
                      "dv": {"variable": "conc", "unit": "ug/mL"}, "amount_unit": "mg/kg",
                      "weight_covariate": "wt", "route": "iv_bolus",
                      "arm": {"column": "GRP", "map": {1: "low", 2: "high"}},
                      "covariates": {"wt": {"column": "WT", "unit": "kg",
                                            "time_varying": True}}},
           "units": {"conc": "mg/L"}}
    ds = load_dataset(DataConfig.from_dict(raw))
    obs = ds.observations
    assert obs["id"].tolist() == ["1", "1", "2"]
    np.testing.assert_allclose(obs["time"], [1.0, 2.0, 0.5])
    assert obs["cens"].tolist() == [0, 1, 0]
    d = ds.doses
    assert d["id"].tolist() == ["1", "1", "1", "2"]
    # ADDL/II: II is in the file's time unit (minutes)
    np.testing.assert_allclose(d["time"], [0.0, 0.2, 0.4, 0.0])
    np.testing.assert_allclose(d["amount"], [7000.0, 7000.0, 7000.0, 160.0])  # mg/kg x WT
    assert d["route"].tolist() == ["infusion"] * 3 + ["iv_bolus"]
    np.testing.assert_allclose(d["duration"], [2 / 60] * 3 + [0.0])  # AMT/RATE = 2 min
    assert ds.subjects["arm"].tolist() == ["low", "high"]
    assert ds.subjects["wt"].tolist() == [70.0, 80.0]  # baseline = first row
    assert ds.units["conc"] == "mg/L"


def test_several_observed_quantities_by_cmt(tmp_path: Path) -> None:
    path = write(tmp_path, "\n".join([
        "ID,TIME,DV,AMT,EVID,MDV,CMT",
        "1,0,.,100,1,1,1",
        "1,1,250,0,0,0,2",   # concentration, ng/mL
        "1,1,40,0,0,0,3",    # effect, %
        "1,2,9,0,0,0,4",     # unmapped CMT
    ]))
    raw = {"format": "nonmem", "units": {"conc": "mg/L"},
           "nonmem": {"path": path, "cmt_variables": {2: {"variable": "conc", "unit": "ng/mL"},
                                                      3: {"variable": "effect", "unit": "%"}}}}
    with pytest.raises(DataError, match=r"column 'CMT' has 1 observation row\(s\) with a CMT not "
                                        r"in data.nonmem.cmt_variables at line 5; got '4'"):
        load_dataset(DataConfig.from_dict(raw))
    raw["nonmem"]["cmt_variables"][4] = {"variable": "effect", "unit": "%"}
    ds = load_dataset(DataConfig.from_dict(raw))
    assert ds.observations[["variable", "value"]].values.tolist() == [
        ["conc", 0.25], ["effect", 40.0], ["effect", 9.0]]
    assert ds.units == {"conc": "mg/L", "effect": "%", "amount": "mg"}


def test_negative_rate_and_missing_interval_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "\n".join([
        "ID,TIME,DV,AMT,RATE,EVID,MDV,ADDL,II",
        "1,0,.,100,-2,1,1,3,0",
        "1,1,3.2,0,0,0,0,0,0",
    ]))
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig.from_dict({"format": "nonmem", "nonmem": {"path": path}}))
    problems = info.value.problems
    assert len(problems) == 2
    assert "column 'RATE' has 1 negative value(s) at line 2; got -2.0" in problems[0]
    assert "column 'II' must be > 0 where ADDL > 0" in problems[1]
