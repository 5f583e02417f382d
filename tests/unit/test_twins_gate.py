"""The convergence gate and the twins config section."""

from __future__ import annotations

from importlib import resources

import jsonschema
import pytest
import yaml

from twintrial.exceptions import ConvergenceError
from twintrial.twins.gate import check_convergence, gate_failures
from twintrial.twins_config import GateConfig, TwinsConfig, semantic_problems

GOOD = {"max_rhat": 1.003, "min_ess_bulk": 900.0, "min_ess_tail": 800.0, "divergences": 0,
        "n_chains": 4, "individual_max_rhat": 1.004,
        "worst": [{"parameter": "omega_V", "rhat": 1.003, "ess_bulk": 900.0, "ess_tail": 800.0}]}


def test_good_fit_passes_silently() -> None:
    assert check_convergence(GOOD, GateConfig()) == []


@pytest.mark.parametrize("change, phrase", [
    ({"max_rhat": 1.05}, "max R-hat 1.050 > 1.01"),
    ({"min_ess_bulk": 120.0}, "min bulk ESS 120 < 400"),
    ({"min_ess_tail": 50.0}, "min tail ESS 50 < 400"),
    ({"divergences": 3}, "3 divergent transition(s) > 0"),
    ({"individual_max_rhat": 1.2}, "per-patient max R-hat 1.200 > 1.01"),
    ({"max_rhat": float("inf")}, "max R-hat inf > 1.01"),
    ({"max_rhat": float("nan"), "n_chains": 1}, "R-hat not computable from 1 chain(s)"),
])
def test_each_threshold_is_enforced(change: dict, phrase: str) -> None:
    diag = {**GOOD, **change}
    assert any(phrase in f for f in gate_failures(diag, GateConfig()))
    with pytest.raises(ConvergenceError) as err:
        check_convergence(diag, GateConfig(), parameterization="centered")
    msg = str(err.value)
    assert phrase in msg and "omega_V" in msg and "Try:" in msg
    assert "allow_unconverged" in msg


def test_advice_names_the_fix() -> None:
    diag = {**GOOD, "divergences": 7}
    with pytest.raises(ConvergenceError, match=r"target_accept .*parameterization: noncentered"):
        check_convergence(diag, GateConfig(), parameterization="centered")


def test_allow_unconverged_turns_failure_into_visible_warning() -> None:
    warnings = check_convergence({**GOOD, "max_rhat": 1.3}, GateConfig(), allow_unconverged=True)
    assert len(warnings) == 1 and warnings[0].startswith("twins: UNCONVERGED")


def test_thresholds_come_from_config() -> None:
    lax = GateConfig(rhat_max=1.1, ess_bulk_min=100, ess_tail_min=100, max_divergences=5)
    assert check_convergence({**GOOD, "max_rhat": 1.05, "divergences": 4, "min_ess_bulk": 150},
                             lax) == []


def _schema() -> dict:
    text = resources.files("twintrial.schemas").joinpath("twins.schema.yaml").read_text()
    return yaml.safe_load(text)


def test_schema_every_key_documented_with_default() -> None:
    schema = _schema()

    def walk(node: dict, path: str) -> None:
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}.{key}"
            assert "default" in sub, f"{path}.{key}"
            if sub.get("type") == "object" and "properties" in sub:
                assert sub.get("additionalProperties") is False
                walk(sub, f"{path}.{key}")

    walk(schema, "twins")
    v = jsonschema.Draft202012Validator(schema)
    assert not list(v.iter_errors({}))
    assert list(v.iter_errors({"sampler": "stan"}))
    assert list(v.iter_errors({"gate": {"rhat": 1.1}}))
    assert list(v.iter_errors({"target_accept": 1.0}))


def test_config_from_dict_defaults_and_values() -> None:
    cfg = TwinsConfig.from_dict({})
    assert (cfg.sampler, cfg.chains, cfg.draws, cfg.tune) == ("nutpie", 4, 1000, 500)
    assert cfg.gate == GateConfig(1.01, 400, 400, 0) and cfg.allow_unconverged is False
    cfg = TwinsConfig.from_dict({"model": {"name": "biomarker_progression",
                                           "options": {"n_nodes": 9}},
                                 "gate": {"rhat_max": 1.02}, "fit_window": 2.0})
    assert cfg.model == "biomarker_progression" and cfg.model_options == {"n_nodes": 9}
    assert cfg.gate.rhat_max == 1.02 and cfg.fit_window == 2.0


