"""Array namespaces: one structural formula, two backends (NumPy for simulation, PyTensor for PyMC).

A model's ``predict`` is written once against ``xp`` and runs unchanged on NumPy arrays (batched
simulation over patients) and on PyTensor tensors (the PyMC likelihood), so there is no second
implementation to drift. Only the operations listed here may be used in model formulas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ArrayNamespace:
    """The operations model formulas may use."""

    name: str
    exp: Callable[..., Any]
    log: Callable[..., Any]
    expm1: Callable[..., Any]
    log1p: Callable[..., Any]
    sqrt: Callable[..., Any]
    abs: Callable[..., Any]
    where: Callable[..., Any]
    maximum: Callable[..., Any]
    minimum: Callable[..., Any]
    sum: Callable[..., Any]
    logsumexp: Callable[..., Any]
    clip: Callable[..., Any]
    asarray: Callable[..., Any]


def _np_logsumexp(x: Any, axis: int = -1) -> Any:
    """``log(sum(exp(x), axis))`` stabilised by the maximum (lean: no array-API dispatch)."""
    x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis))
    return out + np.squeeze(m, axis=axis)


NUMPY = ArrayNamespace(
    name="numpy", exp=np.exp, log=np.log, expm1=np.expm1, log1p=np.log1p, sqrt=np.sqrt,
    abs=np.abs, where=np.where, maximum=np.maximum, minimum=np.minimum,
    sum=lambda x, axis=-1: np.sum(x, axis=axis), logsumexp=_np_logsumexp, clip=np.clip,
    asarray=np.asarray,
)


def _pytensor_namespace() -> ArrayNamespace:
    import pytensor.tensor as pt

    return ArrayNamespace(
        name="pytensor", exp=pt.exp, log=pt.log, expm1=pt.expm1, log1p=pt.log1p, sqrt=pt.sqrt,
        abs=pt.abs, where=pt.switch, maximum=pt.maximum, minimum=pt.minimum,
        sum=lambda x, axis=-1: pt.sum(x, axis=axis),
        logsumexp=lambda x, axis=-1: pt.logsumexp(x, axis=axis), clip=pt.clip,
        asarray=pt.as_tensor_variable,
    )


_PYTENSOR: ArrayNamespace | None = None


def pytensor_namespace() -> ArrayNamespace:
    """The PyTensor namespace (imported lazily: simulation never needs PyTensor)."""
    global _PYTENSOR
    if _PYTENSOR is None:
        _PYTENSOR = _pytensor_namespace()
    return _PYTENSOR
