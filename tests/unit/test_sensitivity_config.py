"""The sensitivity config: schema, defaults, and one clear line per problem naming its key path."""

from __future__ import annotations

from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from twintrial import config as config_mod
from twintrial.exceptions import ConfigError
from twintrial.sensitivity_config import DEFAULTS, SensitivityConfig, semantic_problems

SCHEMA = yaml.safe_load(resources.files("twintrial.schemas")
                        .joinpath("sensitivity.schema.yaml").read_text(encoding="utf-8"))


def _inp(name: str = "slope", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "model", "target": f"model.{name}", "low": 0.0, "high": 1.0,
            **kw}


def _section(**kw: Any) -> dict[str, Any]:
    return {"inputs": [_inp("slope"), _inp("effect", kind="treatment",
                                            target="arms.treatment.effect")],
            "outputs": [{"name": "power", "quantity": "power"}], **kw}


def _schema_problems(section: dict[str, Any]) -> list[str]:
    """Validate the section alone, with the config loader's registry and message format."""
    top = {"type": "object", "properties": {"sensitivity": {"$ref": "sensitivity.schema.yaml"}}}
    validator = jsonschema.Draft202012Validator(top, registry=config_mod._registry())
    out: list[str] = []
    for err in validator.iter_errors({"sensitivity": section}):
        out.extend(config_mod._format_error(err).splitlines())
    return out


def _all_problems(section: dict[str, Any]) -> list[str]:
    return _schema_problems(section) or semantic_problems({"sensitivity": section})


def _walk(node: Any, path: str = "") -> list[str]:
    """Paths of schema properties lacking a description."""
    missing: list[str] = []
    if isinstance(node, dict):
        for key, sub in node.get("properties", {}).items():
            if isinstance(sub, dict) and "$ref" not in sub and "description" not in sub:
                missing.append(f"{path}.{key}")
            missing += _walk(sub, f"{path}.{key}")
        for key, sub in node.get("$defs", {}).items():
            missing += _walk(sub, f"{path}.$defs.{key}")
    return missing


def test_schema_every_key_described_and_closed() -> None:
    assert _walk(SCHEMA) == []
    assert SCHEMA["additionalProperties"] is False
    for sub in ("sobol", "morris", "convergence"):
        assert SCHEMA["properties"][sub]["additionalProperties"] is False
    for d in ("input", "output"):
        assert SCHEMA["$defs"][d]["additionalProperties"] is False


def test_schema_defaults_match_dataclass_defaults() -> None:
    props = SCHEMA["properties"]
    assert props["method"]["default"] == DEFAULTS["method"]
    assert props["batch_size"]["default"] == DEFAULTS["batch_size"]
    for sub in ("sobol", "morris", "convergence"):
        schema_defaults = {k: v["default"] for k, v in props[sub]["properties"].items()}
        assert schema_defaults == DEFAULTS[sub], sub
    assert props["sobol"]["properties"]["calc_second_order"]["default"] is True  # pinned
    cfg = SensitivityConfig.from_dict(_section())
    assert cfg.sobol.n_base_samples == 1024 and cfg.sobol.calc_second_order is True
    assert cfg.morris.levels == 4 and cfg.convergence_tolerance == 0.05


def test_valid_section_has_no_problems_and_types() -> None:
    sec = _section(method="sobol", morris={"trajectories": 20, "levels": 6})
    sec["inputs"] += [
        {"name": "dropout", "kind": "operational", "target": "operational.dropout_rate",
         "dist": "truncnormal", "low": 0.0, "high": 0.5, "mean": 0.15, "sd": 0.05},
        {"name": "k", "kind": "model", "target": "model.k", "dist": "lognormal",
         "log_mean": -1.0, "log_sd": 0.3},
        {"name": "n", "kind": "design", "target": "design.n_per_arm", "low": 100, "high": 300,
         "integer": True},
        {"name": "bili", "kind": "cohort", "target": "cohort.shift.bili", "dist": "triangular",
         "low": -0.5, "mode": 0.0, "high": 0.5},
    ]
    assert _all_problems(sec) == []
    cfg = SensitivityConfig.from_dict(sec)
    assert cfg.method == "sobol" and cfg.morris.levels == 6
    assert cfg.input_names == ["slope", "effect", "dropout", "k", "n", "bili"]
    assert cfg.inputs[4].integer and cfg.inputs[2].sd == 0.05


def test_non_power_of_two_one_line_citing_salib() -> None:
    problems = _all_problems(_section(sobol={"n_base_samples": 1000}))
    assert len(problems) == 1
    line = problems[0]
    assert line.startswith("sensitivity.sobol.n_base_samples: must be a power of 2")
    assert "Ideally a power of 2" in line and "got 1000" in line and "Use 512 or 1024" in line
    with pytest.raises(ConfigError, match=r"sensitivity\.sobol\.n_base_samples"):
        SensitivityConfig.from_dict(_section(sobol={"n_base_samples": 1000}))


def test_low_not_below_high_one_line() -> None:
    sec = _section()
    sec["inputs"][1]["low"] = 2.0
    problems = _all_problems(sec)
    assert problems == ["sensitivity.inputs[1].high: must be > low (2.0); got 1.0. "
                        "Give bounds with low < high."]


