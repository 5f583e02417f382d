"""The arms/endpoints/estimands sections: schema defaults, typed configs, cross-field checks."""

from __future__ import annotations

import copy

import pytest
import yaml

from twintrial.arms_config import (
    arms_from_list,
    endpoints_from_list,
    estimands_from_list,
    semantic_problems,
)
from twintrial.config import resolve
from twintrial.exceptions import ConfigError

PBC = yaml.safe_load("""
trial: {name: pbc_trial, seed: 20240601}
data: {}
cohort: {}
twins:
  model: {name: biomarker_progression, options: {biomarker_center: 0.6}}
arms:
  - {name: placebo, control: true, dropout_rate: 0.05}
  - name: active
    effects:
      - {parameter: slope, type: multiplier, size: {dist: lognormal, median: 0.7, sigma: 0.15}}
    dropout_rate: 0.05
    rescue: {threshold: 10.0, visit_interval: 0.5}
endpoints:
  - {name: dlogbili_2y, type: continuous, time: 2.0, scale: log, change_from_baseline: true,
     visit_interval: 0.5}
  - {name: responder_2y, type: responder, time: 2.0, scale: log, threshold: 0.0, direction: below}
  - {name: death_or_tx_5y, type: time_to_event, horizon: 5.0}
analysis:
  estimands:
    - {name: bili_tp, endpoint: dlogbili_2y, treatment: active, intercurrent: treatment_policy}
    - {name: bili_hyp, endpoint: dlogbili_2y, treatment: active, intercurrent: hypothetical}
    - {name: resp_comp, endpoint: responder_2y, treatment: active, intercurrent: composite}
    - {name: os_tp, endpoint: death_or_tx_5y, treatment: active, population: "age >= 40"}
""")

THEO = yaml.safe_load("""
trial: {name: theo_trial, seed: 11}
data: {}
cohort: {}
twins: {model: {name: pk_1cmt_oral}}
arms:
  - {name: placebo, control: true}
  - {name: q12h_300mg, regimen: {dose: 300, unit: mg, interval: 12, n_doses: 14}, adherence: 0.9}
  - name: q12h_4mgkg
    regimen: {dose: 4, unit: mg/kg, per_kg_covariate: wt, interval: 12, n_doses: 14}
  - name: titrated
    regimen:
      dose: 200
      interval: 12
      n_doses: 14
      titration: [{from_dose: 5, dose: 300}, {from_dose: 9, dose: 400}]
    dropout_rate: 0.002
endpoints:
  - {name: ctrough_d7, type: continuous, time: 156, change_from_baseline: false}
  - {name: in_range, type: responder, time: 156, change_from_baseline: false, threshold: 10,
     direction: above}
analysis:
  estimands:
    - {name: ctrough, endpoint: ctrough_d7, treatment: q12h_300mg, intercurrent: hypothetical}
    - {name: target, endpoint: in_range, treatment: titrated, intercurrent: composite}
""")


@pytest.mark.parametrize("raw", [PBC, THEO], ids=["pbc", "theophylline"])
def test_examples_validate_and_build(raw) -> None:
    data = resolve(copy.deepcopy(raw))
    arms = arms_from_list(data["arms"])
    eps = endpoints_from_list(data["endpoints"])
    ests = estimands_from_list(data["analysis"]["estimands"])
    assert sum(a.control for a in arms) == 1
    assert all(a.allocation == 1.0 for a in arms)
    assert {e.name for e in eps} >= {s.endpoint for s in ests}


def test_pbc_typed_values() -> None:
    data = resolve(copy.deepcopy(PBC))
    arm = arms_from_list(data["arms"])[1]
    assert arm.effects[0].size.dist == "lognormal" and arm.effects[0].size.median() == 0.7
    assert arm.rescue is not None and arm.rescue.visit_interval == 0.5
    assert endpoints_from_list(data["endpoints"])[0].visits().tolist() == [0, 0.5, 1, 1.5, 2]
    theo = arms_from_list(resolve(copy.deepcopy(THEO))["arms"])
    assert theo[2].regimen is not None and theo[2].regimen.per_kg


def _bad(raw: dict, **edits) -> list[str]:
    raw = copy.deepcopy(raw)
    for path, value in edits.items():
        node = raw
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return semantic_problems(raw)


def test_examples_have_no_semantic_problems() -> None:
    assert semantic_problems(PBC) == []
    assert semantic_problems(THEO) == []


@pytest.mark.parametrize(("edits", "where"), [
    ({"arms__0__control": False}, "arms: exactly one"),
    ({"arms__1__name": "placebo"}, "arms[1].name: duplicate"),
    ({"arms__1__effects__0__parameter": "slop"}, "arms[1].effects[0].parameter"),
    ({"arms__1__regimen": {"dose": 10}}, "arms[1].regimen"),
    ({"analysis__estimands__0__endpoint": "nope"}, "analysis.estimands[0].endpoint"),
    ({"analysis__estimands__0__treatment": "placebo"}, "analysis.estimands[0].treatment"),
    ({"analysis__estimands__0__treatment": "x"}, "analysis.estimands[0].treatment"),
    ({"analysis__estimands__0__intercurrent": "composite"}, "analysis.estimands[0].intercurrent"),
    ({"analysis__estimands__3__population": "age >>= 3"}, "analysis.estimands[3].population"),
    ({"endpoints__0__time": 7.0}, "endpoints[0].time"),
    ({"endpoints__1__threshold": None}, "endpoints[1].threshold"),
    ({"endpoints__2__horizon": None}, "endpoints[2].horizon"),
    ({"arms__1__effects__0__size": {"dist": "normal", "mean": 1.0}}, "arms[1].effects[0].size"),
])
def test_pbc_semantic_problems_name_the_key(edits, where) -> None:
    problems = _bad(PBC, **edits)
    assert any(p.startswith(where) for p in problems), problems


def test_pk_model_rejects_effects_and_time_to_event() -> None:
    problems = _bad(THEO, arms__1__effects=[{"parameter": "CL", "size": 0.8}])
    assert any(p.startswith("arms[1].effects") for p in problems)
    raw = copy.deepcopy(THEO)
    raw["endpoints"].append({"name": "tte", "type": "time_to_event", "horizon": 100})
    assert any(p.startswith("endpoints[2].type") for p in semantic_problems(raw))
    assert any(p.startswith("arms[3].regimen.titration[1].from_dose")
               for p in _bad(THEO, arms__3__regimen__titration__1__from_dose=20))


def test_loader_reports_semantic_problems() -> None:
    raw = copy.deepcopy(PBC)
    raw["arms"][0]["control"] = False
    with pytest.raises(ConfigError, match="exactly one arm"):
        resolve(raw)
    raw = copy.deepcopy(PBC)
    raw["arms"][1]["rescue"] = {"threshold": 3.0}
    with pytest.raises(ConfigError, match="visit_interval"):
        resolve(raw)
