"""Row filters of the shells (``where: {PARAMCD: LUPCR, AVISIT: WEEK 24}`` or an expression)."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.expressions import ExpressionError, evaluate_mask, where_expression

def filter_where(dataset: pd.DataFrame, where: Mapping[str, Any] | str | None, where_name: str = "where",
                 dataset_name: str = "dataset") -> pd.DataFrame:
    """Keep the rows of ``dataset`` meeting ``where`` (a copy; input untouched).

    ``where`` is an expression or a filter mapping (docs/expression-language.md). A variable absent
    from the dataset is a :class:`ConfigError` naming ``where_name``, the dataset and the variable.

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
        if isinstance(where, Mapping) and len(where) > 1:
            try:
                return _filter_condition_by_condition(dataset, where, where_name)
            except ExpressionError:
                pass  # the whole filter again, for the error message naming the whole filter
        return dataset.loc[evaluate_mask(dataset, expression)].copy()
    except ExpressionError as exc:
        raise ConfigError(f"{where_name}: dataset {dataset_name}: {exc}") from None


def _filter_condition_by_condition(dataset: pd.DataFrame, where: Mapping[str, Any], where_name: str) -> pd.DataFrame:
    """The rows meeting every condition of a filter mapping, each condition evaluated on the rows
    the ones before it kept: the same rows in the same order as the whole filter (every condition
    holds row by row), but only the first one reads every record of a large BDS dataset.

    >>> adlb = pd.DataFrame({"PARAMCD": ["A", "B", "A"], "AVISIT": ["W1", "W1", None]}, index=[4, 5, 6])
    >>> _filter_condition_by_condition(adlb, {"PARAMCD": "A", "AVISIT": {"notnull": True}}, "where").index.tolist()
    [4]
    """
    rows = dataset
    for variable, condition in where.items():
        rows = rows.loc[evaluate_mask(rows, where_expression({variable: condition}, where_name))]
    return rows.copy()
