"""Fit the digital twins: sample the hierarchical model, compute diagnostics, apply the gate.

Backends (``twins.backend``, nutpie only): ``jax`` compiles the log density and its gradient with
XLA in seconds; ``numba`` compiles for 40 s to minutes (it dominated small fits: theophylline 42 s
of 45 s) and then evaluates each gradient faster. ``auto`` takes jax when it is installed.

Compile cache: PyTensor (and its numba cache) reads ``base_compiledir`` once, at import, so
:func:`configure_compile_cache` must run before anything imports ``pytensor``; the CLI and workflow
call it with ``compute.cache_dir``. It also points JAX's persistent compilation cache at
``<cache_dir>/jax``. :func:`fit_twins` calls it too (effective if PyTensor is not imported yet)
and records the directory actually used. The numba backend compiles without fastmath flags, so
the draws for a seed do not depend on whether the compile cache was cold or warm. Within one
process, numba-compiled models are reused
(``compiled.with_data``) whenever the model structure is the same; JAX models are compiled again
(seconds, and XLA's cache makes repeats cheaper) with the data frozen in.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from twintrial.data.dataset import Dataset
from twintrial.exceptions import ConfigError
from twintrial.models.base import Model
from twintrial.twins.engine import EngineData, build_pymc_model, prepare_data
from twintrial.twins.gate import check_convergence
from twintrial.twins.io import stamp_attrs
from twintrial.twins_config import TwinsConfig

#: sample_stats / population-level variables excluded from the population diagnostics
_INDIVIDUAL_VARS = ("z", "psi", "eta", "individual")


def configure_compile_cache(cache_dir: str | os.PathLike[str]) -> Path:
    """Point PyTensor's compile directory (C and numba caches) at ``<cache_dir>/pytensor``.

    JAX's persistent compilation cache goes to ``<cache_dir>/jax`` (set at any time).

    Returns the compile directory in effect: the requested one if PyTensor was not imported yet,
    otherwise the one PyTensor already uses (it cannot change after import).
    """
    jax_dir = Path(cache_dir).resolve() / "jax"
    jax_dir.mkdir(parents=True, exist_ok=True)
    if "jax" in sys.modules:
        import jax

        jax.config.update("jax_compilation_cache_dir", str(jax_dir))
    else:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(jax_dir)
    target = Path(cache_dir).resolve() / "pytensor"
    if "pytensor" in sys.modules:
        import pytensor

        return Path(pytensor.config.base_compiledir)
    target.mkdir(parents=True, exist_ok=True)
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
             if f and not f.startswith("base_compiledir=")]
    os.environ["PYTENSOR_FLAGS"] = ",".join([*flags, f"base_compiledir={target}"])
    return target


@dataclass
class TwinFit:
    """A fitted set of digital twins.

    Attributes
    ----------
    idata
        Posterior (``xarray.DataTree``: ``posterior``, ``sample_stats``, plus the groups added by
        :mod:`twintrial.twins.posterior`).
    diagnostics
        ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences``, ``worst`` parameters,
        ``gate_passed``, ``sampler``, ``wall_time_s``, ``compile_time_s``, ...
    data
        The arrays the model was built from.
    model
        The structural model.
    config
        The twins configuration used.
    warnings
        Lines that every downstream output and the report must show.
    """

    idata: xr.DataTree
    diagnostics: dict[str, Any]
    data: EngineData
    model: Model
    config: TwinsConfig
    warnings: list[str] = field(default_factory=list)

    @property
    def ids(self) -> tuple[str, ...]:
        """Patient ids in posterior order."""
        return self.data.ids


_COMPILED: dict[tuple[Any, ...], Any] = {}


def _data_updates(data: EngineData) -> dict[str, np.ndarray]:
    upd: dict[str, np.ndarray] = {f"x_{k}": v for k, v in data.regressors.items()}
    upd.update({f"d_{k}": v for k, v in data.design.items()})
    if len(data.obs_y):
        upd.update(obs_patient=data.obs_patient, obs_time=data.obs_time, obs_y=data.obs_y)
        if data.obs_cens.any():
            upd["obs_cens"] = data.obs_cens.astype(np.int8)
    if data.event_time is not None:
        upd.update(event_time=data.event_time, event_flag=data.event_flag)
    return upd


def resolve_backend(backend: str) -> str:
    """The nutpie backend actually used for ``twins.backend`` (``auto``: jax if installed)."""
    if backend not in ("auto", "jax", "numba"):
        raise ConfigError(f"twins.backend: must be auto, jax or numba; got {backend!r}.")
    if backend != "auto":
        if backend == "jax" and importlib.util.find_spec("jax") is None:
            raise ConfigError("twins.backend: 'jax' is not installed; install it (pip install "
                              "jax) or set backend: numba.")
        return backend
    return "jax" if importlib.util.find_spec("jax") is not None else "numba"


def _sample_nutpie(data: EngineData, model: Model, cfg: TwinsConfig, seed: int,
                   cores: int | None) -> tuple[xr.DataTree, float]:
    import nutpie

    backend = resolve_backend(cfg.backend)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # PyTensor's C backend compiles only helpers here (PyMC's initial-point function);
        # the model's log density and gradient run in numba or JAX. Its "could not link to a
        # BLAS installation ... severely degraded" warning (pip installs) does not apply
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS",
                                category=UserWarning)
        compiled = _compile_nutpie(data, model, backend)
    compile_s = time.perf_counter() - t0
    n_cores = min(cfg.chains, cores or os.cpu_count() or 1)
    trace = nutpie.sample(compiled, draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                          cores=n_cores, seed=int(seed), target_accept=cfg.target_accept,
                          progress_bar=False, save_warmup=False)
    return trace, compile_s


def _compile_nutpie(data: EngineData, model: Model, backend: str) -> Any:
    import nutpie

    if backend == "jax":
        # JAX compiles in seconds: freeze the data into the function (static shapes, constants
        # folded: 12-20% cheaper gradient calls measured on 1000-patient PK and theophylline)
        compiled = nutpie.compile_pymc_model(build_pymc_model(data, model), backend="jax",
                                             gradient_backend="jax", freeze_model=True)
    else:
        import pytensor

        key = data.structure_key(model)
        compiled = _COMPILED.get(key)
        if compiled is None:
            # IEEE arithmetic: with PyTensor's default fastmath flags (contraction,
            # reassociation) LLVM may fuse operations differently when a function is compiled
            # afresh (callees inlined) than when it is loaded from the compile cache, and the
            # same seed gave other chains depending on the cache's state (PBC and theophylline
            # models). Sampling the PBC model is as fast without them (43 s both).
            with pytensor.config.change_flags(numba__fastmath=False):
                compiled = nutpie.compile_pymc_model(build_pymc_model(data, model),
                                                     backend="numba")
            _COMPILED.clear()  # keep one compiled model: memory stays bounded
            _COMPILED[key] = compiled
        else:
            compiled = compiled.with_data(**_data_updates(data))
    return compiled


def _sample_pymc(data: EngineData, model: Model, cfg: TwinsConfig, seed: int,
                 cores: int | None) -> tuple[xr.DataTree, float]:
    import pymc as pm

    pm_model = build_pymc_model(data, model)
    n_cores = min(cfg.chains, cores or os.cpu_count() or 1)
    with pm_model:
        # PyMC 6 pm.sample picks nutpie by default when installed: ask for PyMC's own NUTS
        trace = pm.sample(draws=cfg.draws, tune=cfg.tune, chains=cfg.chains, cores=n_cores,
                          target_accept=cfg.target_accept, random_seed=int(seed),
                          nuts_sampler="pymc", progressbar=False,
                          compute_convergence_checks=False)
    return trace, float("nan")


def compute_diagnostics(idata: xr.DataTree, *, n_worst: int = 5) -> dict[str, Any]:
    """Convergence diagnostics of a posterior.

    Population-level variables (everything except ``z``, ``psi``, ``eta``, ``individual``) are
    checked for rank-normalised split R-hat and bulk/tail ESS; per-patient parameters
    (``individual``) for R-hat and bulk ESS (reported separately).

    Returns
    -------
    dict
        ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences``, ``worst`` (list of
        ``{parameter, rhat, ess_bulk, ess_tail}`` sorted worst first), ``individual_max_rhat``,
        ``individual_min_ess_bulk``, ``n_chains``, ``n_draws``.
    """
    import arviz as az

    post = idata["posterior"].to_dataset()
    pop = [v for v in post.data_vars if v not in _INDIVIDUAL_VARS]
    n_chains, n_draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    rows: list[dict[str, Any]] = []
    if pop:
        sub = post[pop]
        # constant entries (skipped below) give 0/0 there; a varying one with a NaN R-hat fails
        with np.errstate(invalid="ignore", divide="ignore"):
            rhat = az.rhat(sub) if n_chains > 1 else sub.isel(chain=0, draw=0) * np.nan
            ess_b = az.ess(sub, method="bulk")
            ess_t = az.ess(sub, method="tail")
        for v in pop:
            r = np.atleast_1d(rhat[v].values).ravel()
            b = np.atleast_1d(ess_b[v].values).ravel()
            t = np.atleast_1d(ess_t[v].values).ravel()
            labels = _labels(post[v])
            constant = _constant(sub[v].values)  # e.g. the unit diagonal of corr_chol
            for j, lab in enumerate(labels):
                if constant[j]:
                    continue
                rows.append({"parameter": lab, "rhat": float(r[j]), "ess_bulk": float(b[j]),
                             "ess_tail": float(t[j])})
    div = 0
    if "sample_stats" in idata.children and "diverging" in idata["sample_stats"].data_vars:
        div = int(np.asarray(idata["sample_stats"]["diverging"].values).sum())
    out: dict[str, Any] = {"n_chains": n_chains, "n_draws": n_draws, "divergences": div}

    def worst_key(r: Mapping[str, Any]) -> float:
        rh = r["rhat"] if np.isfinite(r["rhat"]) else 10.0
        ess = min(r["ess_bulk"], r["ess_tail"])
        return max(rh - 1.0, 0.0) * 100 + 1.0 / max(ess if np.isfinite(ess) else 1.0, 1.0)

    rows.sort(key=worst_key, reverse=True)
    # a varying parameter whose R-hat is not a number (0/0: e.g. non-finite draws) counts as
    # unconverged (inf), never as the best of the others
    out["max_rhat"] = (_max_rhat(np.array([r["rhat"] for r in rows]))
                       if rows and n_chains > 1 else float("nan"))
    out["min_ess_bulk"] = float(min((r["ess_bulk"] for r in rows), default=float("nan")))
    out["min_ess_tail"] = float(min((r["ess_tail"] for r in rows), default=float("nan")))
    out["worst"] = rows[:n_worst]
    if "individual" in post.data_vars:
        ind = post[["individual"]]
        varying = ~_constant(ind["individual"].values)  # fixed parameters: 0/0, left out
        with np.errstate(invalid="ignore", divide="ignore"):
            out["individual_max_rhat"] = (
                _max_rhat(np.asarray(az.rhat(ind)["individual"].values).ravel()[varying])
                if n_chains > 1 else float("nan"))
            ess_i = az.ess(ind, method="bulk")["individual"]
        out["individual_min_ess_bulk"] = float(np.nanmin(ess_i.values))
        flat = ess_i.values.ravel()
        j = int(np.nanargmin(flat))
        pat, par = np.unravel_index(j, ess_i.shape)
        out["individual_worst"] = (f"individual[{ess_i['patient'].values[pat]}, "
                                   f"{ess_i['param'].values[par]}]")
    return out


def _constant(draws: Any) -> np.ndarray:
    """Which entries of a ``(chain, draw, ...)`` array take one value in every draw (flattened;
    an entry with a non-finite draw is not constant)."""
    draws = np.asarray(draws)
    return np.ptp(draws.reshape(draws.shape[0] * draws.shape[1], -1), axis=0) == 0


def _max_rhat(rhat: np.ndarray) -> float:
    """The largest R-hat, ``inf`` if any is not a number."""
    rhat = np.asarray(rhat, dtype=float).ravel()
    return float("inf") if np.isnan(rhat).any() else float(rhat.max(initial=-np.inf))


def _labels(da: xr.DataArray) -> list[str]:
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    if not dims:
        return [str(da.name)]
    grids = np.meshgrid(*[da[d].values for d in dims], indexing="ij")
    return [f"{da.name}[{', '.join(str(g.ravel()[i]) for g in grids)}]"
            for i in range(grids[0].size)]


def fit_twins(dataset: Dataset, model: Model, cfg: TwinsConfig, *, cache_dir: str | None = None,
              cores: int | None = None, centers: Mapping[str, float] | None = None,
              predictions: bool = True, seed: int) -> TwinFit:
    """Fit the hierarchical model and return the twins, gated on convergence.

    Parameters
    ----------
    dataset
        Canonical patient data.
    model
        The structural model (``twintrial.models.get_model(cfg.model)``).
    cfg
        The ``twins`` configuration.
    cache_dir
        ``compute.cache_dir``: where compiled code is cached (see :func:`configure_compile_cache`).
    cores
        Chains run in parallel on at most this many cores (default: all).
    centers
        Covariate centres to reuse (``"<param>:<covariate>"``), e.g. when updating a fit.
    predictions
        Add the ``observed_data``, ``posterior_predictive`` (observed times) and ``predictions``
        (dense grid) groups (``cfg.prediction``), see
        :func:`twintrial.twins.posterior.add_predictions`.
    seed
        Sampler seed (the predictive draws use a stream derived from it).

    Returns
    -------
    TwinFit
        With ``diagnostics["gate_passed"]``.

    Raises
    ------
    ConvergenceError
        The gate failed and ``cfg.allow_unconverged`` is false.
    """
    compiledir = configure_compile_cache(cache_dir) if cache_dir is not None else None
    if cfg.sampler not in ("nutpie", "pymc"):
        raise ConfigError(f"twins.sampler: must be 'nutpie' or 'pymc'; got {cfg.sampler!r}.")
    resolve_backend(cfg.backend)  # a missing jax is a config error before anything is compiled
    if model.unresolved_centers():
        model = model.resolve_centers(dataset.subjects, dataset.observations)
    data = prepare_data(dataset.subjects, dataset.observations, dataset.doses, dataset.events,
                        model, fit_window=cfg.fit_window, parameterization=cfg.parameterization,
                        auto_threshold=cfg.auto_threshold, centers=centers)
    t0 = time.perf_counter()
    sampler = _sample_nutpie if cfg.sampler == "nutpie" else _sample_pymc
    idata, compile_s = sampler(data, model, cfg, seed, cores)
    wall = time.perf_counter() - t0
    diag = compute_diagnostics(idata)
    diag.update(sampler=cfg.sampler,
                backend=resolve_backend(cfg.backend) if cfg.sampler == "nutpie" else "pytensor-c",
                wall_time_s=wall, compile_time_s=compile_s,
                sampling_time_s=wall - (compile_s if np.isfinite(compile_s) else 0.0),
                parameterization=data.parameterization, n_patients=data.n_patients,
                n_observations=int(len(data.obs_y)),
                compile_dir=str(compiledir) if compiledir else None)
    diag["ess_per_s"] = diag["min_ess_bulk"] / wall if wall > 0 else float("nan")
    warnings = list(data.warnings)
    warnings += check_convergence(diag, cfg.gate, allow_unconverged=cfg.allow_unconverged,
                                  parameterization=data.parameterization)
    diag["gate_passed"] = not any(w.startswith("twins: UNCONVERGED") for w in warnings)
    fit = TwinFit(idata=idata, diagnostics=diag, data=data, model=model, config=cfg,
                  warnings=warnings)
    if predictions:
        from twintrial.rng import job_seed
        from twintrial.twins.posterior import add_predictions

        add_predictions(fit.idata, data, model, n_draws=cfg.prediction.draws,
                        grid_points=cfg.prediction.grid_points, seed=job_seed(seed, "predict"))
    stamp_attrs(fit)
    return fit
