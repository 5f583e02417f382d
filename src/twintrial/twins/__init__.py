"""Bayesian per-patient digital twins: hierarchical fit, convergence gate, twins, virtual patients.

Public API
----------
``fit_twins(dataset, model, cfg, *, cache_dir, cores, seed) -> TwinFit``
``run_twins(dataset, twins_section, *, cache_dir, cores, seed) -> TwinFit`` (config -> fit +
predictions, what the ``twins`` rule calls)
``check_convergence(diagnostics, thresholds, *, allow_unconverged) -> list[str]``
``add_predictions``, ``population_summary``, ``patient_parameter_summary``,
``patient_parameter_draws``, ``prediction_bands``
``sample_virtual_patients(fit_or_tree, cohort, *, seed) -> dict[str, ndarray]``
``update_twins(previous, old, new, *, seed) -> UpdateResult``
``save_twins``, ``load_twins``, ``twins_summary``, ``warnings_of``
"""

from __future__ import annotations

from typing import Any

from twintrial.twins.fit import TwinFit, compute_diagnostics, configure_compile_cache, fit_twins
from twintrial.twins.gate import check_convergence
from twintrial.twins.io import load_twins, save_twins, twins_summary, warnings_of
from twintrial.twins.plots import twins_figures
from twintrial.twins.posterior import (
    add_predictions,
    patient_parameter_draws,
    patient_parameter_summary,
    population_summary,
    prediction_bands,
)
from twintrial.twins.update import UpdateResult, merge_datasets, prediction_changes, update_twins
from twintrial.twins.virtual import sample_virtual_patients

__all__ = [
    "TwinFit", "UpdateResult", "add_predictions", "check_convergence", "compute_diagnostics",
    "configure_compile_cache", "fit_twins", "load_twins", "merge_datasets",
    "patient_parameter_draws", "patient_parameter_summary", "population_summary",
    "prediction_bands", "prediction_changes", "run_twins", "sample_virtual_patients",
    "save_twins", "twins_figures", "twins_summary", "update_twins", "warnings_of",
]


def run_twins(dataset: Any, twins_section: dict[str, Any], *, cache_dir: str | None = None,
              cores: int | None = None, seed: int) -> TwinFit:
    """Fit the twins as configured and add the predictive groups (the ``twins`` stage).

    Parameters
    ----------
    dataset
        Canonical :class:`~twintrial.data.dataset.Dataset`.
    twins_section
        The resolved ``twins`` config section (``StudyConfig.section("twins")``).
    cache_dir
        ``compute.cache_dir`` (compile cache).
    cores
        Cores for parallel chains.
    seed
        ``rng.job_seed(trial.seed, "twins")``.

    Returns
    -------
    TwinFit
        Gated (raises :class:`~twintrial.exceptions.ConvergenceError` unless allowed), with
        ``observed_data``, ``posterior_predictive`` and ``predictions`` groups.
    """
    from twintrial.models import get_model
    from twintrial.twins_config import TwinsConfig

    cfg = TwinsConfig.from_dict(twins_section)
    model = get_model(cfg.model, **dict(cfg.model_options))
    return fit_twins(dataset, model, cfg, cache_dir=cache_dir, cores=cores, seed=seed)
