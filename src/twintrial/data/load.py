"""Entry point: :func:`load_dataset` dispatches on ``data.format``."""

from __future__ import annotations

from pathlib import Path

from twintrial.data.config import DataConfig
from twintrial.data.dataset import Dataset
from twintrial.exceptions import DataError


def load_dataset(cfg: DataConfig, *, base_dir: str | Path | None = None) -> Dataset:
    """Load the configured patient-level data as a canonical :class:`Dataset`.

    Parameters
    ----------
    cfg
        The ``data`` section (``DataConfig.from_dict(study.section("data"))``).
    base_dir
        Directory the configured paths are relative to (default: the working directory).

    Raises
    ------
    DataError
        With every problem found in the input files, one line each.
    """
    if cfg.format == "tidy":
        from twintrial.data.tidy import load_tidy

        return load_tidy(cfg, base_dir=base_dir)
    if cfg.format == "nonmem":
        if cfg.nonmem is None:
            raise DataError("data.nonmem: required when data.format is 'nonmem'.")
        from twintrial.data.nonmem import load_nonmem

        return load_nonmem(cfg.nonmem, time_unit=cfg.time_unit, units=cfg.units,
                           base_dir=base_dir)
    if cfg.format == "fhir":
        if cfg.fhir is None:
            raise DataError("data.fhir: required when data.format is 'fhir'.")
        from twintrial.data.fhir import load_fhir

        return load_fhir(cfg.fhir, time_unit=cfg.time_unit, units=cfg.units, base_dir=base_dir)
    raise DataError(f"data.format: must be one of tidy, nonmem, fhir; got {cfg.format!r}.")
