"""Canonical patient-level data (:class:`Dataset`) and adapters (tidy, NONMEM, FHIR R4).

Typical use::

    cfg = DataConfig.from_dict(study.section("data"))
    ds = load_dataset(cfg)
    summary = dataset_summary(ds)
"""

from twintrial.data.config import DataConfig, semantic_problems
from twintrial.data.dataset import (
    Dataset,
    dataset_summary,
    make_dataset,
    validate_doses,
    validate_events,
    validate_observations,
    validate_subjects,
)
from twintrial.data.load import load_dataset
from twintrial.data.units import convert, convert_dose

__all__ = [
    "DataConfig",
    "Dataset",
    "convert",
    "convert_dose",
    "dataset_summary",
    "load_dataset",
    "make_dataset",
    "semantic_problems",
    "validate_doses",
    "validate_events",
    "validate_observations",
    "validate_subjects",
]
