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


ODD_TIMES = ["2019-03-15T14:30", "2019-03-15T14:30:59.125", "2019-03-15T14:30:60", "2019-03-15T23:59:59",
             "2019-03-15T24:00", "2019-03-15T14", "2019-03-15T14:3", "2019-03-15T-:30", "2019-03-15", "2019-03",
             "2019---15T10:00", "2019-03-15T14:30Z", "2019-03-15T14:30+01:00", " 2019-03-15T14:30", "2019-03-15t14:30", "",
             "٢٠١٩-٠٣-١٥T١٤:٣٠", "2019-03-15T١٤:30", "2019-03-15T14:30:٠٥", "２０１９-03-15T14:30", "2019-03-15T14:30\u00e9"]


def _iso_time_with_pandas(values: pd.Series) -> pd.Series:
    """The reading before the vectorised one: Python's re (whose \\d takes every script's digits) and to_numeric."""
    parts = values.astype("object").where(values.notna(), None).astype("string").str.extract(
        r"^\d{4}-\d{2}-\d{2}T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?")
    hours, minutes = (pd.to_numeric(parts[i], errors="coerce") for i in (0, 1))
    seconds = pd.to_numeric(parts[2], errors="coerce").fillna(0)
    valid = hours.between(0, 23) & minutes.between(0, 59) & seconds.between(0, 59)
    return pd.to_timedelta((hours * 3600 + minutes * 60 + seconds).where(valid), unit="s")


def test_iso_time_reads_odd_and_non_ascii_values_as_pandas_does():
    values = pd.Series(ODD_TIMES + [None], dtype=object)
    assert iso_time(values).tolist() == _iso_time_with_pandas(values).tolist()
    assert iso_time(values).iloc[0] == pd.Timedelta("14:30:00")


def test_iso_time_of_values_that_are_not_text_is_read_as_before():
    values = pd.Series(["2019-03-15T14:30", 20190315, 1.5, None], dtype=object)
    assert iso_time(values).tolist() == _iso_time_with_pandas(values).tolist()
