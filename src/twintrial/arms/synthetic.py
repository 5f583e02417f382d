"""A synthetic population posterior for tests and benchmarks (no fitted twins needed).

:func:`synthetic_virtual_patients` draws ``n_draws`` population samples around the model's
typical values (``mu ~ N(typical, mu_sd)`` on the transformed scale), pairs each virtual patient
with one sample and draws log-normal/normal random effects, then builds the individual parameters
with :func:`twintrial.models.simulate.individual_parameters`: the same per-patient mapping that
:func:`twintrial.twins.virtual.sample_virtual_patients` returns for a real fit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from twintrial.models.base import Model, mu_name
from twintrial.models.simulate import individual_parameters
from twintrial.rng import generator


def synthetic_virtual_patients(model: Model, cohort: pd.DataFrame, *, n_draws: int = 100,
                               omega: float = 0.3, mu_sd: float = 0.05,
                               sigmas: Mapping[str, float] | None = None,
                               event: Mapping[str, float] | None = None,
                               seed: int) -> dict[str, np.ndarray]:
    """Per-patient ``vid``, ``draw``, parameters, event parameters and residual sigmas.

    ``sigmas`` default to 0.2 (additive) / 0.1 (proportional); ``event`` gives natural-scale
    event parameters (default: each parameter's typical value).
    """
    n = len(cohort)
    rng = generator(seed, "synthetic", "population")
    draw_mu = {p.name: p.to_transformed(p.typical) + mu_sd * rng.standard_normal(n_draws)
               for p in model.parameters}
    rng_p = generator(seed, "synthetic", "patients")
    draw = rng_p.integers(0, n_draws, n)
    pop = {mu_name(k): v[draw] for k, v in draw_mu.items()}
    for p in model.parameters:
        for c in p.covariates:
            if c.fixed is None:
                pop[f"beta_{p.name}_{c.covariate}"] = 0.0
    ev_vals = dict(event or {})
    if model.event is not None:
        for p in model.event.parameters:
            pop[p.name] = float(ev_vals.get(p.name, p.typical))
    eta = {p.name: omega * rng_p.standard_normal(n) for p in model.parameters if p.iiv is not None}
    params = individual_parameters(model, pop, cohort, eta if eta else None, n=n)
    out: dict[str, np.ndarray] = {
        "vid": (cohort["vid"].to_numpy(np.int64) if "vid" in cohort.columns
                else np.arange(n, dtype=np.int64)),
        "draw": draw.astype(np.int64)}
    out.update(params)
    default_sig = {"sigma_add": 0.2, "sigma_prop": 0.1}
    for k in model.residual.priors:
        out[k] = np.full(n, float((sigmas or {}).get(k, default_sig.get(k, 0.1))))
    return out
