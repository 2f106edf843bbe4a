"""derive_var_seq: the --SEQ sequence number, deterministic whatever the input row order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.sdtm.derive_helpers import as_tuple, check_domain, check_frame


def derive_var_seq(
    dataset: pd.DataFrame,
    domain: str,
    order: str | Sequence[str],
    by_vars: str | Sequence[str] = ("USUBJID",),
    new_var: str | None = None,
) -> pd.DataFrame:
    """Add ``<domain>SEQ`` = 1..n within each ``by_vars`` group, numbered in ``order``.

    Records are sorted by ``by_vars`` then ``order`` (missing values last); records that tie on
    ``order`` are ordered by a hash of the text of every remaining column (column names sorted), so
    the numbering is the same for any input row order. Exact duplicate records are interchangeable;
    put a meaningful tiebreak (e.g. ``--SPID`` or ``--TESTCD``) in ``order`` when the order matters.
    The result is returned sorted by ``by_vars`` and the new sequence number, with a fresh index.
    ISO 8601 dates sort correctly as text (a partial ``2019-03`` sorts before ``2019-03-15``).
    ``by_vars=()`` numbers the whole dataset (trial design domains).

    >>> ae = pd.DataFrame({
    ...     "USUBJID": ["S2", "S1", "S1", "S1"],
    ...     "AETERM": ["Headache", "Rash", "Nausea", "Fever"],
    ...     "AESTDTC": ["2019-01-05", "2019-02-01", "2019-01-10", "2019-01-10"],
    ... })
    >>> derive_var_seq(ae, "AE", order=["AESTDTC", "AETERM"])
      USUBJID    AETERM     AESTDTC  AESEQ
    0      S1     Fever  2019-01-10      1
    1      S1    Nausea  2019-01-10      2
    2      S1      Rash  2019-02-01      3
    3      S2  Headache  2019-01-05      1
    """
    check_domain(domain)
    order_vars = as_tuple(order, "order")
    group_vars = as_tuple(by_vars, "by_vars")
    new_var = new_var or f"{domain}SEQ"
    check_frame(dataset, domain, (*group_vars, *order_vars))
    if not order_vars:
        raise ConfigError(f"derive_var_seq({domain}): argument order is empty; give at least one sort key")

    source = dataset.drop(columns=[new_var], errors="ignore")
    keys = list(dict.fromkeys([*group_vars, *order_vars]))
    tiebreak = sorted(col for col in source.columns if col not in keys)
    sort_frame = pd.DataFrame({f"k{position}": source[col] for position, col in enumerate(keys)}, index=source.index)
    tied = source.duplicated(keys, keep=False).to_numpy() if tiebreak else np.zeros(len(source), dtype=bool)
    sort_frame["_tie"] = np.zeros(len(source), dtype="uint64")
    if tied.any():
        # records tied on the keys: order them by a content hash of the other columns (row-order free)
        hashes = pd.util.hash_pandas_object(source.loc[tied, tiebreak].astype("string"), index=False).to_numpy()
        sort_frame.loc[tied, "_tie"] = hashes
    try:
        ordered = sort_frame.sort_values(list(sort_frame.columns), na_position="last", kind="mergesort").index
    except TypeError:  # mixed value types in a key column: compare those as text
        for position, col in enumerate(keys):
            sort_frame[f"k{position}"] = _sortable(source[col])
        ordered = sort_frame.sort_values(list(sort_frame.columns), na_position="last", kind="mergesort").index
    result = source.loc[ordered].reset_index(drop=True)
    numbers = result.groupby(list(group_vars), sort=False, dropna=False).cumcount().to_numpy() if group_vars \
        else np.arange(len(result))
    result[new_var] = (numbers + 1).astype("int64")
    return result


def _sortable(series: pd.Series) -> pd.Series:
    """Numbers sort as numbers, everything else as text; missing stays missing (sorted last)."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        return series
    return series.astype("string")
