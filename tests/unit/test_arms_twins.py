"""The arms stage fed by real twin draws (``twins.virtual.sample_virtual_patients``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from twintrial.arms import simulate_trial_outcomes
from twintrial.arms_config import arms_from_list, endpoints_from_list, estimands_from_list
from twintrial.io import write_table
from twintrial.models import get_model
from twintrial.twins.virtual import sample_virtual_patients


def _posterior(n_draws: int = 40) -> xr.DataTree:
    rng = np.random.default_rng(0)
    shape = (2, n_draws)
    v = {"mu_intercept": rng.normal(0.4, 0.02, shape), "mu_slope": rng.normal(0.12, 0.01, shape),
         "mu_treatment_slope": np.zeros(shape), "omega_intercept": np.full(shape, 0.8),
         "omega_slope": np.full(shape, 0.15), "sigma_add": np.full(shape, 0.25),
         "mu_weibull_shape": np.full(shape, np.log(1.3)),
         "mu_weibull_scale": np.full(shape, np.log(7.0)), "mu_association": np.full(shape, 1.2)}
    ds = xr.Dataset({k: (("chain", "draw"), x) for k, x in v.items()},
                    coords={"chain": [0, 1], "draw": np.arange(n_draws)})
    return xr.DataTree.from_dict({"posterior": ds})


def test_twin_draws_flow_through_every_arm(tmp_path: Path) -> None:
    model = get_model("biomarker_progression", biomarker_center=0.4)
    cohort = pd.DataFrame({"vid": np.arange(2100, dtype=np.int64),
                           "age": np.linspace(30, 70, 2100)})
    virtual = sample_virtual_patients(_posterior(), cohort, model=model, seed=5)
    arms = arms_from_list([
        {"name": "placebo", "control": True, "dropout_rate": 0.05},
        {"name": "active", "dropout_rate": 0.05, "effects": [
            {"parameter": "slope", "size": {"dist": "lognormal", "median": 0.7, "sigma": 0.15}}]}])
    eps = endpoints_from_list([
        {"name": "dlogbili", "type": "continuous", "time": 2.0, "scale": "log"},
        {"name": "death", "type": "time_to_event", "horizon": 5.0}])
    ests = estimands_from_list([{"name": "bili", "endpoint": "dlogbili", "treatment": "active"},
                                {"name": "os", "endpoint": "death", "treatment": "active"}])
    out = [simulate_trial_outcomes(virtual, cohort, arms, eps, ests, model=model, seed=9,
                                   chunk_size=c) for c in (1024, 4096)]
    write_table(out[0], tmp_path / "a.parquet")
    write_table(out[1], tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    df = out[0]
    np.testing.assert_array_equal(df.draw.to_numpy()[::2], virtual["draw"])
    act, pla = df[df.arm == "active"], df[df.arm == "placebo"]
    effect = act.bili.mean() - pla.bili.mean()
    assert -0.12 < effect < -0.04  # 30% of a ~0.12/year slope over 2 years, paired noise
    assert act.os_event.mean() < pla.os_event.mean()
