"""Every value of the flagship package read back (XPT with pyreadstat, Dataset-JSON with json) and
compared with the parquet it came from. The only differences allowed are the declared ones:

- XPT text: the ASCII spelling listed in ``checks.csv`` (check ``non-ASCII text``, value
  ``original -> XPT text``) for that dataset, variable and record; trailing blanks;
- missing text: XPT v5 and Dataset-JSON have no empty string apart from missing (``""`` = missing);
- numbers: the IBM/370 doubles of XPT keep 14 hexadecimal digits (relative 1e-12).

Dates, datetimes and times are compared as calendar values: pyreadstat converts the SAS
``DATE9.``/``DATETIME20.``/``TIME8.`` numbers itself, so the writer's arithmetic is checked
independently. An empty date must read back empty (never -9.22e18).
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
import pyreadstat
import pytest


def _declared_conversions(ctx) -> dict[tuple[str, str, int], tuple[str, str]]:
    checks = pd.read_csv(ctx.submission_dir / "checks.csv", dtype=str, keep_default_na=False)
    rows = checks[checks["check"] == "non-ASCII text"]
    out = {}
    for row in rows.itertuples(index=False):
        original, replacement = row.value.split(" -> ", 1)
        out[(row.dataset, row.variable, int(row.row))] = (original, replacement)
    return out


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT \
        or (not isinstance(value, str) and pd.isna(value))


def _as_date_text(value, kind: str) -> str | None:
    if _missing(value):
        return None
    stamp = pd.Timestamp(value)
    if kind == "date":
        return stamp.strftime("%Y-%m-%d")
    if kind == "time":
        return stamp.strftime("%H:%M:%S")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S")


def _text(value) -> str | None:
    if _missing(value):
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    text = str(value).rstrip()
    return text or None


def _same_number(want, got) -> bool:
    if _missing(want) or _missing(got):
        return _missing(want) and _missing(got)
    return math.isclose(float(want), float(got), rel_tol=1e-12, abs_tol=0.0)


def compare_dataset(standard_dir, parquet, conversions) -> list[str]:
    """Every difference between one parquet dataset and its XPT and Dataset-JSON files."""
    name = parquet.stem.upper()
    source = pd.read_parquet(parquet)
    source.columns = [c.upper() for c in source.columns]
    xpt, xpt_meta = pyreadstat.read_xport(standard_dir / f"{parquet.stem}.xpt")
    obj = json.loads((standard_dir / "datasetjson" / f"{parquet.stem}.json").read_text(encoding="utf-8"))
    problems: list[str] = []
    if list(xpt.columns) != list(source.columns):
        return [f"{name}: XPT columns {list(xpt.columns)} != parquet {list(source.columns)}"]
    json_columns = [c["name"] for c in obj["columns"]]
    if json_columns != list(source.columns):
        return [f"{name}: Dataset-JSON columns {json_columns} != parquet {list(source.columns)}"]
    if not (len(xpt) == len(source) == obj["records"] == len(obj["rows"])):
        return [f"{name}: records parquet {len(source)}, XPT {len(xpt)}, JSON {obj['records']}/{len(obj['rows'])}"]
    json_types = {c["name"]: c["dataType"] for c in obj["columns"]}
    for position, variable in enumerate(source.columns):
        column = source[variable]
        json_values = [row[position] for row in obj["rows"]]
        temporal = pd.api.types.is_datetime64_any_dtype(column) or \
            (column.dtype == object and any(isinstance(v, (dt.date, dt.time)) for v in column.dropna()[:1]))
        if temporal:
            kind = json_types[variable] if json_types[variable] in ("date", "datetime", "time") else "datetime"
            if xpt_meta.original_variable_types.get(variable, "").rstrip(".0123456789") not in ("DATE", "DATETIME", "TIME"):
                problems.append(f"{name}.{variable}: XPT format {xpt_meta.original_variable_types.get(variable)!r}, "
                                "expected a SAS date, datetime or time format")
                continue
            want = [_as_date_text(v, kind) for v in column]
            got_xpt = [_as_date_text(v, kind) for v in xpt[variable]]
            got_json = [None if v is None else str(v) for v in json_values]
        elif pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            want = column.tolist()
            bad = [i for i, (w, g) in enumerate(zip(want, xpt[variable].tolist())) if not _same_number(w, g)]
            bad_json = [i for i, (w, g) in enumerate(zip(want, json_values)) if not _same_number(w, g)]
            for where, rows, values in (("XPT", bad, xpt[variable].tolist()), ("Dataset-JSON", bad_json, json_values)):
                if rows:
                    problems.append(f"{name}.{variable} record {rows[0] + 1}: {where} {values[rows[0]]!r}, "
                                    f"parquet {want[rows[0]]!r} ({len(rows)} value(s))")
            continue
        else:
            want = [_text(v) for v in column]
            got_json = [None if v is None else str(v) for v in json_values]
            got_xpt = [_text(v) for v in xpt[variable]]
            expected_xpt = list(want)
            for record in range(len(want)):
                declared = conversions.get((name, variable, record + 1))
                if declared:
                    if declared[0] != column.iloc[record]:
                        problems.append(f"{name}.{variable} record {record + 1}: checks.csv names {declared[0]!r}, "
                                        f"parquet has {column.iloc[record]!r}")
                    expected_xpt[record] = _text(declared[1])
            for record, (w, g) in enumerate(zip(expected_xpt, got_xpt)):
                if w != g:
                    problems.append(f"{name}.{variable} record {record + 1}: XPT {g!r}, expected {w!r}")
                    break
            for record, (w, g) in enumerate(zip(want, got_json)):
                if w != g:
                    problems.append(f"{name}.{variable} record {record + 1}: Dataset-JSON {g!r}, parquet {w!r}")
                    break
            continue
        for where, got in (("XPT", got_xpt), ("Dataset-JSON", got_json)):
            bad = [i for i, (w, g) in enumerate(zip(want, got)) if w != g]
            if bad:
                problems.append(f"{name}.{variable} record {bad[0] + 1}: {where} {got[bad[0]]!r}, "
                                f"parquet {want[bad[0]]!r} ({len(bad)} value(s))")
    return problems


def test_every_xpt_and_dataset_json_value_equals_its_parquet_except_declared_ascii(flagship_package):
    ctx = flagship_package
    conversions = _declared_conversions(ctx)
    problems = []
    compared = 0
    for standard, source_dir in (("sdtm", ctx.sdtm_dir), ("adam", ctx.adam_dir)):
        for parquet in sorted(source_dir.glob("*.parquet")):
            problems.extend(compare_dataset(ctx.submission_dir / standard, parquet, conversions))
            compared += 1
    assert compared >= 25
    assert problems == []


def test_declared_ascii_conversions_cover_the_japanese_and_german_terms(flagship_package):
    conversions = _declared_conversions(flagship_package)
    originals = {original for original, _ in conversions.values()}
    assert "Bein\u00f6deme" in originals
    replacements = {original: replacement for original, replacement in conversions.values()}
    assert replacements["Bein\u00f6deme"] == "Beinodeme"
    assert replacements["\u88ab\u9a13\u8005\u306e\u90fd\u5408"] == "Subject unavailable"
    assert all(r.isascii() and "?" not in r for r in replacements.values())


def test_adsl_dthdt_is_empty_in_xpt_and_json_and_a_date_in_define(flagship_package):
    ctx = flagship_package
    assert pd.read_parquet(ctx.adam_dir / "adsl.parquet")["DTHDT"].isna().all()
    raw, meta = pyreadstat.read_xport(ctx.submission_dir / "adam" / "adsl.xpt", disable_datetime_conversion=True)
    assert raw["DTHDT"].isna().all()
    assert meta.original_variable_types["DTHDT"].rstrip(".") == "DATE9"
    obj = json.loads((ctx.submission_dir / "adam" / "datasetjson" / "adsl.json").read_text(encoding="utf-8"))
    position = [c["name"] for c in obj["columns"]].index("DTHDT")
    assert obj["columns"][position]["dataType"] == "date"
    assert obj["columns"][position]["displayFormat"] == "DATE9."
    assert {row[position] for row in obj["rows"]} == {None}
    define = (ctx.submission_dir / "adam" / "define.xml").read_text(encoding="utf-8")
    assert '<ItemDef OID="IT.ADSL.DTHDT" Name="DTHDT" DataType="integer" Length="8" SASFieldName="DTHDT" ' \
           'def:DisplayFormat="DATE9.">' in define


def test_all_null_meddra_codes_are_integers_not_floats(flagship_package):
    metadata = pd.read_csv(flagship_package.submission_dir / "sdtm" / "metadata.csv")
    ae = metadata[(metadata["dataset"] == "AE") & metadata["variable"].str.endswith("CD")]
    assert set(ae["kind"]) == {"integer"}
    assert len(ae) >= 5
