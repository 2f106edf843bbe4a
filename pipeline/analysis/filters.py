"""Row filters written as data in the shell (``where: {PARAMCD: LUPCR, AVISIT: WEEK 24}``)."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from pipeline.common.errors import ConfigError

OPERATORS = ("eq", "ne", "in", "notin", "notnull", "isnull")


def _condition_mask(column: pd.Series, condition: Any, where_name: str, variable: str) -> pd.Series:
    if isinstance(condition, Mapping):
        if len(condition) != 1 or next(iter(condition)) not in OPERATORS:
            raise ConfigError(f"{where_name}: filter on {variable} must be a value, a list or one of "
                              f"{{{', '.join(OPERATORS)}}}: got {dict(condition)}")
        op, value = next(iter(condition.items()))
        if op == "eq":
            return column == value
        if op == "ne":
            return (column != value) & column.notna()
        if op == "in":
            return column.isin(list(value))
        if op == "notin":
            return ~column.isin(list(value)) & column.notna()
        present = column.notna() & (column.astype(str).str.strip() != "")  # blank text counts as missing
        if op == "notnull":
            return present if value else ~present
        return ~present if value else present
    if isinstance(condition, (list, tuple)):
        return column.isin(list(condition))
    return column == condition


def filter_where(dataset: pd.DataFrame, where: Mapping[str, Any] | None, where_name: str = "where",
                 dataset_name: str = "dataset") -> pd.DataFrame:
    """Keep the rows of ``dataset`` meeting every condition of ``where`` (a copy; input untouched).

    A scalar keeps equal values, a list keeps values in the list, ``{ne: x}``, ``{notin: [..]}``,
    ``{notnull: true}`` and ``{isnull: true}`` do what they say (blank text counts as missing;
    ``{notnull: false}`` is ``{isnull: true}``). A variable absent from the
    dataset is a :class:`ConfigError` naming ``where_name``, the dataset and the variable.

    >>> adae = pd.DataFrame({"USUBJID": ["1", "1", "2"], "AESER": ["Y", "N", "Y"], "AESEV": ["MILD", None, "SEVERE"]})
    >>> filter_where(adae, {"AESER": "Y", "AESEV": {"ne": "MILD"}})["USUBJID"].tolist()
    ['2']
    >>> filter_where(adae, {"AEACN": "DRUG WITHDRAWN"}, "tlf.yaml table2.ae_disc", "adae")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: tlf.yaml table2.ae_disc: dataset adae has no variable AEACN (filter where AEACN = 'DRUG WITHDRAWN')
    """
    if not where:
        return dataset.copy()
    if not isinstance(where, Mapping):
        raise ConfigError(f"{where_name}: 'where' must be a mapping of variable to value, got {where!r}")
    mask = pd.Series(True, index=dataset.index)
    for variable, condition in where.items():
        if variable not in dataset.columns:
            raise ConfigError(f"{where_name}: dataset {dataset_name} has no variable {variable} "
                              f"(filter where {variable} = {condition!r})")
        mask &= _condition_mask(dataset[variable], condition, where_name, variable).fillna(False).astype(bool)
    return dataset.loc[mask].copy()
