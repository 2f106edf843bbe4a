"""ISO 8601 conversion: partial dates keep their precision, impossible dates get a reason, nothing is invented."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.sdtm.mapping.dates import DateFormatError, check_format, combine_date_time, parse_dates, truncate_iso


@pytest.mark.parametrize(("raw", "fmt", "expected"), [
    ("05.03.2024", "%d.%m.%Y", "2024-03-05"),
    ("UN.03.2024", "%d.%m.%Y", "2024-03"),
    ("UN.UN.2024", "%d.%m.%Y", "2024"),
    ("05/03/2024", "%d/%m/%Y", "2024-03-05"),
    ("UN/03/2024", "%d/%m/%Y", "2024-03"),
    ("05-MAR-2024", "%d-%b-%Y", "2024-03-05"),
    ("UN-MAR-2024", "%d-%b-%Y", "2024-03"),
    ("UN-UNK-2024", "%d-%b-%Y", "2024"),
    ("03-05-2024", "%m-%d-%Y", "2024-03-05"),
    ("03-UN-2024", "%m-%d-%Y", "2024-03"),
    ("UN-UN-2024", "%m-%d-%Y", "2024"),
    ("2024-03-05", "iso8601", "2024-03-05"),
    ("2024-03", "iso8601", "2024-03"),
    ("2024", "iso8601", "2024"),
    ("2024/03/05", "%Y/%m/%d", "2024-03-05"),
    ("2024/03/UN", "%Y/%m/%d", "2024-03"),
    ("2024/UN/UN", "%Y/%m/%d", "2024"),
    ("UN/UN/2024", "%d/%m/%Y", "2024"),
    ("15/UN/2024", "%d/%m/%Y", "2024---15"),
    ("15MAR2019", "%d%b%Y", "2019-03-15"),
    ("2019-03-15T14:30", "iso8601", "2019-03-15T14:30"),
    ("44197", "excel_serial", "2021-01-01"),
])
def test_partial_dates_keep_their_precision(raw, fmt, expected):
    out = parse_dates(pd.Series([raw]), [fmt])
    assert out.iso.tolist() == [expected]
    assert out.reason.tolist() == [None]


@pytest.mark.parametrize(("raw", "fmt", "reason"), [
    ("31/04/2024", "%d/%m/%Y", "impossible date '31/04/2024' (day 31 does not exist in 2024-04)"),
    ("2023-02-30", "iso8601", "impossible date '2023-02-30' (day 30 does not exist in 2023-02)"),
    ("29.02.2023", "%d.%m.%Y", "impossible date '29.02.2023' (day 29 does not exist in 2023-02)"),
    ("05/13/2024", "%d/%m/%Y", "impossible date '05/13/2024' (month 13 does not exist)"),
    ("05-XYZ-2024", "%d-%b-%Y", "impossible date '05-XYZ-2024' (unknown month name 'XYZ')"),
    ("2024.03.05", "%d/%m/%Y", "unparseable date '2024.03.05' (expected %d/%m/%Y)"),
    ("150000", "excel_serial", "impossible date '150000' (Excel day 150000 is after 2262)"),
    ("999999.5", "excel_serial", "impossible date '999999.5' (Excel day 999999.5 is after 2262)"),
])
def test_impossible_or_unparseable_dates_get_a_reason_and_no_value(raw, fmt, reason):
    out = parse_dates(pd.Series([raw]), [fmt])
    assert out.iso.tolist() == [None]
    assert out.reason.tolist() == [reason]


def test_leap_day_exists_in_a_leap_year():
    assert parse_dates(pd.Series(["29.02.2024"]), ["%d.%m.%Y"]).iso.tolist() == ["2024-02-29"]


def test_empty_and_fully_unknown_values_are_null_without_reason():
    out = parse_dates(pd.Series(["", "UNK", "  "]), ["%d.%m.%Y"])
    assert out.iso.tolist() == [None, None, None]
    assert out.reason.tolist() == [None, None, None]


def test_formats_are_tried_in_order():
    out = parse_dates(pd.Series(["2024-03-05", "05/03/2024"]), ["iso8601", "%d/%m/%Y"])
    assert out.iso.tolist() == ["2024-03-05", "2024-03-05"]


def test_time_is_added_only_to_a_complete_date():
    out = combine_date_time(pd.Series(["2019-03-15", "2019-03", None, "2019-03-16"]),
                            pd.Series(["14:30", "10:00", "09:00", "07:30:00"]))
    assert out.iso.tolist() == ["2019-03-15T14:30", "2019-03", None, "2019-03-16T07:30:00"]
    assert out.reason.tolist()[1].startswith("incomplete date '2019-03' with time '10:00'")
    assert out.reason.tolist()[2].startswith("missing date (time '09:00'")


def test_impossible_time_is_reported():
    out = combine_date_time(pd.Series(["2019-03-15"]), pd.Series(["25:61"]))
    assert out.iso.tolist() == ["2019-03-15"]
    assert out.reason.tolist() == ["unparseable or impossible time '25:61'"]


def test_birth_date_truncated_to_year():
    assert truncate_iso(pd.Series(["1985-06-20", "1990-01", None]), "year").tolist() == ["1985", "1990", None]


def test_bad_format_is_a_config_error():
    with pytest.raises(DateFormatError, match="unknown token '%Q'"):
        check_format("%d.%Q.%Y")
