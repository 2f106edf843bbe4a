"""Per-distinct-value helpers: clinical text columns repeat a few values many times, so a Python
function applied to the distinct values and broadcast back is fast and stays exact."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd


def map_unique(values: pd.Series, func: Callable[[Any], Any], missing: Any = None) -> np.ndarray:
    """``func`` applied to each distinct non-missing value, broadcast back to every row.

    >>> map_unique(pd.Series(["ab", None, "ab", "c"]), len, missing=0).tolist()
    [2, 0, 2, 1]
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([func(u) for u in uniques] + [missing], dtype=object)
    return mapped[codes]  # code -1 (missing) picks the trailing ``missing``


def byte_lengths(values: pd.Series) -> np.ndarray:
    """UTF-8 byte length of each text value, 0 for missing or non-text values.

    >>> byte_lengths(pd.Series(["\\u00e9", "ab", None, 3])).tolist()
    [2, 2, 0, 0]
    """
    lengths = map_unique(values, lambda v: len(v.encode("utf-8")) if isinstance(v, str) else 0, missing=0)
    return lengths.astype("int64")


def as_text(values: pd.Series) -> pd.Series:
    """Text column as ``str`` values with ``None`` for missing: booleans become Y/N, numbers their text.

    >>> as_text(pd.Series([True, False, None])).tolist(), as_text(pd.Series(["a", 3, None], dtype=object)).tolist()
    (['Y', 'N', None], ['a', '3', None])
    """
    if pd.api.types.is_bool_dtype(values):
        values = values.map({True: "Y", False: "N"})
    text = values.astype(object)
    text = text.where(text.notna(), None)
    if pd.api.types.infer_dtype(text, skipna=True) not in ("string", "empty"):
        mapped = map_unique(text, lambda v: "Y" if v is True else "N" if v is False else
                            (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)), missing=None)
        text = pd.Series(mapped, index=values.index, dtype=object)
    return text
