"""Bad data files and bad mappings each give a clear, one-line DataError per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from twintrial.data import DataConfig, load_dataset
from twintrial.exceptions import DataError

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"


def nonmem(name: str, **extra: Any) -> dict[str, Any]:
    return {"format": "nonmem", "time_unit": "h",
            "nonmem": {"path": str(BAD / name), "dv": {"variable": "conc", "unit": "mg/L"},
                       **extra}}


def subjects(name: str, **extra: Any) -> dict[str, Any]:
    spec = {"path": str(BAD / name), "arm": {"column": "trt", "map": {1: "a", 2: "b"}},
            "covariates": {"age": {"unit": "year"},
                           "sex": {"type": "categorical", "levels": ["m", "f"]}}}
    spec["covariates"].update(extra)
    return {"format": "tidy", "subjects": spec}


def events(name: str) -> dict[str, Any]:
    return {"format": "tidy", "time_unit": "day",
            "events": {"path": str(BAD / name), "status": "status", "event_values": [1, 2]}}


def observations(name: str) -> dict[str, Any]:
    return {"format": "tidy", "time_unit": "day",
            "observations": {"path": str(BAD / name), "time": "day",
                             "variables": {"bili": {"unit": "mg/dL"}}}}


def fhir(name: str) -> dict[str, Any]:
    return {"format": "fhir", "fhir": {"path": str(BAD / name), "observations": [
        {"code": "1975-2", "variable": "bili", "unit": "mg/dL"}]}}


CASES = [
    # (config, substrings every expected line must contain, number of problems)
    (nonmem("nonmem_misspelled_column.csv"),
     ["nonmem_misspelled_column.csv: column 'TIME'", "did you mean 'TIEM'"], 1),
    (nonmem("nonmem_nonnumeric_dv.csv"),
     ["column 'DV' has 2 non-numeric value(s) at lines 4, 5", "got '<0.1'"], 1),
    (nonmem("nonmem_negative_time.csv"),
     ["column 'TIME' has 1 negative value(s) at line 3", "-0.5"], 2),
    (nonmem("nonmem_time_backwards.csv"),
     ["column 'TIME' goes backwards within subject 1 at line 4", "got 1.0 after 2.0"], 1),
    (nonmem("nonmem_negative_dose.csv"), ["column 'AMT' must be > 0 on dose rows", "-100"], 1),
    (nonmem("nonmem_covariate_conflict.csv", covariates={"wt": {"column": "WT", "unit": "kg"}}),
     ["column 'WT' has conflicting values within 1 subject(s) (first: 1 at lines 2, 3)",
      "70.0, 72.0", "time_varying"], 1),
    (nonmem("nonmem_unsupported_evid.csv"), ["column 'EVID' has 1 unsupported", "got 4.0"], 1),
    (nonmem("nonmem_missing_dv.csv"), ["column 'DV' is missing on 1 observation row(s) at line 3",
                                       "MDV=1"], 1),
    (subjects("subjects_duplicate_conflict.csv"),
     ["column 'age' has conflicting values within 1 subject(s)", "50.2, 52.9"], 1),
    (subjects("subjects_bad_binary.csv", ascites={"type": "binary"}),
     ["column 'ascites' is declared binary", "line 3", "got 2.0"], 1),
    (subjects("subjects_unknown_level.csv"),
     ["column 'sex' has 1 value(s) outside the declared levels", "got 'x'"], 1),
    (subjects("subjects_unmapped_arm.csv"),
     ["column 'trt' has 1 value(s) not in the arm map at line 3", "got '3'", "known: 1, 2"], 1),
    (events("events_unknown_status.csv"),
     ["column 'status' has 1 status value(s) that are neither events", "got '9'"], 1),
    (events("events_negative_time.csv"), ["column 'time' has 1 negative value(s) at line 2"], 1),
    (events("empty.csv"), ["empty.csv: no rows; got an empty table"], 1),
    (observations("observations_nonnumeric.csv"),
     ["column 'bili' has 1 non-numeric value(s) at line 3", "got 'high'"], 1),
    (observations("observations_unknown_subject.csv") | {
        "subjects": {"path": str(BAD / "subjects_unknown_level.csv")}},
     ["observations: 1 subject id(s) not in the subjects table; got '7'"], 1),
    (fhir("fhir_not_bundle.json"), ["fhir_not_bundle.json: resourceType must be 'Bundle'; "
                                    "got 'Patient'"], 1),
    (fhir("fhir_bad_unit.json"), ["Observation/o1: valueQuantity unit 'mg/furlong'",
                                  "known units:"], 1),
    (fhir("fhir_unknown_patient.json"), ["fhir_unknown_patient.json: Observation/o"], 2),
    (observations("observations_nonnumeric.csv") | {"time_unit": "year"} | {
        "observations": {"path": str(BAD / "observations_nonnumeric.csv"), "time": "days",
                         "variables": {"bili": {"unit": "mg/dL"}}}},
     ["column 'days' (from data.observations.time) not found", "did you mean 'day'?"], 1),
    (observations("observations_nonnumeric.csv") | {
        "observations": {"path": str(BAD / "observations_nonnumeric.csv"), "time": "day",
                         "variables": {"bili": {"unit": "mg/furlong"}}}},
     ["column 'bili'", "unknown unit", "mg/furlong", "known units: s, min, h"], 2),
]


@pytest.mark.parametrize(("raw", "expected", "n"), CASES,
                         ids=[f"{i}-{c[1][0][:30]}" for i, c in enumerate(CASES)])
def test_bad_input_gives_one_line_data_error(raw: dict[str, Any], expected: list[str],
                                             n: int) -> None:
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig.from_dict(raw))
    problems = info.value.problems
    assert len(problems) == n, problems
    assert all("\n" not in p for p in problems)
    for text in expected:
        assert any(text in p for p in problems), (text, problems)


def test_fhir_problems_are_collected_and_named() -> None:
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig.from_dict(fhir("fhir_unknown_patient.json")))
    problems = info.value.problems
    assert any("Observation/o1: subject reference 'p9' is not a Patient" in p for p in problems)
    assert any("Observation/o2: no effectiveDateTime" in p for p in problems)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    raw = {"format": "tidy", "subjects": {"path": str(tmp_path / "nope.csv")}}
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        load_dataset(DataConfig.from_dict(raw))


def test_filter_that_removes_everything(tmp_path: Path) -> None:
    raw = subjects("subjects_unknown_level.csv")
    raw["subjects"]["filter"] = {"column": "trt", "in": [7]}
    with pytest.raises(DataError, match="no rows left after the filter; got 2 rows"):
        load_dataset(DataConfig.from_dict(raw))


def test_per_kg_nonmem_dose_needs_weight() -> None:
    raw = nonmem("nonmem_missing_dv.csv", amount_unit="mg/kg")
    raw["nonmem"]["path"] = str(BAD.parents[1].parent / "cohorts" / "theoph" / "theoph_nonmem.csv")
    with pytest.raises(DataError, match="weight_covariate: required for per-kg"):
        load_dataset(DataConfig.from_dict(raw))
