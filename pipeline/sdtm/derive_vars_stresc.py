"""derive_vars_stresc: standard results --STRESC / --STRESN / --STRESU (and --STNRLO / --STNRHI) from --ORRES."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError, InputError
from pipeline.sdtm.derive_helpers import as_tuple, blank_to_na, check_domain, check_frame, first_rows, format_number

NUMBER_PATTERN = r"^\s*(<=|>=|<|>|=)?\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*$"
CONVERSION_COLUMNS = ("ORRESU", "STRESU", "FACTOR")


def parse_censored(text: pd.Series) -> pd.DataFrame:
    """Split result text into a comparison operator (``<``, ``<=``, ``>``, ``>=`` or None) and a number.

    Text that is not a (possibly censored) number gives NaN. ``=`` is dropped.

    >>> parse_censored(pd.Series(["12.5", "<0.1", ">= 1000", "NEGATIVE", None, "1,5"]))
      operator  number
    0     None    12.5
    1        <     0.1
    2       >=  1000.0
    3     None     NaN
    4     None     NaN
    5     None     NaN
    """
    codes, uniques = pd.factorize(text.astype("object"), use_na_sentinel=True)
    parts = pd.Series(uniques, dtype="object").astype("string").str.extract(NUMBER_PATTERN)
    number = pd.to_numeric(parts[1], errors="coerce").astype("float64").to_numpy()
    keep = (parts[0].isin(["<", "<=", ">", ">="]).to_numpy(dtype=bool)) & ~np.isnan(number)
    operator = np.where(keep, parts[0].astype("object").to_numpy(), None)
    take = np.where(codes < 0, 0, codes)
    missing = codes < 0
    if len(uniques) == 0:
        return pd.DataFrame({"operator": np.full(len(text), None, dtype=object), "number": np.full(len(text), np.nan)}, index=text.index)
    operator_all = operator.take(take)
    operator_all[missing] = None
    number_all = number.take(take)
    number_all[missing] = np.nan
    return pd.DataFrame({"operator": operator_all, "number": number_all}, index=text.index)


def derive_vars_stresc(
    dataset: pd.DataFrame,
    domain: str,
    dataset_add: pd.DataFrame | None = None,
    by_vars: str | Sequence[str] | None = None,
    strict: bool = False,
) -> pd.DataFrame:
    """Derive ``--STRESC``, ``--STRESN``, ``--STRESU`` (and ``--STNRLO``/``--STNRHI``) from the original results.

    - Numeric ``--ORRES``: converted with the matching row of ``dataset_add``
      (``value x FACTOR + OFFSET``, rounded to ``DECIMALS`` when given); STRESC is the converted
      number as short text, STRESN the number, STRESU the standard unit.
    - Censored values (``<0.1``, ``>=1000``): STRESC keeps the operator with the converted number
      (``<8.842``), STRESN stays null (SDTMIG).
    - Text results (``NEGATIVE``, ``1+``): STRESC = ORRES (trimmed), STRESN null.
    - Missing ORRES (e.g. ``--STAT = NOT DONE``): all three null.
    - No conversion row for a record's test and unit: the original unit is standard (factor 1);
      with ``strict=True`` that raises InputError naming the rows instead.
    - ``--ORNRLO``/``--ORNRHI``, when present, become numeric ``--STNRLO``/``--STNRHI`` the same way.

    Args:
        dataset: findings records with ``<domain>ORRES`` (and usually ``<domain>ORRESU``, ``<domain>TESTCD``).
        domain: two-letter domain code (prefix of the variables).
        dataset_add: unit conversions, one row per ``by_vars`` + ``ORRESU``: columns ``by_vars``,
            ``ORRESU``, ``STRESU``, ``FACTOR`` and optional ``OFFSET``, ``DECIMALS``.
        by_vars: columns that select a conversion besides the unit (default ``<domain>TESTCD``;
            ``()`` = by unit only).

    >>> lb = pd.DataFrame({"LBTESTCD": ["CREAT", "CREAT", "CREAT", "UPROT", "RBC"],
    ...     "LBORRES": ["1.2", "<0.5", "95", "30", "NEGATIVE"],
    ...     "LBORRESU": ["mg/dL", "mg/dL", "umol/L", "mg/dL", None]})
    >>> conversions = pd.DataFrame({"LBTESTCD": ["CREAT"], "ORRESU": ["mg/dL"], "STRESU": ["umol/L"],
    ...     "FACTOR": [88.42], "DECIMALS": [1]})
    >>> derive_vars_stresc(lb, "LB", dataset_add=conversions)[["LBORRES", "LBSTRESC", "LBSTRESN", "LBSTRESU"]]
        LBORRES  LBSTRESC  LBSTRESN LBSTRESU
    0       1.2     106.1     106.1   umol/L
    1      <0.5     <44.2       NaN   umol/L
    2        95        95      95.0   umol/L
    3        30        30      30.0    mg/dL
    4  NEGATIVE  NEGATIVE       NaN     None
    """
    check_domain(domain)
    orres, orresu = f"{domain}ORRES", f"{domain}ORRESU"
    keys = list(as_tuple(by_vars, "by_vars")) if by_vars is not None else [f"{domain}TESTCD"]
    check_frame(dataset, domain, [orres, *keys])
    unit = blank_to_na(dataset[orresu]) if orresu in dataset.columns else pd.Series(None, index=dataset.index, dtype=object)

    conversion = _conversion_per_record(dataset, unit, keys, dataset_add, domain)
    result_text = blank_to_na(dataset[orres])
    parsed = parse_censored(result_text)
    is_number = parsed["number"].notna()
    needs_row = is_number & conversion["FACTOR"].isna() & unit.notna()
    if strict and dataset_add is not None and needs_row.any():
        raise InputError(
            f"dataset {domain}: no unit conversion for "
            + first_rows(needs_row, dataset, [*keys, orresu, orres])
        )
    value = _convert(parsed["number"], conversion)
    std_text = format_number(value)
    censored = is_number & parsed["operator"].notna()
    stresc = result_text.where(~is_number, std_text)
    stresc = stresc.where(~censored, parsed["operator"].fillna("") + std_text.fillna(""))
    stresu = conversion["STRESU"].where(conversion["STRESU"].notna(), unit)

    result = dataset.copy()
    result[f"{domain}STRESC"] = stresc.astype("object").where(stresc.notna(), None)
    result[f"{domain}STRESN"] = value.where(is_number & ~censored).astype("float64")
    result[f"{domain}STRESU"] = stresu.astype("object").where(result_text.notna() & stresu.notna(), None)
    for original, standard in (("ORNRLO", "STNRLO"), ("ORNRHI", "STNRHI")):
        if f"{domain}{original}" in dataset.columns:
            bound = parse_censored(blank_to_na(dataset[f"{domain}{original}"]))["number"]
            result[f"{domain}{standard}"] = _convert(bound, conversion).astype("float64")
    return result


def _conversion_per_record(dataset, unit, keys, dataset_add, domain) -> pd.DataFrame:
    empty = pd.DataFrame(
        {"STRESU": pd.Series(None, index=dataset.index, dtype=object),
         "FACTOR": np.nan, "OFFSET": 0.0, "DECIMALS": np.nan},
        index=dataset.index,
    )
    if dataset_add is None:
        return empty
    check_frame(dataset_add, "dataset_add (unit conversions)", [*keys, *CONVERSION_COLUMNS])
    table = dataset_add[[*keys, *CONVERSION_COLUMNS, *[c for c in ("OFFSET", "DECIMALS") if c in dataset_add.columns]]].copy()
    factor = pd.to_numeric(table["FACTOR"], errors="coerce")
    if factor.isna().any():
        raise ConfigError("dataset_add (unit conversions): FACTOR must be a number on every row, not on "
                          + first_rows(factor.isna(), table, [*keys, "ORRESU", "FACTOR"]))
    table["FACTOR"] = factor
    table["OFFSET"] = pd.to_numeric(table.get("OFFSET", 0.0), errors="coerce").fillna(0.0) if "OFFSET" in table else 0.0
    table["DECIMALS"] = pd.to_numeric(table["DECIMALS"], errors="coerce") if "DECIMALS" in table else np.nan
    table["_unit"] = blank_to_na(table["ORRESU"])
    clash = table.duplicated([*keys, "_unit"], keep=False)
    if clash.any():
        raise ConfigError(
            "dataset_add (unit conversions): more than one row for " + first_rows(clash, table, [*keys, "ORRESU"])
        )
    records = dataset[keys].reset_index(drop=True).assign(_unit=unit.to_numpy())
    merged = records.merge(table.drop(columns="ORRESU"), on=[*keys, "_unit"], how="left")
    merged.index = dataset.index
    merged["OFFSET"] = merged["OFFSET"].fillna(0.0)
    merged["STRESU"] = merged["STRESU"].astype("object").where(merged["STRESU"].notna(), None)
    return merged[["STRESU", "FACTOR", "OFFSET", "DECIMALS"]]


def _convert(number: pd.Series, conversion: pd.DataFrame) -> pd.Series:
    factor = conversion["FACTOR"].fillna(1.0)
    value = number * factor + conversion["OFFSET"].where(conversion["FACTOR"].notna(), 0.0)
    decimals = conversion["DECIMALS"]
    if decimals.notna().any():
        rounded = value.copy()
        for places in pd.unique(decimals.dropna()):
            rows = decimals == places
            rounded[rows] = _round_half_up(value[rows], int(places))
        value = rounded
    return value.astype("float64")


def _round_half_up(values: pd.Series, places: int) -> pd.Series:
    """Round half away from zero (as SAS ROUND does), not to even; guards against float representation."""
    scale = 10.0**places
    scaled = values * scale
    return np.sign(scaled) * np.floor(np.abs(scaled) + 0.5 + 1e-9) / scale
