"""derive_summary_records: add one summary record per group (a total score, an exposure summary ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pipeline.adam._utils import DerivationError, as_list, check_frame, eval_condition

SUMMARY_FUNCTIONS = ("sum", "mean", "median", "min", "max", "count", "first", "last")


def summarise(values: pd.core.groupby.SeriesGroupBy, summary_fun: str) -> pd.Series:
    """Apply a named summary to grouped values; an all-missing group gives a missing sum.

    >>> df = pd.DataFrame({"G": ["a", "a", "b"], "V": [1.0, 2.0, None]})
    >>> summarise(df.groupby("G")["V"], "sum").tolist()
    [3.0, nan]
    """
    if summary_fun == "sum":
        return values.sum(min_count=1)
    if summary_fun == "count":
        return values.count().astype(float)
    return getattr(values, summary_fun)()


def derive_summary_records(
    dataset: pd.DataFrame,
    by_vars: Sequence[str],
    set_values_to: Mapping[str, Any],
    filter_add: str | None = None,
    analysis_var: str = "AVAL",
    summary_fun: str = "sum",
    expected_n: int | None = None,
    summary_vars: Mapping[str, Sequence[str]] | None = None,
    dataset_add: pd.DataFrame | None = None,
    new_var: str | None = None,
) -> pd.DataFrame:
    """Append per ``by_vars`` group a record with ``analysis_var`` = ``summary_fun`` of the source records.

    Sources are ``dataset_add`` (default: ``dataset``) records meeting ``filter_add``.
    ``expected_n``: the summary is missing unless the group has exactly that many non-missing
    values (e.g. 24 items of an instrument whose total is missing when any item is missing).
    ``summary_vars`` adds more summaries, ``{new_var: [source_var, summary_fun]}`` (e.g.
    ``ASTDT: [ASTDT, min]``). ``set_values_to`` holds constants such as PARAMCD, PARAM, DTYPE.
    ``new_var`` (default ``analysis_var``) receives the summary, e.g. a sum of DOSEKG into AVAL.

    >>> rs = pd.DataFrame({"USUBJID": ["1"] * 3 + ["2"] * 3, "PARAMCD": ["I1", "I2", "I3"] * 2,
    ...                    "AVAL": [4.0, 0.0, 2.0, 4.0, None, 2.0]})
    >>> out = derive_summary_records(rs, ["USUBJID"], {"PARAMCD": "TOTAL"}, expected_n=3)
    >>> out[out.PARAMCD == "TOTAL"][["USUBJID", "AVAL"]]
      USUBJID  AVAL
    6       1   6.0
    7       2   NaN
    """
    by = as_list(by_vars, "by_vars")
    source = dataset if dataset_add is None else dataset_add
    extra = dict(summary_vars or {})
    check_frame(dataset, "dataset")
    check_frame(source, "dataset_add" if dataset_add is not None else "dataset",
                by + [analysis_var] + [spec[0] for spec in extra.values()])
    for fun in [summary_fun] + [spec[1] for spec in extra.values()]:
        if fun not in SUMMARY_FUNCTIONS:
            raise DerivationError(f"derive_summary_records: summary function {fun!r} not in {SUMMARY_FUNCTIONS}")
    if not set_values_to:
        raise DerivationError("derive_summary_records: set_values_to must give at least PARAMCD")
    used = list(dict.fromkeys(by + [analysis_var] + [spec[0] for spec in extra.values()]))
    rows = source.loc[eval_condition(source, filter_add, "filter_add"), used]  # (not a copy of every column)
    grouped = rows.groupby(by, sort=True, dropna=False)
    result = summarise(grouped[analysis_var], summary_fun).rename(analysis_var).to_frame()
    if expected_n is not None:
        complete = grouped[analysis_var].count() == int(expected_n)
        result[analysis_var] = result[analysis_var].where(complete)
    for extra_var, (source_var, fun) in extra.items():
        result[extra_var] = summarise(grouped[source_var], fun)
    result = result.reset_index()
    if new_var and new_var != analysis_var:
        result = result.rename(columns={analysis_var: new_var})
    for var, value in set_values_to.items():
        result[var] = value
    return pd.concat([dataset, result], ignore_index=True)
