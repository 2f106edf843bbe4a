"""The vectorised date reading (pyarrow, RE2) gives what the per-value Python reading gives, for every input:
non-ASCII digits, odd partial dates, unknown parts, impossible dates and times, ambiguous widths."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.sdtm.mapping import dates
from pipeline.sdtm.mapping.dates import MONTH_NAMES, _compiled, _parse_one, _parse_plain, parse_dates


@pytest.fixture(autouse=True)
def always_vectorised(monkeypatch):
    """parse_dates takes the vectorised reading from a few hundred distinct values: here from the first."""
    monkeypatch.setattr(dates, "VECTORISED_FROM", 0)

ODD_VALUES = [
    "05.03.2024", "5.3.2024", "31.02.2024", "29.02.2024", "29.02.2023", "29.02.1900", "29.02.2000", "00.03.2024",
    "05.13.2024", "05.00.2024", "UN.03.2024", "un.03.2024", "UN.UN.2024", "15.UN.2024", "--.03.2024", "??.03.2024",
    "05.03.0000", "05.03.0001", "05.03.9999", " 05.03.2024 ", "05.03.2024\n", "05.03.2024 14:30", "05.03.2024 24:00",
    "05.03.2024 23:60", "05.03.2024 9:05", "05.03.2024 14:30:59", "05.03.2024 14:30:60", "05.03.2024 14:30:05.25",
    "05.03.2024 UN:30", "05.03.2024 14:UN", "05.03.2024 14", "UN.03.2024 14:30", "1122019", "11220199",
    "05-MAR-2024", "05-mar-2024", "05-Mar.-2024", "05-MARCH-2024", "05-SEPT-2024", "05-MRZ-2024", "05-MÄR-2024",
    "05-UNK-2024", "UN-UNK-2024", "UNK", "unknown", "ND", "", "soon", "2024-03-05", "2024-03-05T14:30",
    "2024-03-05T14:30:00", "2024-03-05T14:30:00.5", "2024-03", "2024", "2024---05", "2024-03-05T14", "2024-03-05T-:30",
    "2024-02-30", "2024-3-5", "03-05-2024", "03/05/24", "03/05/31", "2024/03/05",
    # digits of other scripts: Python's \d reads them, RE2's does not; both paths must agree
    "٠٥.٠٣.٢٠٢٤", "05.03.٢٠٢٤", "２０２４-０３-０５", "05.03.2024 １４:30", "०५-MAR-2024",
    # other spaces and lookalikes: Python's strip() and case folding
    "\u00a005.03.2024\u2003", "05.03.2024\x1c", "05-\u017fEP-2024", "05-MAR-2024\u200b",
]
FORMATS = [
    ["%d.%m.%Y"], ["%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H", "%d.%m.%Y"], ["%d-%b-%Y"], ["iso8601"],
    ["%d%m%Y"], ["%m-%d-%Y"], ["%m/%d/%y"], ["%Y/%m/%d"], ["excel_serial", "%d.%m.%Y"], ["%Y-%m-%d", "iso8601"],
    ["%d.%m.%Y", "%d-%b-%Y", "iso8601"],
]


def _python_only(values: list[str], formats: list[str], month_names: dict[str, int] | None = None):
    names = {**MONTH_NAMES, **{str(k).upper(): int(v) for k, v in (month_names or {}).items()}}
    patterns = [(fmt, _compiled(fmt)) for fmt in formats]
    return [_parse_one(v.strip(), patterns, names, 30, " or ".join(formats)) for v in values]


@pytest.mark.parametrize("formats", FORMATS, ids=["|".join(f) for f in FORMATS])
def test_vectorised_reading_equals_the_python_reading(formats):
    parsed = parse_dates(pd.Series(ODD_VALUES), formats)
    assert list(zip(parsed.iso, parsed.reason)) == _python_only(ODD_VALUES, formats)


def test_a_site_month_name_table_is_read_the_same_way():
    names = {"MRZ": 3, "MAI": 5, "DEZ": 12, "BAD": 13}
    values = ["05-MRZ-2024", "05-mai-2024", "05-DEZ-2024", "05-BAD-2024", "05-MAR-2024", "05-XYZ-2024"]
    parsed = parse_dates(pd.Series(values), ["%d-%b-%Y"], month_names=names)
    assert parsed.iso.tolist() == ["2024-03-05", "2024-05-05", "2024-12-05", None, "2024-03-05", None]
    assert list(zip(parsed.iso, parsed.reason)) == _python_only(values, ["%d-%b-%Y"], names)


def test_few_values_are_read_one_by_one_with_the_same_result(monkeypatch):
    monkeypatch.setattr(dates, "VECTORISED_FROM", 10_000)
    parsed = parse_dates(pd.Series(ODD_VALUES), ["%d.%m.%Y", "iso8601"])
    assert list(zip(parsed.iso, parsed.reason)) == _python_only(ODD_VALUES, ["%d.%m.%Y", "iso8601"])


def test_non_ascii_digits_are_left_to_python_and_read_as_python_reads_them():
    iso, read = _parse_plain(["٠٥.٠٣.٢٠٢٤", "05.03.2024"], ["%d.%m.%Y"], MONTH_NAMES, 30)
    assert read.tolist() == [False, True]
    assert parse_dates(pd.Series(["٠٥.٠٣.٢٠٢٤"]), ["%d.%m.%Y"]).iso.tolist() == ["2024-03-05"]


@pytest.mark.parametrize(("raw", "fmt", "expected"), [
    ("5.3.2024", "%d.%m.%Y", "2024-03-05"),
    ("1122019", "%d%m%Y", "2019-02-11"),  # the day takes two digits, the month what is left before the year
    ("03/05/31", "%m/%d/%y", "1931-03-05"),
    ("03/05/30", "%m/%d/%y", "2030-03-05"),
    ("05.03.2024 9:05", "%d.%m.%Y %H:%M", "2024-03-05T09:05"),
    ("05.03.2024 14", "%d.%m.%Y %H", "2024-03-05T14"),
    ("2024-03-05T14:30:00", "iso8601", "2024-03-05T14:30:00"),
    ("05-Mar.-2024", "%d-%b-%Y", "2024-03-05"),
])
def test_plain_values_are_read_by_the_vectorised_path(raw, fmt, expected):
    iso, read = _parse_plain([raw], [fmt], MONTH_NAMES, 30)
    assert (iso.tolist(), read.tolist()) == ([expected], [True])


@pytest.mark.parametrize(("raw", "fmt"), [
    ("29.02.2023", "%d.%m.%Y"), ("UN.03.2024", "%d.%m.%Y"), ("2024-03-05T14:30:00.5", "iso8601"),
    ("2024-03-05T-:30", "iso8601"), ("05.03.0000", "%d.%m.%Y"), ("UNK", "%d.%m.%Y"), ("", "%d.%m.%Y"),
    ("44000", "excel_serial"),
])
def test_unknown_parts_problems_and_rare_formats_are_left_to_python(raw, fmt):
    assert _parse_plain([raw], [fmt], MONTH_NAMES, 30)[1].tolist() == [False]
