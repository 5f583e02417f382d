"""Unit tests of AnalysisConfig.from_dict (keys of schemas/analysis.schema.yaml)."""

from __future__ import annotations

import dataclasses

import pytest

from twintrial.analysis import AnalysisConfig
from twintrial.exceptions import ConfigError
from twintrial.schemas import __file__ as schemas_init


def test_defaults_match_the_schema():
    import pathlib

    import yaml

    schema = yaml.safe_load((pathlib.Path(schemas_init).parent / "analysis.schema.yaml")
                            .read_text())
    cfg = AnalysisConfig.from_dict({})
    props = schema["properties"]
    assert list(cfg.n_per_arm) == props["n_per_arm"]["default"]
    assert cfg.replicates == props["replicates"]["default"]
    assert cfg.alpha == props["alpha"]["default"] and cfg.ci_prob == props["ci_prob"]["default"]
    assert cfg.procova is props["procova"]["default"]
    assert cfg.tests["time_to_event"] == "logrank" and cfg.ties == "efron"


def test_overrides_and_typed_entries():
    cfg = AnalysisConfig.from_dict({
        "n_per_arm": [20, 40], "replicates": 200, "procova": False,
        "subgroups": [{"name": "women", "where": "sex == 'f'"}],
        "estimands": [{"name": "e", "endpoint": "y", "treatment": "active"}]})
    assert cfg.n_per_arm == (20, 40) and cfg.replicates == 200 and cfg.procova is False
    assert cfg.subgroups[0].name == "women" and cfg.subgroups[0].where == "sex == 'f'"
    assert cfg.estimands[0].intercurrent == "treatment_policy"


def test_all_problems_are_collected():
    with pytest.raises(ConfigError) as info:
        AnalysisConfig.from_dict({"alpha": 1.5, "replicates": 3, "n_per_arm": [],
                                  "subgroups": [{"name": "x"}], "colour": "red"})
    text = str(info.value)
    for key in ("analysis.alpha", "analysis.replicates", "analysis.n_per_arm",
                "analysis.subgroups[0]", "analysis.colour"):
        assert key in text
    assert len(info.value.problems) == 5


def test_python_only_options_are_checked():
    cfg = dataclasses.replace(AnalysisConfig(), tests={"binary": "cox"}, ties="exact")
    with pytest.raises(ConfigError) as info:
        cfg.check()
    assert "analysis.tests.binary" in str(info.value) and "analysis.ties" in str(info.value)
