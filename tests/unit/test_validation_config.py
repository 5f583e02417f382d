"""The validation config: schema defaults, typed config, one clear line per problem."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from twintrial import config as config_mod
from twintrial.exceptions import ConfigError
from twintrial.validation_config import ValidationConfig, semantic_problems

SCHEMA = yaml.safe_load(resources.files("twintrial.schemas")
                        .joinpath("validation.schema.yaml").read_text(encoding="utf-8"))

EXAMPLE = """
split: {kind: time, cutoff: {value: 2, unit: year}}
interval_levels: [0.5, 0.8, 0.9, 0.95]
time_unit: day
time_bands: [0, 365, 730, 1460]
landmarks: [365, 1095, 1825]
trial_replication:
  enabled: true
  observed: published
  published:
    citation: "Dickson ER et al. N Engl J Med 1985;312:1011-5"
    hr: 1.06
    hr_ci: [0.75, 1.50]
    arms:
      - {arm: placebo, survival: [{time: 1825, value: 0.71, ci: [0.63, 0.79]}]}
credibility:
  question: Does D-penicillamine prolong survival in PBC?
  context_of_use: Simulated control arm supplementing a 2:1 randomized trial.
  model_influence: medium
  decision_consequence: high
  targets: {output_comparison: 3, bench_test_validation: 0}
thresholds: {coverage_tolerance: 0.04}
"""


def resolved(section: dict[str, Any]) -> dict[str, Any]:
    """Validate the section alone with the loader's registry and fill the schema defaults."""
    top = {"type": "object", "properties": {"validation": {"$ref": "validation.schema.yaml"}}}
    validator = jsonschema.Draft202012Validator(top, registry=config_mod._registry())
    problems = [line for err in validator.iter_errors({"validation": section})
                for line in config_mod._format_error(err).splitlines()]
    if problems:
        raise ConfigError(problems)
    data = copy.deepcopy(section)
    config_mod._fill_defaults(data, SCHEMA, "validation.schema.yaml")
    return data


def every_key_documented(node: dict[str, Any], path: str = "validation") -> list[str]:
    out = []
    for key, sub in node.get("properties", {}).items():
        if "description" not in sub:
            out.append(f"{path}.{key}")
        out += every_key_documented(sub, f"{path}.{key}")
        if isinstance(sub.get("items"), dict):
            out += every_key_documented(sub["items"], f"{path}.{key}[]")
    return out


def test_schema_is_closed_and_documented():
    assert SCHEMA["additionalProperties"] is False
    assert every_key_documented(SCHEMA) == []
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_defaults():
    cfg = ValidationConfig.from_dict(resolved({}))
    assert cfg.interval_levels == (0.5, 0.8, 0.9, 0.95)
    assert cfg.split.kind == "subjects" and cfg.split.k == 5 and cfg.split.holdout_fraction is None
    assert cfg.credibility.model_influence == "medium" and cfg.credibility.targets == {}
    assert cfg.thresholds.min_test_subjects == (10, 30, 100)
    assert cfg.survival.c_index == "uno" and cfg.vpc.prediction_corrected == "auto"
    # dataclass defaults equal the schema defaults (the published block is filled with nulls)
    assert cfg.trial_replication.published["arms"] == []
    bare = replace(cfg, trial_replication=replace(cfg.trial_replication, published={}))
    assert ValidationConfig() == bare


def test_example_parses():
    cfg = ValidationConfig.from_dict(resolved(yaml.safe_load(EXAMPLE)))
    assert (cfg.split.cutoff, cfg.split.cutoff_unit) == (2.0, "year")
    assert cfg.landmarks == (365.0, 1095.0, 1825.0)
    assert cfg.trial_replication.published["hr_ci"] == [0.75, 1.5]
    assert cfg.credibility.targets == {"output_comparison": 3, "bench_test_validation": 0}
    assert cfg.thresholds.coverage_tolerance == 0.04


def test_schema_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"validation.split.kind: must be one of"):
        resolved({"split": {"kind": "random"}})
    with pytest.raises(ConfigError, match=r"validation.intervl_levels: unknown key \(did you mean"):
        resolved({"intervl_levels": [0.9]})
    with pytest.raises(ConfigError, match=r"validation.credibility.model_influence"):
        resolved({"credibility": {"model_influence": "huge"}})


@pytest.mark.parametrize(("section", "match"), [
    ({"interval_levels": [0.9, 0.5]}, r"validation.interval_levels: must be strictly increasing"),
    ({"time_bands": [0]}, r"validation.time_bands: needs at least 2"),
    ({"landmarks": [5, 5]}, r"validation.landmarks: must be strictly increasing"),
    ({"split": {"kind": "time"}}, r"validation.split.cutoff: required when split.kind is 'time'"),
    ({"trial_replication": {"enabled": True}}, r"validation.trial_replication.control: required"),
    ({"trial_replication": {"enabled": True, "observed": "published", "published": {"hr": 1.2}}},
     r"published.citation: required"),
    ({"trial_replication": {"enabled": True, "observed": "published",
                            "published": {"citation": "x", "hr": 2.0, "hr_ci": [0.5, 1.5]}}},
     r"published.hr_ci: the estimate 2.0 lies outside its interval"),
    ({"credibility": {"targets": {"output_comparisn": 2}}},
     r"validation.credibility.targets.output_comparisn: unknown credibility factor \(did you mean "
     r"'output_comparison'\?\)"),
    ({"thresholds": {"min_test_subjects": [30, 10, 100]}}, r"min_test_subjects: must be non-decreasing"),
])
def test_semantic_problems(section, match):
    problems = semantic_problems({"validation": resolved(section)})
    assert any(re.search(match, p) for p in problems), problems
    with pytest.raises(ConfigError, match=match):
        ValidationConfig.from_dict(resolved(section))


def test_loader_runs_the_semantic_check():
    assert "twintrial.validation_config" in config_mod.SEMANTIC_CHECK_MODULES
    problems = config_mod._semantic_problems({"validation": resolved({"landmarks": [2, 1]})})
    assert any(p.startswith("validation.landmarks") for p in problems)
