"""FHIR R4 adapter: the bundles built from real PBC / theophylline rows load like the tidy path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from twintrial.data import DataConfig, load_dataset
from twintrial.exceptions import DataError

ROOT = Path(__file__).resolve().parents[2]
FHIR = ROOT / "tests" / "data" / "fhir"


def pbc_fhir_config(**extra: Any) -> dict[str, Any]:
    return {"format": "fhir", "time_unit": "year",
            "fhir": {"path": str(FHIR / "pbc_bundle.json"), "patient_id": "identifier",
                     "identifier_system": "urn:twintrial:pbc:id",
                     "observations": [
                         {"code": "1975-2", "variable": "bili", "unit": "mg/dL",
                          "molar_mass": 584.66},
                         {"code": "1751-7", "variable": "albumin", "unit": "g/dL"},
                         {"code": "5902-2", "variable": "protime", "unit": "s"}],
                     "arm_map": {"D-penicillamine": "dpen", "placebo": "placebo"}, **extra}}


def tidy_pbc() -> Any:
    raw = {"format": "tidy", "time_unit": "year",
           "subjects": {"path": "cohorts/pbc/pbc.csv", "filter": {"column": "trt", "in": [1, 2]},
                        "arm": {"column": "trt", "map": {1: "dpen", 2: "placebo"}},
                        "covariates": {"age": {"unit": "year"}, "sex": {"type": "categorical"}}},
           "observations": {"path": "cohorts/pbc/pbcseq.csv", "time": "day", "time_unit": "day",
                            "variables": {"bili": {"unit": "mg/dL"}, "albumin": {"unit": "g/dL"},
                                          "protime": {"unit": "s"}}}}
    return load_dataset(DataConfig.from_dict(raw), base_dir=ROOT)


def test_fhir_bundle_equals_tidy_for_same_patients() -> None:
    fhir = load_dataset(DataConfig.from_dict(pbc_fhir_config()))
    tidy = tidy_pbc()
    assert fhir.ids == ["1", "2", "3", "4", "5"]
    expected = tidy.observations[tidy.observations["id"].isin(fhir.ids)].reset_index(drop=True)
    assert len(expected) == len(fhir.observations) == 84
    # patient 2's albumin came in g/L and patient 3's bilirubin in umol/L: converted back
    pd.testing.assert_frame_equal(fhir.observations, expected, check_exact=False, rtol=1e-7)
    subj = tidy.subjects.set_index("id").loc[fhir.ids]
    assert fhir.subjects["arm"].tolist() == subj["arm"].tolist()
    assert fhir.subjects["sex"].tolist() == subj["sex"].tolist()
    # age from birthDate (rounded to a day) or the age extension (patient 5)
    np.testing.assert_allclose(fhir.subjects["age"], subj["age"], atol=2 / 365.25)
    assert fhir.units == {"bili": "mg/dL", "albumin": "g/dL", "protime": "s", "age": "year"}


def test_fhir_fixed_anchor_shifts_times() -> None:
    fhir = load_dataset(DataConfig.from_dict(pbc_fhir_config(anchor="1974-12-01")))
    obs = fhir.observations
    # patient 1's first visit is on 1975-01-01: 31 days after the anchor
    first = obs[obs["id"] == "1"]["time"].min()
    assert first == pytest.approx(31 / 365.25)


def test_fhir_doses_from_medication_administration() -> None:
    raw = {"format": "fhir", "time_unit": "h",
           "fhir": {"path": str(FHIR / "theoph_bundle.json"), "age": None, "sex": None,
                    "observations": [{"code": "10378-8", "variable": "conc", "unit": "mg/L"}]}}
    ds = load_dataset(DataConfig.from_dict(raw))
    th = pd.read_csv(ROOT / "cohorts/theoph/pk_theoph.csv")
    th = th[th["Subject"].isin([1, 2, 3])]
    assert len(ds.observations) == len(th) == 33
    np.testing.assert_allclose(ds.observations["time"], th["Time"], atol=1 / 3600)
    np.testing.assert_allclose(ds.observations["value"], th["conc"])
    first = th.groupby("Subject").first()
    np.testing.assert_allclose(ds.doses["amount"], first["Dose"] * first["Wt"], atol=0.0051)
    assert ds.doses["time"].tolist() == [0.0, 0.0, 0.0]
    assert list(ds.subjects.columns) == ["id", "arm"]
    raw["fhir"]["patient_extensions"] = {"wt": {"url": "body-weight", "unit": "kg"}}
    ds = load_dataset(DataConfig.from_dict(raw))
    np.testing.assert_allclose(ds.subjects["wt"], first["Wt"])
    assert ds.units["wt"] == "kg"


def test_fhir_infusion_period_and_blq(tmp_path: Path) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "a", "gender": "male",
                      "birthDate": "1960-01-01"}},
        {"resource": {"resourceType": "MedicationAdministration", "id": "m", "status": "completed",
                      "subject": {"reference": "Patient/a"},
                      "effectivePeriod": {"start": "2020-01-01T10:00:00Z",
                                          "end": "2020-01-01T10:30:00Z"},
                      "dosage": {"dose": {"value": 0.5, "unit": "g"}}}},
        {"resource": {"resourceType": "Observation", "id": "o", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "X"}]},
                      "subject": {"reference": "Patient/a"},
                      "effectiveDateTime": "2020-01-01T12:00:00+01:00",
                      "valueQuantity": {"value": 50, "comparator": "<", "unit": "ng/mL"}}},
        {"resource": {"resourceType": "Observation", "id": "bad", "status": "entered-in-error",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "X"}]},
                      "subject": {"reference": "Patient/zzz"}}},
    ]}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    raw = {"format": "fhir", "time_unit": "min",
           "fhir": {"path": str(path), "observations": [{"code": "X", "variable": "c",
                                                         "unit": "mg/L"}]}}
    ds = load_dataset(DataConfig.from_dict(raw))
    assert ds.doses.iloc[0].to_dict() == {"id": "a", "time": 0.0, "amount": 500.0,
                                          "route": "infusion", "duration": 30.0}
    o = ds.observations.iloc[0]
    assert o["time"] == 60.0 and o["value"] == 0.05 and o["cens"] == 1  # 12:00+01:00 = 11:00Z
    assert ds.subjects["sex"].tolist() == ["m"]
    assert ds.subjects["age"].iloc[0] == pytest.approx(60.0, abs=0.01)


def test_fhir_unknown_identifier_system() -> None:
    with pytest.raises(DataError, match="no identifier with system 'urn:other'"):
        load_dataset(DataConfig.from_dict(pbc_fhir_config(identifier_system="urn:other")))
