"""The model library: structural models written once against an array namespace.

``get_model(name, **options)`` builds a registered model; ``available_models()`` lists them.
Options come from ``twins.model.options`` in the config and are documented in each model's docstring.
To add a model (Emax, indirect response, tumour growth inhibition, HbA1c turnover), subclass
:class:`~twintrial.models.base.Model` in its own file and add it to ``_REGISTRY``.
"""

from __future__ import annotations

from typing import Any

from twintrial.exceptions import ModelError
from twintrial.models.backend import NUMPY, ArrayNamespace, pytensor_namespace
from twintrial.models.base import (
    CovariateEffect,
    EventModel,
    Model,
    Parameter,
    Prior,
    ResidualError,
)
from twintrial.models.biomarker_progression import BiomarkerProgression, WeibullBiomarkerHazard
from twintrial.models.pk_1cmt_oral import OneCompartmentOral

__all__ = [
    "NUMPY", "ArrayNamespace", "BiomarkerProgression", "CovariateEffect", "EventModel", "Model",
    "OneCompartmentOral", "Parameter", "Prior", "ResidualError", "WeibullBiomarkerHazard",
    "available_models", "get_model", "model_option_problems", "pytensor_namespace",
]

_REGISTRY: dict[str, type[Model]] = {
    OneCompartmentOral.name: OneCompartmentOral,
    BiomarkerProgression.name: BiomarkerProgression,
}


def available_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_REGISTRY)


def get_model(name: str, **options: Any) -> Model:
    """Build the model registered as ``name`` with constructor ``options``.

    Parameters
    ----------
    name
        Registry name (see :func:`available_models`).
    **options
        Model options (``twins.model.options``), see the model docstring.

    Raises
    ------
    ModelError
        If ``name`` is unknown or an option is not accepted by the model.
    """
    cls = _REGISTRY.get(name)
    if cls is None:
        import difflib

        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ModelError(f"twins.model.name: unknown model; got {name!r}. Known models: "
                         f"{', '.join(available_models())}.{hint}")
    import inspect

    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ModelError(f"twins.model.options: option(s) {unknown} not accepted by model '{name}'. "
                         f"Allowed: {accepted}.")
    return cls(**options)


def model_option_problems(name: str, options: dict[str, Any] | None = None) -> list[str]:
    """Config-time check: the problems :func:`get_model` would raise, one line each (for
    ``semantic_problems`` of the ``twins`` section); empty when the model builds."""
    try:
        get_model(name, **dict(options or {}))
    except ModelError as exc:
        return list(exc.problems)
    except TypeError as exc:  # a wrongly typed option value
        return [f"twins.model.options: invalid value for model '{name}'; got error '{exc}'."]
    return []