def test_semantic_problems_catch_hopeless_settings() -> None:
    probs = semantic_problems({"twins": {"model": {"name": "pk_1cmt_oral"}, "chains": 1,
                                         "draws": 20}})
    assert any(p.startswith("twins.chains: R-hat needs at least 2 chains; got 1") for p in probs)
    assert any(p.startswith("twins.draws: chains x draws = 20") for p in probs)
    assert semantic_problems({"twins": {"chains": 1, "draws": 20, "allow_unconverged": True}}) == []
    probs = semantic_problems({"twins": {"model": {"name": "pk_1cmt_orl"}}})
    assert probs and probs[0].startswith("twins.model.name: unknown model; got 'pk_1cmt_orl'")


def test_backend_auto_takes_jax_when_installed_and_numba_otherwise(monkeypatch) -> None:
    import importlib.util

    from twintrial.exceptions import ConfigError
    from twintrial.twins.fit import resolve_backend

    assert TwinsConfig.from_dict({}).backend == "auto"
    assert TwinsConfig.from_dict({"backend": "numba"}).backend == "numba"
    assert resolve_backend("numba") == "numba"
    real = importlib.util.find_spec
    installed = real("jax") is not None
    assert resolve_backend("auto") == ("jax" if installed else "numba")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jax" else real(name, *a))
    assert resolve_backend("auto") == "numba"
    with pytest.raises(ConfigError, match=r"twins\.backend: 'jax' is not installed"):
        resolve_backend("jax")
    assert semantic_problems({"twins": {"backend": "jax"}}) == [
        "twins.backend: 'jax' is not installed; install it (pip install jax) or set backend: "
        "numba (or auto)."]
    with pytest.raises(ConfigError, match=r"twins\.backend: must be auto, jax or numba"):
        resolve_backend("cuda")


def _posterior(**arrays):
    import numpy as np
    import xarray as xr

    post = xr.Dataset({k: (("chain", "draw", *[f"{k}_dim_{i}" for i in range(np.ndim(v) - 2)]), v)
                       for k, v in arrays.items()})
    return xr.DataTree.from_dict({"posterior": post})


def test_diagnostics_skip_constant_entries_quietly_and_fail_a_varying_nan() -> None:
    import warnings

    import numpy as np

    from twintrial.twins.fit import compute_diagnostics

    rng = np.random.default_rng(0)
    mu = rng.normal(size=(4, 500))
    corr = np.stack([np.ones((4, 500)), rng.uniform(-1, 1, (4, 500))], axis=-1)  # unit diagonal
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the constant entry's 0/0 warns no more
        d = compute_diagnostics(_posterior(mu=mu, corr=corr))
    assert sorted(w["parameter"] for w in d["worst"]) == ["corr[1]", "mu"]  # corr[0] skipped
    assert 1.0 <= d["max_rhat"] < 1.01 and gate_failures(d, GateConfig()) == []
    bad = mu.copy()
    bad[2, 7] = np.nan  # a varying parameter with a non-finite draw: R-hat is not a number
    d = compute_diagnostics(_posterior(mu=bad, corr=corr))
    assert d["max_rhat"] == float("inf")
    assert "max R-hat inf > 1.01" in gate_failures(d, GateConfig())


def test_a_fixed_individual_parameter_does_not_fail_the_gate() -> None:
    import numpy as np
    import xarray as xr

    from twintrial.twins.fit import compute_diagnostics

    rng = np.random.default_rng(1)
    ind = np.stack([rng.normal(size=(4, 500, 3)), np.ones((4, 500, 3))], axis=-1)  # F fixed
    post = xr.Dataset(
        {"mu": (("chain", "draw"), rng.normal(size=(4, 500))),
         "individual": (("chain", "draw", "patient", "param"), ind)},
        coords={"patient": ["a", "b", "c"], "param": ["CL", "F"]})
    d = compute_diagnostics(xr.DataTree.from_dict({"posterior": post}))
    assert 1.0 <= d["individual_max_rhat"] < 1.01
    assert gate_failures(d, GateConfig()) == []
    ind[1, :, 0, 0] = 5.0  # one chain stuck: R-hat far above the threshold
    d = compute_diagnostics(xr.DataTree.from_dict({"posterior": post.assign(
        individual=(("chain", "draw", "patient", "param"), ind))}))
    assert d["individual_max_rhat"] > 1.5
    ind[1, 3, 1, 1] = np.nan  # a non-finite draw of a patient's parameter: not converged
    d = compute_diagnostics(xr.DataTree.from_dict({"posterior": post.assign(
        individual=(("chain", "draw", "patient", "param"), ind))}))
    assert d["individual_max_rhat"] == float("inf")
    assert "per-patient max R-hat inf > 1.01" in gate_failures(d, GateConfig())
