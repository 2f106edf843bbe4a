"""Shared helpers of the SDTM verbs: ISO 8601 parsing and argument checks."""

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError, InputError
from pipeline.common.dates import iso_date, iso_date_bounds, iso_time
from pipeline.sdtm.derive_helpers import blank_to_na, check_domain, check_frame, format_number


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2019-03-15", "2019-03-15"),
        ("2019-03-15T14:30:05", "2019-03-15"),
        ("2020-02-29", "2020-02-29"),  # leap day
        ("2019-02-29", None),  # not a date
        ("2019-03", None),
        ("2019", None),
        ("2019---15", None),
        ("15MAR2019", None),
        ("", None),
        (None, None),
    ],
)
def test_iso_date_table(text, expected):
    value = iso_date(pd.Series([text], dtype=object)).iloc[0]
    assert (pd.isna(value) and expected is None) or value.strftime("%Y-%m-%d") == expected


@pytest.mark.parametrize(
    "text, seconds",
    [("2019-03-15T14:30", 52200), ("2019-03-15T00:00:07", 7), ("2019-03-15", None), ("2019-03-15T25:00", None), ("2019-03-15T-:30", None)],
)
def test_iso_time_table(text, seconds):
    value = iso_time(pd.Series([text])).iloc[0]
    assert (pd.isna(value) and seconds is None) or value.total_seconds() == seconds


@pytest.mark.parametrize(
    "text, lo, hi",
    [
        ("2020-02", "2020-02-01", "2020-02-29"),
        ("2019-12", "2019-12-01", "2019-12-31"),
        ("2019", "2019-01-01", "2019-12-31"),
        ("2019-06-15T10:00", "2019-06-15", "2019-06-15"),
    ],
)
def test_iso_date_bounds_table(text, lo, hi):
    low, high = iso_date_bounds(pd.Series([text]))
    assert (low.iloc[0].strftime("%Y-%m-%d"), high.iloc[0].strftime("%Y-%m-%d")) == (lo, hi)


def test_parsers_keep_the_index_and_handle_repeated_values():
    series = pd.Series(["2019-01-01", None, "2019-01-01", "2019-01"], index=[9, 8, 7, 6])
    assert iso_date(series).index.tolist() == [9, 8, 7, 6]
    assert iso_date(series).notna().tolist() == [True, False, True, False]
    assert iso_date(pd.Series([], dtype=object)).empty


@pytest.mark.parametrize("value, text", [(3.0, "3"), (0.1 + 0.2, "0.3"), (-2.5, "-2.5"), (1234567.0, "1234567"), (None, None)])
def test_format_number_table(value, text):
    assert format_number(pd.Series([value])).iloc[0] == text


def test_blank_to_na_strips_and_nulls_blanks():
    assert blank_to_na(pd.Series(["  x", "   ", None, ""])).tolist() == ["x", None, None, None]


def test_checks_name_the_culprit():
    with pytest.raises(ConfigError, match="'A1B'"):
        check_domain("A1B")
    with pytest.raises(InputError, match="dataset lb: missing column.*LBDTC"):
        check_frame(pd.DataFrame({"USUBJID": []}), "lb", ["LBDTC"])
    with pytest.raises(InputError, match="expected a pandas DataFrame"):
        check_frame([1, 2], "lb")
