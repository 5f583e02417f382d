"""Model registry, option parsing and the model contract's descriptions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twintrial.exceptions import ModelError
from twintrial.models import NUMPY, CovariateEffect, available_models, get_model


def test_available_models():
    assert available_models() == ["biomarker_progression", "pk_1cmt_oral"]


def test_unknown_model_lists_known_and_suggests():
    with pytest.raises(ModelError, match=r"got 'pk_1cmt_orl'.*biomarker_progression, pk_1cmt_oral"
                                         r".*Did you mean 'pk_1cmt_oral'"):
        get_model("pk_1cmt_orl")


def test_unknown_option_is_rejected():
    with pytest.raises(ModelError, match=r"\['n_nodez'\] not accepted by model 'biomarker_prog"):
        get_model("biomarker_progression", n_nodez=7)


def test_covariate_override_and_defaults():
    m = get_model("pk_1cmt_oral", covariates={"V": [], "ka": [{"covariate": "age", "center": 40,
                                                                "scale": 10}]})
    assert [c.covariate for c in m.parameter("CL").covariates] == ["wt"]  # default kept
    assert m.parameter("V").covariates == ()
    assert m.parameter("ka").covariates[0].fixed is None
    assert m.covariate_names == ("age", "wt")


@pytest.mark.parametrize(("spec", "match"), [
    ({"Vd": []}, r"covariates\.Vd: pk_1cmt_oral has no parameter 'Vd'"),
    ({"CL": [{"covariate": "wt", "form": "cubic"}]}, r"CL\[0\]\.form: must be linear, power"),
    ({"CL": [{"covariate": "wt", "form": "power", "center": 0}]}, r"needs a positive center"),
    ({"CL": [{"covariate": "wt", "scale": -1}]}, r"CL\[0\]\.scale: must be > 0"),
    ({"CL": [{"covariate": "wt", "centre": 70}]}, r"unknown key\(s\) \['centre'\]"),
    ({"CL": [{"covariate": "wt"}, {"covariate": "wt"}]}, r"\['wt'\] listed twice"),
    ({"CL": {"covariate": "wt"}}, r"covariates\.CL: must be a list"),
])
def test_bad_covariate_specs(spec, match):
    with pytest.raises(ModelError, match=match):
        get_model("pk_1cmt_oral", covariates=spec)


def test_covariate_effect_transforms():
    x = np.array([35.0, 70.0, 140.0])
    assert np.allclose(CovariateEffect("wt", "power", 70.0).transform(NUMPY, x), np.log(x / 70))
    assert np.allclose(CovariateEffect("wt", "linear", 70.0, 10.0).transform(NUMPY, x),
                       [-3.5, 0.0, 7.0])
    assert np.allclose(CovariateEffect("sex", "binary").transform(NUMPY, np.array([0.0, 1.0])),
                       [0.0, 1.0])
    with pytest.raises(ModelError, match="center is not resolved"):
        CovariateEffect("wt", "linear").transform(NUMPY, x)


def test_options_round_trip_and_json_description():
    for name, opts in [("pk_1cmt_oral", {"residual": "proportional", "typical": {"ka": 1.0}}),
                       ("biomarker_progression", {"biomarker_center": 0.6, "treatment_hazard": True,
                                                  "hazard_covariates": [{"covariate": "age",
                                                                         "center": 50}]})]:
        m = get_model(name, **opts)
        again = get_model(name, **json.loads(json.dumps(m.options)))
        assert again.describe() == m.describe()
        assert json.loads(json.dumps(m.describe()))["name"] == name
        assert m.citation and m.equations and m.observed_variable


def test_bad_scalar_options():
    with pytest.raises(ModelError, match="typical.ka: must be > 0"):
        get_model("pk_1cmt_oral", typical={"ka": -1})
    with pytest.raises(ModelError, match="residual: must be"):
        get_model("pk_1cmt_oral", residual="exponential")
    with pytest.raises(ModelError, match="iiv: unknown parameter"):
        get_model("pk_1cmt_oral", iiv=["F"])
    with pytest.raises(ModelError, match="n_nodes: must be in 3..64"):
        get_model("biomarker_progression", n_nodes=1)


def test_residual_priors_follow_kind():
    assert set(get_model("pk_1cmt_oral").residual.priors) == {"sigma_add", "sigma_prop"}
    assert set(get_model("pk_1cmt_oral", residual="additive").residual.priors) == {"sigma_add"}
    m = get_model("biomarker_progression", treatment_effect=False)
    assert m.parameter_names == ("intercept", "slope")
    assert m.random_effect_names == ("intercept", "slope") and m.correlated_random_effects


def test_model_option_problems_collects_errors():
    from twintrial.models import model_option_problems

    assert model_option_problems("pk_1cmt_oral", {}) == []
    assert model_option_problems("nope")[0].startswith("twins.model.name: unknown model")
    probs = model_option_problems("pk_1cmt_oral", {"covariates": {"Q": []}})
    assert probs == ["twins.model.options.covariates.Q: pk_1cmt_oral has no parameter 'Q'. "
                     "Use one of ['ka', 'CL', 'V']."]
