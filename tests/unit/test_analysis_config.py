"""Unit tests of AnalysisConfig.from_dict."""

from __future__ import annotations

import pytest

from twintrial.analysis import AnalysisConfig
from twintrial.exceptions import ConfigError


def test_defaults_and_overrides():
    cfg = AnalysisConfig.from_dict({})
    assert cfg.alpha == 0.05 and cfg.tests["time_to_event"] == "logrank" and cfg.ties == "efron"
    cfg = AnalysisConfig.from_dict({"n_grid": [20, 40], "tests": {"binary": "logistic"},
                                    "subgroups": ["sex"]})
    assert cfg.n_grid == (20, 40) and cfg.tests["binary"] == "logistic"
    assert cfg.tests["continuous"] == "ancova" and cfg.subgroups == ("sex",)


def test_all_problems_are_collected():
    with pytest.raises(ConfigError) as info:
        AnalysisConfig.from_dict({"alpha": 1.5, "tests": {"binary": "cox"}, "ties": "exact",
                                  "n_grid": [], "colour": "red"})
    text = str(info.value)
    for key in ("analysis.alpha", "analysis.tests.binary", "analysis.ties", "analysis.n_grid",
                "analysis.colour"):
        assert key in text
    assert len(info.value.problems) == 5
