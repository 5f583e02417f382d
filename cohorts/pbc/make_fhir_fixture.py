"""Regenerate the FHIR R4 test bundles from real rows of the shipped data.

Run from the project root: ``python cohorts/pbc/make_fhir_fixture.py``. Writes

- ``tests/data/fhir/pbc_bundle.json``: PBC patients 1-5 (``pbc.csv`` demographics and arm,
  ``pbcseq.csv`` visits) with bilirubin (LOINC 1975-2), albumin (1751-7) and prothrombin time
  (5902-2) as Observations. To exercise the adapter's unit handling, patient 2's albumin is written
  in g/L and patient 3's bilirubin in umol/L (molar mass 584.66 g/mol); patient 5 uses time-offset
  extensions (days) and an age extension instead of dates;
- ``tests/data/fhir/theoph_bundle.json``: theophylline subjects 1-3 (``pk_theoph.csv``): one oral
  MedicationAdministration (Dose mg/kg x Wt kg, in mg) and the concentrations (LOINC 10378-8,
  theophylline mass/volume in serum or plasma) in mg/L, dated from a dose at 08:00.

Dates are synthetic (visit day d of patient i is 1975-01-01 + 37 i days + d days); values are the
real measurements.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
PBC_IDS = (1, 2, 3, 4, 5)
THEOPH_IDS = (1, 2, 3)
BILI_MOLAR_MASS = 584.66  # g/mol
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
EXT = "https://twintrial.example.org/fhir/StructureDefinition"
ARM_TEXT = {1: "D-penicillamine", 2: "placebo"}
PBC_CODES = {"bili": ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL"),
             "albumin": ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/dL"),
             "protime": ("5902-2", "Prothrombin time (PT)", "s")}


def _quantity(value: float, unit: str) -> dict:
    return {"value": round(float(value), 6), "unit": unit, "system": UCUM, "code": unit}


def _entry(resource: dict) -> dict:
    return {"fullUrl": f"urn:uuid:{resource['resourceType'].lower()}-{resource['id']}",
            "resource": resource}


def pbc_bundle(pbc: pd.DataFrame, pbcseq: pd.DataFrame) -> dict:
    """A collection Bundle for :data:`PBC_IDS`."""
    entries = []
    for i, pid in enumerate(PBC_IDS):
        base = pd.Timestamp("1975-01-01") + pd.Timedelta(days=37 * i)
        row = pbc.loc[pbc["id"] == pid].iloc[0]
        patient = {"resourceType": "Patient", "id": f"pbc-{pid}",
                   "identifier": [{"system": "urn:twintrial:pbc:id", "value": str(pid)}],
                   "gender": {"f": "female", "m": "male"}[row["sex"]]}
        offsets = pid == 5
        if offsets:
            patient["extension"] = [{"url": f"{EXT}/age",
                                     "valueAge": _quantity(row["age"], "a")}]
        else:
            birth = base - pd.Timedelta(days=round(float(row["age"]) * 365.25))
            patient["birthDate"] = birth.date().isoformat()
        entries.append(_entry(patient))
        entries.append(_entry({"resourceType": "ResearchSubject", "id": f"rs-{pid}",
                               "status": "on-study", "study": {"display": "Mayo PBC trial"},
                               "individual": {"reference": f"Patient/pbc-{pid}"},
                               "actualArm": ARM_TEXT[int(row["trt"])]}))
        for _, visit in pbcseq.loc[pbcseq["id"] == pid].iterrows():
            for var, (code, display, unit) in PBC_CODES.items():
                value = float(visit[var])
                if pd.isna(value):
                    continue
                if var == "albumin" and pid == 2:
                    value, unit = value * 10.0, "g/L"
                if var == "bili" and pid == 3:
                    value, unit = value * 10.0 * 1000.0 / BILI_MOLAR_MASS, "umol/L"
                obs = {"resourceType": "Observation", "id": f"{var}-{pid}-{int(visit['day'])}",
                       "status": "final",
                       "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                       "subject": {"reference": f"Patient/pbc-{pid}"},
                       "valueQuantity": _quantity(value, unit)}
                if offsets:
                    obs["extension"] = [{"url": f"{EXT}/time-offset",
                                         "valueQuantity": _quantity(visit["day"], "d")}]
                else:
                    day = base + pd.Timedelta(days=int(visit["day"]))
                    obs["effectiveDateTime"] = day.date().isoformat()
                entries.append(_entry(obs))
    return {"resourceType": "Bundle", "id": "pbc-fixture", "type": "collection", "entry": entries}


def theoph_bundle(theoph: pd.DataFrame) -> dict:
    """A collection Bundle for :data:`THEOPH_IDS` (dose at 08:00, samples at the real times)."""
    entries = []
    for i, sid in enumerate(THEOPH_IDS):
        grp = theoph.loc[theoph["Subject"] == sid]
        dose_time = pd.Timestamp("2001-03-05T08:00:00") + pd.Timedelta(days=i)
        entries.append(_entry({"resourceType": "Patient", "id": f"theoph-{sid}",
                               "extension": [{"url": f"{EXT}/body-weight",
                                              "valueQuantity": _quantity(grp["Wt"].iloc[0],
                                                                         "kg")}]}))
        mg = round(float(grp["Dose"].iloc[0]) * float(grp["Wt"].iloc[0]), 2)
        entries.append(_entry({"resourceType": "MedicationAdministration", "id": f"dose-{sid}",
                               "status": "completed",
                               "medicationCodeableConcept": {"text": "theophylline (oral)"},
                               "subject": {"reference": f"Patient/theoph-{sid}"},
                               "effectiveDateTime": dose_time.isoformat(),
                               "dosage": {"route": {"text": "oral"},
                                          "dose": _quantity(mg, "mg")}}))
        for j, (t, c) in enumerate(zip(grp["Time"], grp["conc"], strict=True)):
            when = dose_time + pd.Timedelta(seconds=round(float(t) * 3600))
            entries.append(_entry({
                "resourceType": "Observation", "id": f"conc-{sid}-{j}", "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "10378-8",
                                     "display": "Theophylline [Mass/volume] in Serum or Plasma"}]},
                "subject": {"reference": f"Patient/theoph-{sid}"},
                "effectiveDateTime": when.isoformat(), "valueQuantity": _quantity(c, "mg/L")}))
    return {"resourceType": "Bundle", "id": "theoph-fixture", "type": "collection",
            "entry": entries}


def main() -> None:
    """Write both bundles."""
    out = ROOT / "tests" / "data" / "fhir"
    out.mkdir(parents=True, exist_ok=True)
    pbc = pd.read_csv(ROOT / "cohorts" / "pbc" / "pbc.csv")
    pbcseq = pd.read_csv(ROOT / "cohorts" / "pbc" / "pbcseq.csv")
    theoph = pd.read_csv(ROOT / "cohorts" / "theoph" / "pk_theoph.csv")
    for name, bundle in (("pbc_bundle.json", pbc_bundle(pbc, pbcseq)),
                         ("theoph_bundle.json", theoph_bundle(theoph))):
        (out / name).write_text(json.dumps(bundle, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {out / name}: {len(bundle['entry'])} resources")


if __name__ == "__main__":
    main()