def test_unknown_dist_one_line() -> None:
    sec = _section()
    sec["inputs"][0]["dist"] = "gamma"
    problems = _schema_problems(sec)
    assert len(problems) == 1
    assert problems[0].startswith("sensitivity.inputs[0].dist: must be one of 'uniform'")
    assert problems[0].endswith("got 'gamma'")
    # the Python path names the same key, in one line
    with pytest.raises(ConfigError, match=r"^sensitivity\.inputs\[0\]\.dist: 'gamma' is not one"):
        SensitivityConfig.from_dict(sec)
    assert semantic_problems({"sensitivity": sec}) == [
        "sensitivity.inputs[0].dist: unknown distribution; got 'gamma'. Use one of uniform, "
        "loguniform, normal, truncnormal, lognormal, triangular."]


def test_missing_distribution_field_named_by_schema() -> None:
    sec = _section()
    sec["inputs"][0] = {"name": "slope", "kind": "model", "target": "model.slope",
                        "dist": "normal", "mean": 1.0}
    assert _schema_problems(sec) == ["sensitivity.inputs[0].sd: required key is missing"]


def test_unused_field_and_duplicates_and_triangular_mode() -> None:
    sec = _section()
    sec["inputs"][0]["mean"] = 3.0
    sec["inputs"].append({"name": "effect", "kind": "treatment", "target": "model.slope",
                          "dist": "triangular", "low": 0.0, "mode": 1.0, "high": 1.0})
    sec["outputs"].append({"name": "power", "quantity": "power"})
    problems = _all_problems(sec)
    text = "\n".join(problems)
    assert "sensitivity.inputs[0].mean: not used by dist 'uniform'" in text
    assert "sensitivity.inputs[2].name: duplicate of inputs[1]" in text
    assert "sensitivity.inputs[2].target: perturbed twice" in text
    assert "sensitivity.inputs[2].mode: must satisfy low <= mode < high" in text
    assert "sensitivity.outputs[1].name: duplicate of outputs[0]" in text
    assert all("\n" not in p and p.startswith("sensitivity.") for p in problems)


def test_other_semantic_rules() -> None:
    sec = _section(morris={"levels": 5})
    sec["inputs"][0].update(dist="loguniform", low=0.0)
    sec["inputs"][1]["integer"] = True
    sec["inputs"][1].update(dist="normal", mean=0.0, sd=1.0)
    del sec["inputs"][1]["low"], sec["inputs"][1]["high"]
    text = "\n".join(_all_problems(sec))
    assert "sensitivity.morris.levels: must be even" in text
    assert "sensitivity.inputs[0].low: must be > 0 for dist 'loguniform'" in text
    assert "sensitivity.inputs[1].integer: only supported with dist 'uniform'" in text
    assert semantic_problems({"sensitivity": {"inputs": [_inp()]}}) == [
        "sensitivity.outputs: at least one output is needed when inputs are given; got none. "
        "Add e.g. {name: power, quantity: power}."]
    assert semantic_problems({}) == []
    with pytest.raises(ConfigError, match=r"sensitivity\.inputs: at least one input"):
        SensitivityConfig.from_dict({"outputs": [{"name": "p", "quantity": "power"}]})


def test_through_config_loader() -> None:
    raw = {"trial": {"name": "t1", "seed": 7}, "data": {}, "cohort": {},
           "sensitivity": _section(sobol={"n_base_samples": 100})}
    with pytest.raises(ConfigError) as info:
        config_mod.resolve(raw, source="c.yaml")
    mine = [p for p in info.value.problems if "sensitivity" in p]
    if not mine:
        pytest.skip("other sections now fail schema validation first")
    assert mine == [p for p in info.value.problems if p.startswith("c.yaml: sensitivity.sobol")]
    raw["sensitivity"]["sobol"]["n_base_samples"] = 128
    try:
        resolved = config_mod.resolve(raw)
    except ConfigError as exc:
        assert not [p for p in exc.problems if "sensitivity" in p]
        pytest.skip("other sections need keys this minimal config lacks")
    sec = resolved["sensitivity"]
    assert sec["sobol"]["calc_second_order"] is True and sec["inputs"][0]["dist"] == "uniform"
    assert SensitivityConfig.from_dict(sec).sobol.n_base_samples == 128


def test_morris_rejects_unbounded_distributions() -> None:
    sec = _section(method="morris")
    sec["inputs"][1] = {"name": "effect", "kind": "treatment", "target": "arms.treatment.effect",
                        "dist": "normal", "mean": 0.3, "sd": 0.1}
    problems = _all_problems(sec)
    assert len(problems) == 1
    assert problems[0].startswith("sensitivity.inputs[1].dist: 'normal' is unbounded")
    sec["method"] = "sobol"
    assert _all_problems(sec) == []


def test_from_dict_applies_the_schema_too() -> None:
    sec = _section()
    del sec["inputs"][0]["kind"]
    sec["sobol"] = {"n_base_sample": 1024}
    with pytest.raises(ConfigError) as info:
        SensitivityConfig.from_dict(sec)
    text = str(info.value)
    assert "sensitivity.inputs[0]: 'kind' is a required property" in text
    assert "sensitivity.sobol: Additional properties are not allowed ('n_base_sample'" in text
