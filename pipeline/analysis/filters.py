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
        return dataset.loc[evaluate_mask(dataset, expression)].copy()
    except ExpressionError as exc:
        raise ConfigError(f"{where_name}: dataset {dataset_name}: {exc}") from None
