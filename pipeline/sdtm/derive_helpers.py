"""Small shared helpers for the SDTM derivation verbs (argument checks, number text); ISO 8601
date text is read by :mod:`pipeline.common.dates`.

Not a verb: these helpers are used by ``derive_*.py``, ``trial_design.py``, ``supp.py`` and
``relrec.py`` so that every verb checks its inputs and reads ISO 8601 text the same way.
All of them are vectorised and never modify their inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pipeline.common.dates import on_unique_values
from pipeline.common.errors import ConfigError, InputError

_DOMAIN_RE = re.compile(r"^[A-Z][A-Z0-9]$")
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")


def check_domain(domain: object, argument: str = "domain") -> str:
    """Return ``domain`` if it is a two-character SDTM domain code, else raise ConfigError.

    >>> check_domain("AE")
    'AE'
    >>> check_domain("ae")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: argument domain: 'ae' is not a two-character upper-case SDTM domain code
    """
    if not isinstance(domain, str) or not _DOMAIN_RE.match(domain):
        raise ConfigError(f"argument {argument}: {domain!r} is not a two-character upper-case SDTM domain code")
    return domain


def check_variable_name(name: object, argument: str) -> str:
    """Return ``name`` if it is a valid SDTM variable name (<= 8 chars, letters/digits, starts with a letter).

    >>> check_variable_name("AESEQ", "new_var")
    'AESEQ'
    >>> check_variable_name("AE_SEQ", "new_var")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: argument new_var: 'AE_SEQ' is not a valid SDTM name (upper case, <= 8 letters/digits, starting with a letter)
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f"argument {argument}: {name!r} is not a valid SDTM name "
                          "(upper case, <= 8 letters/digits, starting with a letter)")
    return name


def check_choice(value: object, argument: str, choices: Sequence[str]) -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``.

    >>> check_choice("soon", "same_day", ("later", "earlier"))
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: argument same_day: 'soon' must be one of later, earlier
    """
    if value not in choices:
        raise ConfigError(f"argument {argument}: {value!r} must be one of {', '.join(choices)}")


def check_frame(dataset: object, name: str, required: Iterable[str] = ()) -> pd.DataFrame:
    """Check that ``dataset`` is a DataFrame holding every ``required`` column; name the culprit.

    >>> check_frame(pd.DataFrame({"USUBJID": ["1"]}), "dm", ["USUBJID"]).shape
    (1, 1)
    >>> check_frame(pd.DataFrame({"USUBJID": ["1"]}), "dm", ["RFSTDTC"])
    Traceback (most recent call last):
    ...
    pipeline.common.errors.InputError: dataset dm: missing column(s) RFSTDTC (has: USUBJID)
    """
    if not isinstance(dataset, pd.DataFrame):
        raise InputError(f"dataset {name}: expected a pandas DataFrame, got {type(dataset).__name__}")
    missing = [col for col in required if col not in dataset.columns]
    if missing:
        have = ", ".join(map(str, dataset.columns[:30]))
        raise InputError(f"dataset {name}: missing column(s) {', '.join(missing)} (has: {have})")
    return dataset


def as_tuple(value: str | Sequence[str] | None, argument: str) -> tuple[str, ...]:
    """Normalise a column name or a sequence of names to a tuple.

    >>> as_tuple("USUBJID", "by_vars"), as_tuple(["A", "B"], "order"), as_tuple(None, "order")
    (('USUBJID',), ('A', 'B'), ())
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise ConfigError(f"argument {argument}: expected a column name or a list of names, got {value!r}") from None
    bad = [item for item in items if not isinstance(item, str)]
    if bad:
        raise ConfigError(f"argument {argument}: column names must be text, got {bad[0]!r}")
    return items


def blank_to_na(series: pd.Series) -> pd.Series:
    """Text with surrounding spaces removed; empty strings become missing (object dtype).

    Works on the distinct values only, so long columns with repeated values are cheap.

    >>> blank_to_na(pd.Series([" a ", "", None, 3])).tolist()
    ['a', None, None, 3]
    """
    return on_unique_values(series, lambda uniques: pd.Series(
        [value.strip() or None if isinstance(value, str) else value for value in uniques], dtype=object))


def format_number(values: pd.Series) -> pd.Series:
    """Numbers as short text for character variables: 3.0 -> '3', 0.1 -> '0.1', NaN -> None.

    Rounds to 12 significant digits first so that float noise (0.30000000000000004) never shows.

    >>> format_number(pd.Series([3.0, 0.1 + 0.2, None, 1e-7, 108.7566])).tolist()
    ['3', '0.3', None, '0.0000001', '108.7566']
    """
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    unique = pd.unique(numbers[numbers.notna()].to_numpy())
    lookup = {value: np.format_float_positional(float(f"{value:.12g}"), trim="-") for value in unique}
    return numbers.map(lookup).astype("object").where(numbers.notna(), None)


def domain_of(variable: str) -> str:
    """The two-letter domain prefix of a domain-prefixed variable name.

    >>> domain_of("LBSTRESC")
    'LB'
    """
    return variable[:2]


def first_rows(mask: pd.Series, dataset: pd.DataFrame, columns: Sequence[str], limit: int = 3) -> str:
    """Describe the first offending rows of ``dataset`` (row number and some columns) for an error message.

    >>> first_rows(pd.Series([False, True]), pd.DataFrame({"USUBJID": ["A", "B"]}), ["USUBJID"])
    'row 1 (USUBJID=B)'
    """
    hits = dataset.loc[mask.to_numpy()]
    described = []
    for position, (_, row) in zip(np.flatnonzero(mask.to_numpy()), hits.head(limit).iterrows()):
        cells = ", ".join(f"{col}={row[col]}" for col in columns if col in hits.columns)
        described.append(f"row {position} ({cells})")
    more = len(hits) - limit
    return "; ".join(described) + (f"; and {more} more" if more > 0 else "")


