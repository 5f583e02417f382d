"""Global sensitivity analysis (SALib) over the vectorised trial simulator.

The trial: :class:`TrialSensitivityModel` evaluates samples on the arms-stage simulator and
:func:`sensitivity_stage` is the stage in one call (see :mod:`twintrial.sensitivity.stage`).

Pairs, as in SALib: :func:`sample_sensitivity` draws a design whose metadata travels with it;
:func:`evaluate_sensitivity` runs a vectorised ``evaluate(X, names) -> Y`` over it in batches
(on Dask when a client is given); :func:`analyze_sensitivity` reads the metadata back and returns
indices with confidence intervals and an N versus N/2 convergence check.

Examples
--------
>>> cfg = SensitivityConfig.from_dict({
...     "inputs": [{"name": f"x{i}", "kind": "model", "target": f"model.x{i}",
...                 "low": -3.14159, "high": 3.14159} for i in (1, 2, 3)],
...     "outputs": [{"name": "y", "quantity": "mean_effect"}],
...     "sobol": {"n_base_samples": 256}})
>>> samples = sample_sensitivity(cfg, seed=1)
>>> result = analyze_sensitivity(samples, evaluate_sensitivity(samples, ishigami), seed=2)
>>> result.to_frame().columns.tolist()
['output', 'input', 'input2', 'index', 'value', 'conf']
"""

from twintrial.sensitivity.analytic import ishigami, ishigami_indices, linear, linear_indices
from twintrial.sensitivity.analyze import SensitivityResult, analyze_sensitivity
from twintrial.sensitivity.describe import describe_drivers, top_drivers
from twintrial.sensitivity.evaluate import evaluate_sensitivity
from twintrial.sensitivity.plots import plot_morris, plot_sobol
from twintrial.sensitivity.problem import (
    SensitivitySamples,
    check_samples,
    input_from_salib,
    problem_from_config,
    sample_sensitivity,
)
from twintrial.sensitivity.run import SensitivityRun, run_sensitivity, sensitivity_figures
from twintrial.sensitivity.simulator import TrialSensitivityModel
from twintrial.sensitivity.stage import (
    SensitivityOutputs,
    reanalyze,
    sensitivity_outputs,
    sensitivity_stage,
    sensitivity_table,
)
from twintrial.sensitivity_config import SensitivityConfig

__all__ = [
    "SensitivityConfig",
    "SensitivityOutputs",
    "SensitivityResult",
    "SensitivityRun",
    "SensitivitySamples",
    "TrialSensitivityModel",
    "analyze_sensitivity",
    "check_samples",
    "describe_drivers",
    "evaluate_sensitivity",
    "input_from_salib",
    "ishigami",
    "ishigami_indices",
    "linear",
    "linear_indices",
    "plot_morris",
    "plot_sobol",
    "problem_from_config",
    "reanalyze",
    "run_sensitivity",
    "sample_sensitivity",
    "sensitivity_figures",
    "sensitivity_outputs",
    "sensitivity_stage",
    "sensitivity_table",
    "top_drivers",
]
