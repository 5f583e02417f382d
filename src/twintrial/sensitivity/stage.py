"""The ``sensitivity`` stage in one call, and its outputs as data (the pipeline writes them).

Pipeline use (``results/<trial>/``)::

    run = sensitivity_stage(cohort, twins_datatree, config.raw, seed=config.trial.seed,
                            client=client)
    out = sensitivity_outputs(run)
    io.write_table(out.table, "sensitivity.parquet",
                   provenance=provenance_block(config.raw, stage="sensitivity", seed=seed,
                                               inputs=[...], extra=out.table_metadata))
    io.write_json(out.payload, "sensitivity.json", provenance=...)
    for stem, fig in out.figures.items():
        io.save_figure(fig, f"figures/{stem}.png")

``sensitivity.parquet`` holds the design and the evaluations (one row per sample: ``row``, one
column per input, ``y_<output>`` per output); its provenance ``extra`` holds the sampling
metadata, so :func:`reanalyze` can recompute the indices from the file alone and refuses a table
that does not match its metadata (row count, content hash, SALib version).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from twintrial.arms_config import trial_design
from twintrial.exceptions import AnalysisError, ConfigError
from twintrial.models.base import Model
from twintrial.rng import job_seed
from twintrial.sensitivity.analyze import SensitivityResult, analyze_sensitivity
from twintrial.sensitivity.problem import SensitivitySamples
from twintrial.sensitivity.run import SensitivityRun, run_sensitivity, sensitivity_figures
from twintrial.sensitivity.simulator import Redraw, TrialSensitivityModel
from twintrial.sensitivity_config import SensitivityConfig

Y_PREFIX = "y_"


def _model_from_config(raw: Mapping[str, Any]) -> Model:
    from twintrial.models import get_model

    m = (raw.get("twins") or {}).get("model") or {}
    return get_model(str(m.get("name", "pk_1cmt_oral")), **dict(m.get("options") or {}))


def sensitivity_stage(cohort: pd.DataFrame, posterior: Any, config_raw: Mapping[str, Any], *,
                      client: Any | None = None, model: Model | None = None,
                      redraw: Redraw | None = None, arms_seed: int | None = None,
                      twins_seed: int | None = None, seed: int) -> SensitivityRun:
    """Sample, evaluate on the trial simulator (on Dask if ``client``) and analyse.

    Parameters
    ----------
    cohort
        The virtual cohort (``cohort.parquet``); its first ``simulation.n_patients`` rows are
        simulated for every sample.
    posterior
        The twins ``DataTree`` (``twins.nc``) or a ``TwinFit``: virtual patients are drawn with
        :func:`twintrial.twins.virtual.sample_virtual_patients` (and redrawn for cohort
        shifts); or a mapping of per-patient virtual parameters (then ``model`` is taken from
        ``twins.model`` unless given, and cohort shifts need ``redraw``).
    config_raw
        The resolved configuration (``StudyConfig.raw``): ``sensitivity``, ``arms``,
        ``endpoints``, ``analysis.estimands`` and ``analysis.alpha`` are read.
    client
        Optional Dask client: batches of ``sensitivity.batch_size`` samples become tasks.
    model, redraw
        See ``posterior``.
    arms_seed, twins_seed
        Seeds of the arms streams and of the virtual-patient draw; default
        ``job_seed(seed, "arms")`` and ``job_seed(seed, "twins", "virtual")``. Pass the arms
        stage's seeds to simulate exactly its patients.
    seed
        The trial's root seed (``trial.seed``); the design and bootstrap use
        ``job_seed(seed, "sensitivity")``.

    Returns
    -------
    SensitivityRun
        Samples (with metadata), evaluations ``Y`` and the analysed result.

    Raises
    ------
    ConfigError
        No inputs, unsupported targets or outputs.
    """
    sec = config_raw.get("sensitivity") or {}
    if not sec.get("inputs"):
        raise ConfigError("sensitivity.inputs: empty; got no inputs. Add inputs or skip the "
                          "sensitivity stage.")
    cfg = SensitivityConfig.from_dict(sec)
    arms, endpoints, estimands = trial_design(config_raw)
    alpha = float((config_raw.get("analysis") or {}).get("alpha", 0.05))
    arms_seed = job_seed(seed, "arms") if arms_seed is None else int(arms_seed)
    twins_seed = job_seed(seed, "twins", "virtual") if twins_seed is None else int(twins_seed)
    n = min(cfg.simulation.n_patients, len(cohort))
    coh = cohort.iloc[:n].reset_index(drop=True)
    if isinstance(posterior, Mapping) and "vid" in posterior:
        virtual = posterior
        model = model or _model_from_config(config_raw)
    else:
        from twintrial.twins.io import model_from_attrs
        from twintrial.twins.virtual import sample_virtual_patients

        idata = getattr(posterior, "idata", posterior)
        model = model or getattr(posterior, "model", None) or model_from_attrs(idata.attrs)
        redraw = redraw or functools.partial(sample_virtual_patients, posterior, model=model,
                                             seed=twins_seed)
        virtual = redraw(coh)
    evaluator = TrialSensitivityModel(virtual, coh, model, arms, endpoints, estimands, cfg,
                                      n_patients=n, alpha=alpha, redraw=redraw, seed=arms_seed)
    return run_sensitivity(cfg, evaluator, client=client, seed=job_seed(seed, "sensitivity"))


@dataclass(frozen=True)
class SensitivityOutputs:
    """What the pipeline writes: the table, its provenance ``extra``, the JSON payload, figures."""

    table: pd.DataFrame
    table_metadata: dict[str, Any]
    payload: dict[str, Any]
    figures: dict[str, Figure]


def sensitivity_table(run: SensitivityRun) -> pd.DataFrame:
    """Samples and evaluations: ``row``, one float64 column per input, ``y_<output>`` each."""
    frame = run.samples.to_frame()
    for j, name in enumerate(run.samples.output_names):
        col = Y_PREFIX + name
        if col in frame.columns:
            raise AnalysisError(f"sensitivity.outputs: column {col!r} collides with an input "
                                f"name; got input {col!r}. Rename the input or the output.")
        frame[col] = run.Y[:, j].astype(np.float64)
    return frame


def sensitivity_outputs(run: SensitivityRun) -> SensitivityOutputs:
    """Everything the stage writes, as data (no file I/O)."""
    return SensitivityOutputs(table=sensitivity_table(run),
                              table_metadata={"sampling": run.samples.metadata,
                                              "output_columns": [Y_PREFIX + o for o in
                                                                 run.samples.output_names]},
                              payload=run.result.summary(),
                              figures=sensitivity_figures(run.result))


def reanalyze(table: pd.DataFrame, metadata: Mapping[str, Any], *,
              seed: int) -> SensitivityResult:
    """Recompute the indices from ``sensitivity.parquet`` and its provenance ``extra``.

    ``metadata`` is the ``table_metadata`` written with the table (``{"sampling": ...}``, or
    the whole provenance block holding it under ``extra``). The samples are checked against
    the metadata (rows, content hash, SALib version) before any analysis; ``seed`` is the
    trial's root seed (same bootstrap as the stage).

    Raises
    ------
    AnalysisError
        If the table and the metadata do not match.
    """
    meta = metadata.get("extra", metadata)
    if "sampling" not in meta:
        raise AnalysisError(f"sensitivity.parquet metadata: no 'sampling' block; got keys "
                            f"{sorted(meta)}. Re-run the sensitivity stage.")
    samples = SensitivitySamples.from_frame(table, meta["sampling"])
    cols = [Y_PREFIX + o for o in samples.output_names]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise AnalysisError(f"sensitivity.parquet: missing output column(s) {missing}; got "
                            f"{list(table.columns)}. Re-run the sensitivity stage.")
    Y = table[cols].to_numpy(dtype=np.float64)
    return analyze_sensitivity(samples, Y, seed=job_seed(job_seed(seed, "sensitivity"),
                                                         "sensitivity", "bootstrap"))
