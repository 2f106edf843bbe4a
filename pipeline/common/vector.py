"""Per-distinct-value helpers: text columns repeat a few values many times, so work done once per distinct
value is fast and exact. Packaging looks at each column several times (ASCII, lengths, XPT, Dataset-JSON), so
a column's factorisation is kept, keyed by its memory, until the stage calls :func:`forget_columns` after
each dataset; frames are never changed in place while packaging, which makes the address a safe key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.text import value_text

MAX_KEPT = 2048
_FACTORIZED: dict[tuple, tuple[Any, np.ndarray, np.ndarray]] = {}
_TEXT: dict[tuple, tuple[Any, pd.Series]] = {}


def _object_values(values):
    """The object ndarray behind a text column (pandas ``string[python]`` keeps one too), else ``values``."""
    if isinstance(values, pd.Series):
        if values.dtype == object:
            return values.to_numpy()
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "python":
            return getattr(values.array, "_ndarray", values)
    return values


def _memory_key(values) -> tuple | None:
    array = _object_values(values)
    if not isinstance(array, np.ndarray) or array.dtype != object:
        return None
    return (array.__array_interface__["data"][0], array.shape, array.strides)


def forget_columns() -> None:
    """Drop the kept factorisations (call when the frames they describe are done with)."""
    _FACTORIZED.clear()
    _TEXT.clear()


def factorize(values) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values) as ``pd.factorize`` gives them, missing as code -1; text columns are
    factorised once and the result reused.

    >>> codes, uniques = factorize(pd.Series(["b", None, "b", "a"], dtype=object))
    >>> codes.tolist(), list(uniques)
    ([0, -1, 0, 1], ['b', 'a'])
    """
    key = _memory_key(values)
    kept = _FACTORIZED.get(key) if key else None
    if kept is not None:
        return kept[1], kept[2]
    if len(_FACTORIZED) >= MAX_KEPT:   # a caller that never forgets (a test session) stays bounded
        forget_columns()
    codes, uniques = pd.factorize(_object_values(values), use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object) if not isinstance(uniques, np.ndarray) else uniques
    if key:
        _FACTORIZED[key] = (values, codes, uniques)   # the reference keeps the memory (and the key) valid
    return codes, uniques


def remember_factorization(values: pd.Series, codes: np.ndarray, uniques: np.ndarray) -> None:
    """Keep a factorisation of ``values`` the caller already has, exactly as :func:`factorize` would give it
    (``np.intp`` codes in order of first appearance, -1 for missing; ``uniques`` an object array), so that
    :func:`factorize` does not hash every row again. Kept, and forgotten, like the factorisations it computes.

    >>> values = pd.Series(["b", None, "b", "a"], dtype=object)
    >>> remember_factorization(values, np.array([0, -1, 0, 1], dtype=np.intp), np.array(["b", "a"], dtype=object))
    >>> codes, uniques = factorize(values)
    >>> codes.tolist(), list(uniques)
    ([0, -1, 0, 1], ['b', 'a'])
    >>> forget_columns()
    """
    key = _memory_key(values)
    if key is None:
        return
    if len(_FACTORIZED) >= MAX_KEPT:
        forget_columns()
    _FACTORIZED[key] = (values, codes, uniques)   # the reference keeps the memory (and the key) valid


def is_all_missing(values: pd.Series) -> bool:
    """``values.isna().all()``; a text column answers from its kept factorisation (missing values have no code).

    >>> is_all_missing(pd.Series([None, float("nan")], dtype=object)), is_all_missing(pd.Series(["", None]))
    (True, False)
    """
    if _memory_key(values) is None:
        return bool(values.isna().all())
    return not len(factorize(values)[1])


def byte_lengths(values: pd.Series) -> np.ndarray:
    """UTF-8 byte length of each text value, 0 for missing or non-text values.

    >>> byte_lengths(pd.Series(["\\u00e9", "ab", None, 3])).tolist()
    [2, 2, 0, 0]
    """
    codes, uniques = factorize(values)
    lengths = np.array([len(v.encode("utf-8")) if isinstance(v, str) else 0 for v in uniques] + [0], dtype="int64")
    return lengths[codes]   # code -1 (missing) picks the trailing 0


def as_text(values: pd.Series) -> pd.Series:
    """Text column as ``str`` values with ``None`` for missing: booleans become Y/N, numbers their text.

    >>> as_text(pd.Series([True, False, None])).tolist(), as_text(pd.Series(["a", 3, None], dtype=object)).tolist()
    (['Y', 'N', None], ['a', '3', None])
    """
    key = _memory_key(values)
    kept = _TEXT.get(key) if key else None
    if kept is not None and kept[1].index.equals(values.index):
        return kept[1]
    codes, uniques = factorize(values)
    texts = np.array([("Y" if u else "N") if isinstance(u, (bool, np.bool_)) else value_text(u) for u in uniques]
                     + [None], dtype=object)
    text = pd.Series(texts[codes], index=values.index, dtype=object)
    if key:
        _TEXT[key] = (values, text)
        # the text column's factorisation is known: same codes, the distinct values as text
        _FACTORIZED[_memory_key(text)] = (text, codes, texts[:-1])
    return text
