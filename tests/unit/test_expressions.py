"""Safe expression parser: good expressions, bad ones, injection attempts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twintrial.exceptions import ConfigError
from twintrial.expressions import (
    ExpressionError,
    evaluate,
    expression_problems,
    parse_expression,
)


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [17.0, 30.0, 50.0, 80.0, np.nan],
        "bili": [0.5, 1.0, 2.7, 10.0, 1.0],
        "stage": [1.0, 2.0, 3.0, 4.0, 4.0],
        "sex": pd.array(["f", "m", "f", "m", "f"], dtype="str"),
        "alk.phos": [100.0, 2000.0, 300.0, 400.0, 500.0],
    })


@pytest.mark.parametrize(("text", "expected"), [
    ("age >= 18", [False, True, True, True, False]),
    ("18 <= age < 75", [False, True, True, False, False]),
    ("age > 18 and bili < 3", [False, True, True, False, False]),
    ("age < 18 or bili > 5", [True, False, False, True, False]),
    ("not age >= 18", [True, False, False, False, True]),
    ("stage in [3, 4]", [False, False, True, True, True]),
    ("stage not in (3, 4)", [True, True, False, False, False]),
    ("sex in ['f']", [True, False, True, False, True]),
    ("sex == 'm'", [False, True, False, True, False]),
    ("sex != 'm'", [True, False, True, False, True]),
    ("log(bili) < 1", [True, True, True, False, True]),
    ("exp(log(bili)) * 2 - 1 > 1.5", [False, False, True, True, False]),
    ("abs(-bili) == bili", [True] * 5),
    ("max(age, 40) == 40", [True, True, False, False, False]),
    ("min(bili, 1) + 0 >= 1", [False, True, True, True, True]),
    ("sqrt(bili ** 2) / bili == 1", [True] * 5),
    ("alk.phos > 350", [False, True, False, True, True]),
    ("-age < -18", [False, True, True, True, False]),
    ("True", [True] * 5),
])
def test_good_expressions(table: pd.DataFrame, text: str, expected: list[bool]) -> None:
    assert parse_expression(text, names=table.columns).mask(table).tolist() == expected


def test_names_and_dotted_column() -> None:
    e = parse_expression("alk.phos > 1 and log10(bili) < age / 10")
    assert e.names == frozenset({"alk.phos", "bili", "age"})


def test_evaluate_helper_returns_numbers(table: pd.DataFrame) -> None:
    np.testing.assert_allclose(evaluate("bili * 2", table), table["bili"] * 2)


def test_missing_values_never_accepted(table: pd.DataFrame) -> None:
    # age is NaN in the last row: every comparison involving it is false
    assert not parse_expression("age > 0").mask(table)[-1]
    assert not parse_expression("age <= 0").mask(table)[-1]


@pytest.mark.parametrize(("text", "match"), [
    ("__import__('os')", r"function '__import__' is not allowed"),
    ("__import__('os').system('echo hi')", r"attribute access is not allowed|not allowed"),
    ("age.__class__", r"unknown name 'age.__class__'"),
    ("().__class__.__bases__[0]", r"is not allowed"),
    ("().__class__", r"attribute access is not allowed"),
    ("open('/etc/passwd')", r"function 'open' is not allowed"),
    ("eval('1')", r"function 'eval' is not allowed"),
    ("(lambda: 1)()", r"function .* is not allowed"),
    ("lambda: 1", r"lambda syntax is not allowed"),
    ("[x for x in age]", r"listcomp syntax is not allowed"),
    ("age[0] > 1", r"subscript syntax is not allowed"),
    ("age if bili else stage", r"ifexp syntax is not allowed"),
    ("age := 3", r"invalid syntax"),
    ("age > ", r"invalid syntax at position"),
    ("age // 2 > 1", r"operator '//' is not allowed"),
    ("age is None", r"comparison 'is' is not allowed"),
    ("stage in age", r"'in' needs a literal list"),
    ("stage in [a]", r"'in' needs a literal list"),
    ("log(bili, 2) > 0", r"log\(\) takes 1 argument"),
    ("log(x=bili) > 0", r"plain positional"),
    ("f'{age}' == '1'", r"joinedstr syntax is not allowed"),
    ("b'x' == age", r"literal b'x' is not allowed"),
    ("", r"non-empty"),
    ("x" * 3000, r"longer than"),
])
def test_rejected_expressions(text: str, match: str) -> None:
    with pytest.raises(ExpressionError, match=match):
        parse_expression(text, names=["age", "bili", "stage"], where="cohort.criteria[0]")


def test_unknown_name_suggests_closest_and_gives_position() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression("age > 18 and billi < 3", names=["age", "bili"], where="cohort.criteria[2]")
    msg = str(info.value)
    assert msg.startswith("cohort.criteria[2]: unknown name 'billi' at position 14")
    assert "did you mean 'bili'?" in msg


def test_error_is_config_error_and_problems_helper() -> None:
    assert issubclass(ExpressionError, ConfigError)
    assert expression_problems("age > 1", names=["age"], where="w") == []
    [line] = expression_problems("age >> 1", names=["age"], where="w")
    assert line.startswith("w: operator '>>'")


def test_non_boolean_criterion_and_text_arithmetic(table: pd.DataFrame) -> None:
    with pytest.raises(ExpressionError, match="must be a condition"):
        parse_expression("bili * 2").mask(table)
    with pytest.raises(ExpressionError, match="non-numeric"):
        parse_expression("sex * 2 > 1").mask(table)
    with pytest.raises(ExpressionError, match="need conditions"):
        parse_expression("bili and age > 1").mask(table)


def test_missing_column_at_evaluation(table: pd.DataFrame) -> None:
    e = parse_expression("weight > 50")
    with pytest.raises(ExpressionError, match="unknown name 'weight'"):
        e.evaluate(table)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ExpressionError):
        parse_expression("(" * 1500 + "age" + ")" * 1500, names=["age"])


def test_text_vs_number_comparison_is_an_error_not_silently_false(table: pd.DataFrame) -> None:
    with pytest.raises(ExpressionError, match="compares a text column with a number"):
        parse_expression("sex == 1").mask(table)
    text_stage = table.assign(stage=pd.array(["1", "2", "3", "4", "4"], dtype="str"))
    assert parse_expression("stage in [3, 4]").mask(text_stage).tolist() == [False, False, True,
                                                                             True, True]
    assert parse_expression("stage == '4'").mask(text_stage).sum() == 2
