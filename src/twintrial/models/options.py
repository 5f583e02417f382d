"""Parsing of model options from ``twins.model.options`` (covariate effects, unknown-key checks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twintrial.exceptions import ModelError
from twintrial.models.base import CovariateEffect


def effects_from_specs(specs: Sequence[Mapping[str, Any]] | None, *,
                       where: str) -> tuple[CovariateEffect, ...]:
    """Covariate effects from a list of ``{covariate, form, center, scale, fixed, prior}``."""
    if specs is None:
        return ()
    if isinstance(specs, Mapping) or isinstance(specs, str):
        raise ModelError(f"{where}: must be a list of covariate effects; got {specs!r}. "
                         "Write e.g. [{covariate: wt, form: power, center: 70, fixed: 0.75}].")
    return tuple(CovariateEffect.from_dict(d, where=f"{where}[{j}]") for j, d in enumerate(specs))


def resolve_covariates(given: Mapping[str, Any] | None,
                       defaults: Mapping[str, Sequence[Mapping[str, Any]]],
                       params: Sequence[str], *, model: str) -> dict[str, list[dict[str, Any]]]:
    """Merge ``covariates`` option over the defaults, per parameter, and validate.

    A parameter listed in ``given`` replaces its default list (``[]`` removes all effects);
    parameters not listed keep the defaults. Returns normalised specs (plain dicts).
    """
    merged: dict[str, list[dict[str, Any]]] = {p: [dict(d) for d in v] for p, v in defaults.items()}
    if given:
        if not isinstance(given, Mapping):
            raise ModelError(f"twins.model.options.covariates: must map parameter -> list; got {given!r}. "
                             f"Parameters of {model}: {list(params)}.")
        for p, specs in given.items():
            if p not in params:
                raise ModelError(f"twins.model.options.covariates.{p}: {model} has no parameter '{p}'. "
                                 f"Use one of {list(params)}.")
            effects = effects_from_specs(specs, where=f"twins.model.options.covariates.{p}")
            merged[p] = [e.to_dict() for e in effects]
    out: dict[str, list[dict[str, Any]]] = {}
    for p, specs in merged.items():
        effects = effects_from_specs(specs, where=f"twins.model.options.covariates.{p}")
        seen = [e.covariate for e in effects]
        dup = sorted({c for c in seen if seen.count(c) > 1})
        if dup:
            raise ModelError(f"twins.model.options.covariates.{p}: covariate(s) {dup} listed twice. "
                             "Give each covariate once per parameter.")
        if effects:
            out[p] = [e.to_dict() for e in effects]
    return out
