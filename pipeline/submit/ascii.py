"""Printable-ASCII transliteration for XPT v5 (FDA systems mishandle extended characters).

Every changed value is reported (dataset, variable, row, original, replacement), so a data manager
can fix the source instead of trusting a silent rewrite.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

from pipeline.submit._vector import map_unique

# Characters whose NFKD decomposition is not a useful ASCII spelling.
_SPECIAL = {
    "\u00b5": "u", "\u03bc": "u",           # micro sign, Greek mu (umol/L)
    "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
    "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D",
    "\u00fe": "th", "\u00de": "TH", "\u00f0": "d", "\u00d0": "D",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ", "\u200b": "",
    "\u00d7": "x", "\u00f7": "/", "\u00b0": " deg", "\u00b1": "+/-", "\u2264": "<=", "\u2265": ">=",
    "\u2026": "...", "\u2022": "*", "\u00b7": ".", "\u00ae": "(R)", "\u00a9": "(C)", "\u2122": "(TM)",
    "\u00b2": "2", "\u00b3": "3", "\u00b9": "1", "\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4",
    "\u20ac": "EUR", "\u00a3": "GBP", "\u00a5": "JPY",
}
REPLACEMENT_CHAR = "?"
_NOT_PRINTABLE_ASCII = re.compile(r"[^\t\x20-\x7e]")


def _printable(text: str) -> bool:
    return _NOT_PRINTABLE_ASCII.search(text) is None


def compute_ascii_text(value: str) -> str:
    """Printable-ASCII spelling of one text: accents dropped, typographic marks simplified.

    Control characters other than tab become a space; anything without an ASCII spelling
    becomes ``?``.

    >>> compute_ascii_text("Ca\\u00f1ada \\u00b5mol/L \\u2013 \\u201cok\\u201d")
    'Canada umol/L - "ok"'
    """
    if value.isascii() and value.isprintable():
        return value
    out = []
    for char in value:
        if char.isascii():
            out.append(char if (char.isprintable() or char == "\t") else " ")
        elif char in _SPECIAL:
            out.append(_SPECIAL[char])
        else:
            decomposed = unicodedata.normalize("NFKD", char)
            ascii_part = "".join(c for c in decomposed if c.isascii() and c.isprintable())
            out.append(ascii_part if ascii_part else REPLACEMENT_CHAR)
    return "".join(out)


def derive_vars_ascii(dataset: pd.DataFrame, dataset_name: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Transliterate every text column of ``dataset`` to printable ASCII.

    Returns (a new frame, a report with columns ``dataset, variable, row, original, replacement``,
    ``row`` being the 1-based record number). The caller's frame is not changed.

    >>> frame = pd.DataFrame({"LBORRESU": ["\\u00b5mol/L", "g/L", None], "LBSTRESN": [1.0, 2.0, 3.0]})
    >>> new, changes = derive_vars_ascii(frame, "LB")
    >>> new["LBORRESU"].tolist(), changes[["variable", "row", "replacement"]].values.tolist()
    (['umol/L', 'g/L', None], [['LBORRESU', 1, 'umol/L']])
    """
    if not isinstance(dataset, pd.DataFrame):
        raise TypeError(f"derive_vars_ascii: dataset {dataset_name!r} must be a DataFrame, got {type(dataset).__name__}")
    result = dataset.copy()
    reports = []
    for variable in result.columns:
        column = result[variable]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        flags = map_unique(column, lambda v: isinstance(v, str) and not (v.isascii() and _printable(v)), missing=False)
        needs = pd.Series(flags.astype(bool), index=column.index)
        if not needs.any():
            continue
        originals = column[needs].copy()
        mapping = {value: compute_ascii_text(value) for value in pd.unique(originals)}
        replaced = originals.map(mapping)
        result.loc[needs, variable] = replaced
        positions = needs.to_numpy().nonzero()[0]
        reports.append(pd.DataFrame({
            "dataset": dataset_name, "variable": variable, "row": positions + 1,
            "original": originals.to_numpy(), "replacement": replaced.to_numpy(),
        }))
    columns = ["dataset", "variable", "row", "original", "replacement"]
    report = pd.concat(reports, ignore_index=True) if reports else pd.DataFrame(columns=columns)
    return result, report[columns]
