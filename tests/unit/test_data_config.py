"""The `data` config section: schema, cross-field checks, typed config."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from twintrial.config import load_config
from twintrial.data import DataConfig, load_dataset, semantic_problems
from twintrial.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[2]

PBC_DATA: dict[str, Any] = {
    "format": "tidy",
    "time_unit": "year",
    "subjects": {"path": "cohorts/pbc/pbc.csv", "filter": {"column": "trt", "in": [1, 2]},
                 "arm": {"column": "trt", "map": {1: "dpen", 2: "placebo"}},
                 "covariates": {"age": {"unit": "year"}, "sex": {"type": "categorical",
                                                                  "levels": ["m", "f"]},
                                "ascites": {"type": "binary"}, "bili": {"unit": "mg/dL"}}},
    "events": {"time_unit": "day", "event_values": [1, 2]},
    "observations": {"path": "cohorts/pbc/pbcseq.csv", "time": "day", "time_unit": "day",
                     "variables": {"bili": {"unit": "mg/dL"}, "albumin": {"unit": "g/dL"},
                                   "protime": {"unit": "s"}}},
}


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # config paths are relative to the working directory


def data_problems(data: dict[str, Any]) -> list[str]:
    """Problems that `load_config` reports for the data section (other sections ignored)."""
    try:
        load_config({"trial": {"name": "t", "seed": 1}, "data": data, "cohort": {}})
    except ConfigError as exc:
        return [p for p in exc.problems if p.startswith("config: data")]
    return []


def test_schema_is_valid_and_documented() -> None:
    text = resources.files("twintrial.schemas").joinpath("data.schema.yaml").read_text()
    doc = yaml.safe_load(text)
    jsonschema.Draft202012Validator.check_schema(doc)
    jsonschema.Draft202012Validator(doc).validate(PBC_DATA)
    missing = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict) and "description" not in sub and "$ref" not in sub:
                    missing.append(f"{path}.{key}")
            for key, sub in node.items():
                walk(sub, f"{path}.{key}")
        elif isinstance(node, list):
            for sub in node:
                walk(sub, path)

    walk(doc, "data")
    assert missing == []


def test_pbc_section_is_accepted_and_loads() -> None:
    assert data_problems(PBC_DATA) == []
    assert semantic_problems({"data": PBC_DATA}) == []
    ds = load_dataset(DataConfig.from_dict(PBC_DATA))
    assert len(ds.subjects) == 312 and int(ds.events["event"].sum()) == 144


def test_empty_data_section_is_allowed() -> None:
    assert data_problems({}) == []
    assert not DataConfig.from_dict({}).configured


@pytest.mark.parametrize(("patch", "expected"), [
    ({"subjects": {"path": "cohorts/pbc/nope.csv"}},
     "config: data.subjects.path: file not found: 'cohorts/pbc/nope.csv'"),
    ({"subjects": {"path": "cohorts/pbc/pbc.csv", "id": "ID"}},
     "config: data.subjects.id: column 'ID' not in cohorts/pbc/pbc.csv (did you mean 'id'?)"),
    ({"observations": {"path": "cohorts/pbc/pbcseq.csv", "time": "days",
                       "variables": {"bili": None}}},
     "config: data.observations.time: column 'days' not in cohorts/pbc/pbcseq.csv "
     "(did you mean 'day'?)"),
    ({"observations": {"path": "cohorts/pbc/pbcseq.csv", "time": "day",
                       "variables": {"bili": {"unit": "mg/dX"}}}},
     "config: data.observations.variables.bili.unit: unknown unit 'mg/dX'; known units: s, min"),
    ({"units": {"bili": "umol/L"}},
     "config: data.observations.variables.bili.unit: cannot convert 'mg/dL' to declared "
     "data.units 'umol/L'"),
    ({"units": {"age": "mg"}},
     "config: data.subjects.covariates.age.unit: cannot convert 'year' to declared data.units "
     "'mg' (cannot convert time to mass"),
    ({"events": {"event_values": [1, 2], "censored_values": [0, 2]}},
     "config: data.events.event_values: values ['2'] are also in censored_values"),
    ({"nonmem": {"path": "cohorts/theoph/theoph_nonmem.csv"}},
     "config: data.nonmem: given but data.format is 'tidy'"),
    ({"format": "fhir"}, "config: data.fhir: required when data.format is 'fhir'"),
    ({"subjects": {"path": "cohorts/pbc/pbc.csv", "covariats": {}}},
     "config: data.subjects.covariats: unknown key (did you mean 'covariates'?)"),
    ({"time_unit": "years"}, "config: data.time_unit: must be one of"),
    ({"subjects": {"path": "cohorts/pbc/pbc.csv",
                   "covariates": {"sex": {"type": "binary", "levels": ["m", "f"]}}}},
     "config: data.subjects.covariates.sex.levels: only for type categorical"),
    ({"subjects": {"path": "cohorts/pbc/pbc.csv", "filter": {"column": "trt", "op": "~"}}},
     "config: data.subjects.filter.op: must be one of '==', '!=', '<', '<=', '>', '>='; got '~'"),
    ({"subjects": {"path": "cohorts/pbc/pbc.csv", "filter": [{"column": "trt", "in": [1],
                                                              "op": ">", "value": 0}]}},
     "config: data.subjects.filter[0]: give exactly one of 'in', 'not_in' or 'op' with 'value'"),
])
def test_bad_data_config_names_the_key(patch: dict[str, Any], expected: str) -> None:
    data = copy.deepcopy(PBC_DATA)
    data.update(patch)
    problems = data_problems(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_nonmem_semantics() -> None:
    data = {"format": "nonmem", "nonmem": {"path": "cohorts/theoph/theoph_nonmem.csv",
                                           "columns": {"TIEM": "T"}, "amount_unit": "mg/kg",
                                           "weight_covariate": "wt",
                                           "dv": {"variable": "conc", "unit": "mg/L"}}}
    problems = data_problems(data)
    assert "config: data.nonmem.columns.TIEM: unknown NONMEM item (did you mean 'TIME'?)" in problems
    assert any(p.startswith("config: data.nonmem.weight_covariate: 'wt' is not a configured")
               for p in problems)


def test_typed_config_from_resolved_dict() -> None:
    cfg = DataConfig.from_dict(PBC_DATA)
    assert cfg.subjects is not None and cfg.events is not None
    assert cfg.events.path == "cohorts/pbc/pbc.csv"  # defaults to the subjects file
    assert cfg.subjects.arm is not None and cfg.subjects.arm.mapping == {"1": "dpen",
                                                                         "2": "placebo"}
    assert cfg.subjects.filters[0].isin == (1, 2)
    assert [c.name for c in cfg.subjects.covariates] == ["age", "sex", "ascites", "bili"]
    with pytest.raises(AttributeError):
        cfg.format = "nonmem"  # type: ignore[misc]


PBC_YAML = """
data:
  format: tidy
  time_unit: year                       # days / 365.25
  subjects:
    path: cohorts/pbc/pbc.csv           # 418 rows; 312 randomized
    id: id
    filter: {column: trt, in: [1, 2]}   # randomized patients only
    arm:
      column: trt                       # pbc.csv: 1 = D-penicillamine, 2 = placebo
      map: {1: dpen, 2: placebo}        # (pbcseq.csv codes trt 0/1: do not take the arm there)
    covariates:
      age: {unit: year}
      sex: {type: categorical, levels: [m, f]}
      ascites: {type: binary}
      hepato: {type: binary}
      spiders: {type: binary}
      edema: {type: continuous}         # 0, 0.5, 1
      bili: {unit: mg/dL}
      albumin: {unit: g/dL}
      protime: {unit: s}
      chol: {unit: mg/dL}
      alk_phos: {column: alk.phos, unit: U/L}
      platelet: {unit: 10^9/L}
      stage: {type: categorical, levels: [1, 2, 3, 4]}
  events:                               # path defaults to subjects.path
    time: time
    time_unit: day
    status: status                      # 0 censored, 1 transplant, 2 death
    event_values: [1, 2]
    censored_values: [0]
  observations:
    path: cohorts/pbc/pbcseq.csv        # 1945 visits of the 312 randomized patients
    id: id
    time: day
    time_unit: day
    layout: wide
    variables:
      bili: {unit: mg/dL}
      albumin: {unit: g/dL}
      protime: {unit: s}
"""

THEOPH_YAML = """
data:
  format: nonmem
  time_unit: h
  units: {amount: mg, conc: mg/L}
  nonmem:
    path: cohorts/theoph/theoph_nonmem.csv   # generated by cohorts/theoph/make_nonmem.py
    time_unit: h
    dv: {variable: conc, unit: mg/L}
    amount_unit: mg                          # AMT = Dose (mg/kg) x Wt (kg)
    route: oral
    covariates:
      wt: {column: WT, unit: kg}
"""


@pytest.mark.parametrize(("text", "n_subjects", "n_obs"), [(PBC_YAML, 312, 3 * 1945),
                                                           (THEOPH_YAML, 12, 132)])
def test_example_snippets_load(text: str, n_subjects: int, n_obs: int) -> None:
    data = yaml.safe_load(text)["data"]
    assert data_problems(data) == []
    ds = load_dataset(DataConfig.from_dict(data))
    assert len(ds.subjects) == n_subjects and len(ds.observations) == n_obs
