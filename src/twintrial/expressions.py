"""Safe, vectorised expressions over table columns (inclusion/exclusion criteria, populations).

User text is parsed with :func:`ast.parse` in ``"eval"`` mode (the parser never runs code) and the
resulting tree is checked against a strict whitelist before it is ever evaluated. Evaluation walks
the tree with NumPy over whole columns; nothing is passed to ``eval``, ``exec`` or ``compile``.

Grammar (Python syntax, subset):

- numbers, strings, ``True``/``False``; column names; dotted column names such as ``alk.phos``
  (read as one name, never as attribute access);
- arithmetic ``+ - * / **`` and unary ``- +``;
- comparisons ``< <= > >= == !=``, chained (``18 <= age < 75``);
- ``x in [1, 2]`` / ``x not in ("a", "b")`` with literal lists or tuples;
- ``and``, ``or``, ``not``;
- the functions ``log``, ``log10``, ``exp``, ``sqrt``, ``abs``, ``min``, ``max`` (element-wise;
  ``min``/``max`` take two or more arguments).

Missing values (NaN) make every comparison false, so a criterion never accepts a missing value.

Examples
--------
>>> import pandas as pd
>>> e = parse_expression("18 <= age < 75 and sex in ['f'] and log(bili) < 1")
>>> sorted(e.names)
['age', 'bili', 'sex']
>>> e.evaluate(pd.DataFrame({"age": [30.0, 80.0], "sex": ["f", "f"], "bili": [1.0, 1.0]})).tolist()
[True, False]
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twintrial.exceptions import ConfigError

MAX_LENGTH = 2000
"""Longest expression accepted (characters): a guard against pathological nesting."""

_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    # name: (function, min args, max args)
    "log": (np.log, 1, 1),
    "log10": (np.log10, 1, 1),
    "exp": (np.exp, 1, 1),
    "sqrt": (np.sqrt, 1, 1),
    "abs": (np.abs, 1, 1),
    "min": (lambda *a: _reduce(np.minimum, a), 2, 16),
    "max": (lambda *a: _reduce(np.maximum, a), 2, 16),
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_OP_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
            ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|",
            ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.Is: "is", ast.IsNot: "is not",
            ast.Invert: "~"}


def _reduce(func: Callable[[Any, Any], Any], args: tuple[Any, ...]) -> Any:
    out = args[0]
    for a in args[1:]:
        out = func(out, a)
    return out


class ExpressionError(ConfigError):
    """An expression is not valid: syntax, a forbidden construct, or an unknown name."""


def _fail(text: str, where: str, node: ast.AST | None, what: str, hint: str = ""
          ) -> ExpressionError:
    col = getattr(node, "col_offset", None)
    pos = f" at position {col + 1}" if col is not None else ""
    return ExpressionError(f"{where}: {what}{pos} in {text!r}{hint}")


def _dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` as one column name, or None if ``node`` is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


@dataclass(frozen=True)
class Expression:
    """A parsed and whitelisted expression; evaluate it with :meth:`evaluate`.

    Attributes
    ----------
    text
        The expression as written.
    names
        Column names the expression reads.
    where
        Where the expression came from (a config key path), used in error messages.
    """

    text: str
    names: frozenset[str]
    where: str
    _tree: ast.Expression

    def evaluate(self, table: Mapping[str, Any]) -> npt.NDArray[Any]:
        """Evaluate over the columns of ``table`` (a DataFrame or a mapping of arrays).

        Parameters
        ----------
        table
            Column name -> array-like; every name in :attr:`names` must be present.

        Returns
        -------
        numpy.ndarray
            The element-wise result (boolean for criteria).

        Raises
        ------
        ExpressionError
            If a referenced column is missing from ``table``.
        """
        columns = list(table.keys())
        missing = sorted(self.names - set(columns))
        if missing:
            raise _unknown(self.text, self.where, missing[0], columns, None)
        n = len(table[columns[0]]) if columns else 1
        cache: dict[str, npt.NDArray[Any]] = {}

        def column(name: str) -> npt.NDArray[Any]:
            if name not in cache:
                values = table[name]
                arr = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
                if arr.dtype == object or arr.dtype.kind in "US":
                    arr = np.asarray(arr, dtype=object)
                cache[name] = arr
            return cache[name]

        out = _Evaluator(self.text, self.where, column).visit(self._tree.body)
        return np.broadcast_to(np.asarray(out), (n,)) if np.ndim(out) == 0 else np.asarray(out)

    def mask(self, table: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
        """Evaluate a criterion and return a boolean mask (non-boolean results are an error)."""
        out = self.evaluate(table)
        if out.dtype != np.bool_:
            raise ExpressionError(f"{self.where}: must be a condition (true/false), e.g. a "
                                  f"comparison; got a {out.dtype} value from {self.text!r}")
        return out


def _unknown(text: str, where: str, name: str, known: Iterable[str], node: ast.AST | None
             ) -> ExpressionError:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = (f"; did you mean {close[0]!r}?" if close
            else f"; known names: {', '.join(sorted(known)[:20])}")
    return _fail(text, where, node, f"unknown name {name!r}", hint)


class _Checker:
    """Reject every node type not on the whitelist; collect the column names used."""

    def __init__(self, text: str, where: str, known: frozenset[str] | None) -> None:
        self.text, self.where, self.known = text, where, known
        self.names: set[str] = set()

    def fail(self, node: ast.AST, what: str) -> ExpressionError:
        return _fail(self.text, self.where, node, what)

    def check(self, node: ast.AST) -> None:  # noqa: C901 - one branch per node type
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool | int | float | str):
                return
            raise self.fail(node, f"literal {node.value!r} is not allowed")
        if isinstance(node, ast.Name | ast.Attribute):
            name = _dotted_name(node)
            if name is None:
                raise self.fail(node, "attribute access is not allowed")
            if name in ("True", "False"):
                return
            if self.known is not None and name not in self.known:
                raise _unknown(self.text, self.where, name, self.known, node)
            self.names.add(name)
            return
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise self.fail(node, f"operator {_OP_TEXT.get(type(node.op), '?')!r} is not "
                                      f"allowed (use + - * / **)")
            self.check(node.left)
            self.check(node.right)
            return
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
                raise self.fail(node, f"operator {_OP_TEXT.get(type(node.op), '?')!r} is not "
                                      "allowed (use -, + or not)")
            self.check(node.operand)
            return
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self.check(v)
            return
        if isinstance(node, ast.Compare):
            self.check(node.left)
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn):
                    if not isinstance(right, ast.List | ast.Tuple | ast.Set) or not all(
                            isinstance(e, ast.Constant) and isinstance(e.value, int | float | str)
                            and not isinstance(e.value, bool) for e in right.elts):
                        raise self.fail(right, "'in' needs a literal list of numbers or "
                                               "strings, e.g. stage in [3, 4]")
                elif type(op) in _CMPOPS:
                    self.check(right)
                else:
                    raise self.fail(node, f"comparison {_OP_TEXT.get(type(op), '?')!r} is not "
                                          "allowed (use < <= > >= == != in)")
            return
        if isinstance(node, ast.Call):
            fname = node.func.id if isinstance(node.func, ast.Name) else None
            if fname not in _FUNCTIONS:
                shown = fname or ast.unparse(node.func)
                raise _fail(self.text, self.where, node, f"function {shown!r} is not allowed",
                            f"; allowed: {', '.join(sorted(_FUNCTIONS))}")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise self.fail(node, f"{fname}() takes plain positional arguments")
            lo, hi = _FUNCTIONS[fname][1:]
            if not lo <= len(node.args) <= hi:
                want = str(lo) if lo == hi else f"{lo} or more"
                raise self.fail(node, f"{fname}() takes {want} argument(s); got {len(node.args)}")
            for a in node.args:
                self.check(a)
            return
        raise self.fail(node, f"{type(node).__name__.lower()} syntax is not allowed")


class _Evaluator:
    """Vectorised evaluation of a checked tree."""

    def __init__(self, text: str, where: str, column: Callable[[str], npt.NDArray[Any]]) -> None:
        self.text, self.where, self.column = text, where, column

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name | ast.Attribute):
            name = _dotted_name(node)
            assert name is not None  # guaranteed by _Checker
            if name in ("True", "False"):
                return name == "True"
            return self.column(name)
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            with np.errstate(all="ignore"):
                try:
                    return _BINOPS[type(node.op)](_num(left), _num(right))
                except (TypeError, ValueError) as exc:
                    raise _fail(self.text, self.where, node,
                                f"arithmetic on non-numeric values ({exc})") from None
        if isinstance(node, ast.UnaryOp):
            value = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return np.logical_not(self._bool(value, node.operand))
            return -_num(value) if isinstance(node.op, ast.USub) else _num(value)
        if isinstance(node, ast.BoolOp):
            func = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            return _reduce(func, tuple(self._bool(self.visit(v), v) for v in node.values))
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            args = [_num(self.visit(a)) for a in node.args]
            with np.errstate(all="ignore"):
                return _FUNCTIONS[node.func.id][0](*args)
        raise _fail(self.text, self.where, node, "unsupported syntax")  # pragma: no cover

    def _bool(self, value: Any, node: ast.AST) -> Any:
        arr = np.asarray(value)
        if arr.dtype != np.bool_:
            raise _fail(self.text, self.where, node, "'and'/'or'/'not' need conditions "
                                                     "(comparisons), not values")
        return arr

    def _compare(self, node: ast.Compare) -> Any:
        result: Any = True
        left = self.visit(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                assert isinstance(right_node, ast.List | ast.Tuple | ast.Set)
                options = [e.value for e in right_node.elts]  # type: ignore[attr-defined]
                hit = _isin(left, options)
                part = hit if isinstance(op, ast.In) else ~hit
                right = None
            else:
                right = self.visit(right_node)
                if _is_text(left) != _is_text(right):
                    raise _fail(self.text, self.where, node,
                                "compares a text column with a number",
                                "; quote the value (e.g. stage == '3') or use 'in'")
                with np.errstate(invalid="ignore"):
                    try:
                        part = np.asarray(_CMPOPS[type(op)](left, right), dtype=bool)
                    except TypeError:
                        raise _fail(self.text, self.where, node,
                                    "cannot compare text with numbers") from None
            result = np.logical_and(result, part)
            left = right
        return result


def _num(value: Any) -> Any:
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype == object):
        raise TypeError("text is not a number")
    return value


def _is_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, np.ndarray) and (value.dtype == object or value.dtype.kind in "US")


def _isin(values: Any, options: list[Any]) -> npt.NDArray[np.bool_]:
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind in "US":
        opts = {str(o) for o in options}
        flat = arr.ravel()
        return np.fromiter((isinstance(v, str) and v in opts for v in flat), dtype=bool,
                           count=flat.size).reshape(arr.shape)
    nums = [float(o) for o in options if not isinstance(o, str)]
    return np.isin(arr, np.asarray(nums, dtype=float))


def parse_expression(text: str, *, names: Iterable[str] | None = None,
                     where: str = "expression") -> Expression:
    """Parse and whitelist-check ``text``.

    Parameters
    ----------
    text
        The expression, e.g. ``"age >= 18 and bili < 10"``.
    names
        If given, the column names the expression may use; any other name is an error that
        suggests the closest known name.
    where
        Where the text came from (e.g. ``"cohort.criteria[0]"``), used as the message prefix.

    Returns
    -------
    Expression
        The checked expression.

    Raises
    ------
    ExpressionError
        On a syntax error, a forbidden construct (attribute access, subscripts, lambdas, calls
        to non-whitelisted functions, ...) or an unknown name; the message gives the position.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"{where}: must be a non-empty expression; got {text!r}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{where}: expression longer than {MAX_LENGTH} characters; "
                              f"got {len(text)}. Split it into several criteria")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        pos = f" at position {exc.offset if exc.offset else len(text.strip()) + 1}"
        raise ExpressionError(f"{where}: invalid syntax{pos} in {text!r} ({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError(f"{where}: cannot parse {text!r}") from None
    checker = _Checker(text.strip(), where, frozenset(names) if names is not None else None)
    try:
        checker.check(tree.body)
    except RecursionError:
        raise ExpressionError(f"{where}: expression nested too deeply: {text[:60]!r}") from None
    return Expression(text=text.strip(), names=frozenset(checker.names), where=where, _tree=tree)


def evaluate(text: str, table: Mapping[str, Any], *, where: str = "expression") -> npt.NDArray[Any]:
    """Parse ``text`` against the columns of ``table`` and evaluate it (one-shot helper)."""
    return parse_expression(text, names=list(table.keys()), where=where).evaluate(table)


def expression_problems(text: Any, *, names: Iterable[str], where: str) -> list[str]:
    """Return the problems of ``text`` as messages (empty if valid): for config semantic checks."""
    try:
        parse_expression(text, names=names, where=where)
    except ExpressionError as exc:
        return list(exc.problems)
    return []
