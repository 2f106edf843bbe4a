"""Frames as every check sees them: text as Arrow strings with blanks as null, values shown as text.

Kept apart from :mod:`pipeline.validate.schemas` so the conformance rules load without pandera.
"""

from __future__ import annotations

import pandas as pd

TEXT_DTYPE = pd.StringDtype("pyarrow")


def prepare_dataset(dataset: pd.DataFrame) -> pd.DataFrame:
    """A copy with a 0..n-1 index, text as Arrow strings and blank or whitespace-only text as null.

    SDTM writes a null character value as ""; validation treats it as null.

    >>> prepare_dataset(pd.DataFrame({"A": ["x", "", "  ", None]}))["A"].isna().tolist()
    [False, True, True, True]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    out = dataset.reset_index(drop=True).copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string":
            continue  # all null (either type fits) or mixed content (the type check CG0012 reports it)
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            if values.dtype == TEXT_DTYPE:
                array = pa.chunked_array(values.array._pa_array).combine_chunks()
            else:
                array = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
            if array.type != pa.string():
                array = array.cast(pa.string())
            blank = pc.equal(pc.utf8_trim_whitespace(array), "")
            if pc.any(blank).as_py():
                array = pc.if_else(blank, pa.scalar(None, pa.string()), array)
            out[column] = pd.Series(pd.arrays.ArrowStringArray(array), index=out.index, name=column)
    return out


def as_text(values: pd.Series) -> pd.Series:
    """The values as Arrow-backed text (no copy when they already are).

    >>> str(as_text(pd.Series(["a", None])).dtype)
    'string'
    """
    return values if values.dtype == TEXT_DTYPE else values.astype(TEXT_DTYPE)


def display_text(values: pd.Series) -> pd.Series:
    """Values as text for messages: whole floats without ``.0``, null as empty text.

    >>> display_text(pd.Series([1.0, 2.5, None])).tolist()
    ['1', '2.5', '']
    """
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.notna() & (values % 1 == 0)
        text = values.astype(object).astype(str)
        text[whole] = values[whole].astype("int64").astype(str)
        return text.where(values.notna(), "").astype(TEXT_DTYPE)
    return values.astype(TEXT_DTYPE).fillna("")
