"""Row filters of the shells (``where: {PARAMCD: LUPCR, AVISIT: WEEK 24}`` or an expression)."""

from __future__ import annotations

import operator
from typing import Any, Mapping

import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.expressions import (
    FUNCTIONS,
    Binary,
    Call,
    Column,
    Expression,
    ExpressionError,
    Literal,
    Logical,
    Membership,
    Node,
    evaluate_mask,
    parse,
)

OPERATORS = ("eq", "ne", "in", "notin", "notnull", "isnull")


def _condition_node(variable: str, condition: Any, where_name: str) -> Node:
    column = Column(variable)
    if isinstance(condition, Mapping):
        if len(condition) != 1 or next(iter(condition)) not in OPERATORS:
            raise ConfigError(f"{where_name}: filter on {variable} must be a value, a list or one of "
                              f"{{{', '.join(OPERATORS)}}}: got {dict(condition)}")
        op, value = next(iter(condition.items()))
        present = Call(FUNCTIONS["notna"], (column,))  # blank text counts as missing
        if op == "eq":
            return Binary("==", operator.eq, column, Literal(value))
        if op == "ne":
            return Logical("and", (Binary("!=", operator.ne, column, Literal(value)), present))
        if op in ("in", "notin"):
            inside = Membership(op == "notin", column, tuple(value))
            return Logical("and", (inside, present)) if op == "notin" else inside
        wants_present = bool(value) if op == "notnull" else not bool(value)
        return present if wants_present else Call(FUNCTIONS["isna"], (column,))
    if isinstance(condition, (list, tuple)):
        return Membership(False, column, tuple(condition))
    return Binary("==", operator.eq, column, Literal(condition))


def where_expression(where: Mapping[str, Any] | str, where_name: str = "where") -> Expression:
    """The expression a shell filter stands for: expression text, or the mapping spelling
    ``{VARIABLE: value | [values] | {op: value}}`` (every condition must hold) compiled into the same tree.

    >>> where_expression({"AESER": "Y", "AESEV": {"ne": "MILD"}}).columns
    ['AESER', 'AESEV']
    """
    if isinstance(where, str):
        try:
            return parse(where)
        except ExpressionError as exc:
            raise ConfigError(f"{where_name}: {exc}") from None
    if not isinstance(where, Mapping):
        raise ConfigError(f"{where_name}: 'where' must be an expression or a mapping of variable to value, got {where!r}")
    parts = tuple(_condition_node(str(variable), condition, where_name) for variable, condition in where.items())
    return Expression(repr(dict(where)), parts[0] if len(parts) == 1 else Logical("and", parts))


def filter_where(dataset: pd.DataFrame, where: Mapping[str, Any] | str | None, where_name: str = "where",
                 dataset_name: str = "dataset") -> pd.DataFrame:
    """Keep the rows of ``dataset`` meeting ``where`` (a copy; input untouched).

    ``where`` is an expression (``"AESER == 'Y' and AESEV != 'MILD'"``, see
    ``pipeline.common.expressions``) or a mapping in which every condition must hold: a scalar keeps
    equal values, a list keeps values in the list, ``{ne: x}``, ``{notin: [..]}``,
    ``{notnull: true}`` and ``{isnull: true}`` do what they say (blank text counts as missing;
    ``{notnull: false}`` is ``{isnull: true}``). A variable absent from the
    dataset is a :class:`ConfigError` naming ``where_name``, the dataset and the variable.

    >>> adae = pd.DataFrame({"USUBJID": ["1", "1", "2"], "AESER": ["Y", "N", "Y"], "AESEV": ["MILD", None, "SEVERE"]})
    >>> filter_where(adae, {"AESER": "Y", "AESEV": {"ne": "MILD"}})["USUBJID"].tolist()
    ['2']
    >>> filter_where(adae, "AESER == 'Y' and AESEV != 'MILD'")["USUBJID"].tolist()
    ['2']
    >>> filter_where(adae, {"AEACN": "DRUG WITHDRAWN"}, "tlf.yaml table2.ae_disc", "adae")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: tlf.yaml table2.ae_disc: dataset adae has no variable AEACN (filter where {'AEACN': 'DRUG WITHDRAWN'})
    """
    if not where:
        return dataset.copy()
    expression = where_expression(where, where_name)
    absent = [variable for variable in expression.columns if variable not in dataset.columns]
    if absent:
        raise ConfigError(f"{where_name}: dataset {dataset_name} has no variable {absent[0]} (filter where {expression.text})")
    try:
        return dataset.loc[evaluate_mask(dataset, expression)].copy()
    except ExpressionError as exc:
        raise ConfigError(f"{where_name}: dataset {dataset_name}: {exc}") from None
