"""Save and load the twins (``twins.nc`` netCDF-4 or ``twins.zarr``: an ArviZ DataTree) and ``twins.json``.

Everything the downstream stages need travels inside ``twins.nc``: the posterior, the predictive
groups, and as root attributes (JSON strings) the model name and options, the covariate centres,
the parameterisation, the diagnostics and the warnings.
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from twintrial.models.base import Model


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x


RUN_METADATA_KEYS = ("wall_time_s", "compile_time_s", "sampling_time_s", "ess_per_s",
                     "compile_dir")
"""Diagnostics that describe the run (times, the compile cache's location), not the fit: in
twins.json, not in the twins file."""


def stamp_attrs(fit: Any) -> None:
    """Write the metadata downstream stages need into ``fit.idata.attrs`` (JSON strings)."""
    attrs = fit.idata.attrs
    attrs["twintrial_model"] = fit.model.name
    attrs["model_options"] = json.dumps(_jsonable(getattr(fit.model, "options", {})))
    attrs["covariate_terms"] = json.dumps([t.to_dict() for t in fit.data.terms])
    attrs["parameterization"] = fit.data.parameterization
    # run times vary between runs of the same config and seed: they go to twins.json only, so
    # the twins file itself is the same bytes every time
    attrs["diagnostics"] = json.dumps(_jsonable({k: v for k, v in fit.diagnostics.items()
                                                 if k not in RUN_METADATA_KEYS}))
    attrs["warnings"] = json.dumps(list(fit.warnings))
    attrs["time_unit"] = str(getattr(fit.model, "time_unit", ""))


def model_from_attrs(attrs: Mapping[str, Any]) -> Model:
    """Rebuild the structural model recorded in a twins DataTree's attributes."""
    from twintrial.models import get_model

    name = attrs["twintrial_model"]
    options = json.loads(attrs.get("model_options", "{}") or "{}")
    params = inspect.signature(get_model).parameters
    if options and (len(params) > 1):
        return get_model(name, **options)
    return get_model(name)


def _netcdf_engine() -> str | None:
    import importlib.util

    for engine, module in (("h5netcdf", "h5netcdf"), ("netcdf4", "netCDF4")):
        if importlib.util.find_spec(module) is not None:
            return engine
    return None


def _drop_redundant(idata: xr.DataTree) -> xr.DataTree:
    """Drop the standard-normal ``z`` of the non-centred form (``eta`` holds the same draws) and
    the groups' ``created_at`` timestamps (the file is then the same bytes for the same config
    and seed)."""
    out = idata.copy()
    post = out["posterior"].to_dataset()
    if "z" in post.data_vars:
        out["posterior"] = xr.DataTree(post.drop_vars("z"), name="posterior")
    for node in out.subtree:
        node.attrs.pop("created_at", None)
    return out


def save_twins(idata: xr.DataTree, path: str | os.PathLike[str]) -> Path:
    """Write the twins DataTree atomically: netCDF-4 for ``*.nc``, a Zarr store for ``*.zarr``.

    The non-centred ``z`` draws are not written (``eta`` and ``individual`` carry them), nor the
    groups' ``created_at`` timestamps.

    netCDF-4 (groups) needs ``h5netcdf`` or ``netCDF4``; Zarr needs only ``zarr``.

    Raises
    ------
    DataError
        ``*.nc`` requested but no netCDF-4 engine is installed, or an unknown suffix.
    """
    import shutil

    from twintrial.exceptions import DataError
    from twintrial.io import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    idata = _drop_redundant(idata)
    if path.suffix == ".zarr":
        with atomic_path(path, suffix=".zarr.tmp") as tmp:
            tmp.unlink(missing_ok=True)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Consolidated metadata")
                idata.to_zarr(tmp, mode="w")
            if path.exists():
                shutil.rmtree(path)
        return path
    if path.suffix != ".nc":
        raise DataError(f"{path}: twins file must end in .nc or .zarr; got '{path.suffix}'.")
    engine = _netcdf_engine()
    if engine is None:
        raise DataError(f"{path}: writing netCDF-4 needs the h5netcdf package; got neither "
                        "h5netcdf nor netCDF4 installed. pip install h5netcdf, or use twins.zarr.")
    with atomic_path(path) as tmp:
        idata.to_netcdf(tmp, engine=engine)
    return path


def load_twins(path: str | os.PathLike[str]) -> xr.DataTree:
    """Read a twins DataTree written by :func:`save_twins` (fully loaded into memory)."""
    path = Path(path)
    if path.suffix == ".zarr":
        tree = xr.open_datatree(path, engine="zarr")
    else:
        tree = xr.open_datatree(path, engine=_netcdf_engine())
    loaded = tree.load()
    tree.close()
    return loaded


def warnings_of(idata: xr.DataTree) -> list[str]:
    """Warnings recorded with the twins (downstream outputs must repeat them)."""
    return list(json.loads(idata.attrs.get("warnings", "[]")))


def twins_summary(fit: Any, *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``twins.json`` content (without provenance): summary numbers, warnings, details."""
    from twintrial.twins.posterior import population_summary, summary_dict

    d = fit.diagnostics
    pop = population_summary(fit.idata, fit.model)
    summary = {
        "model": fit.model.name, "n_patients": fit.data.n_patients,
        "n_observations": int(len(fit.data.obs_y)), "sampler": d.get("sampler"),
        "backend": d.get("backend"),
        "chains": d.get("n_chains"), "draws": d.get("n_draws"),
        "parameterization": fit.data.parameterization,
        "gate_passed": bool(d.get("gate_passed")), "max_rhat": d.get("max_rhat"),
        "min_ess_bulk": d.get("min_ess_bulk"), "min_ess_tail": d.get("min_ess_tail"),
        "divergences": d.get("divergences"), "wall_time_s": d.get("wall_time_s"),
    }
    out = {"summary": summary, "warnings": list(fit.warnings),
           "diagnostics": d, "population": summary_dict(pop),
           "model_description": fit.model.describe(),
           "covariate_terms": [t.to_dict() for t in fit.data.terms]}
    if extra:
        out.update(extra)
    return _jsonable(out)
