import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_vars_dtm import derive_vars_dtm


def _run(values, **kwargs):
    out = derive_vars_dtm(pd.DataFrame({"DTC": values}), "A", "DTC", **kwargs)
    return [None if pd.isna(v) else v.strftime("%Y-%m-%dT%H:%M:%S") for v in out["ADTM"]], out


@pytest.mark.parametrize("highest, expected", [
    ("n", ["2024-01-10T09:30:15", None, None, None]),
    ("s", ["2024-01-10T09:30:15", "2024-01-10T09:30:00", None, None]),
    ("h", ["2024-01-10T09:30:15", "2024-01-10T09:30:00", "2024-01-10T00:00:00", None]),
    ("D", ["2024-01-10T09:30:15", "2024-01-10T09:30:00", "2024-01-10T00:00:00", "2024-01-01T00:00:00"]),
])
def test_imputation_levels(highest, expected):
    values, _ = _run(["2024-01-10T09:30:15", "2024-01-10T09:30", "2024-01-10", "2024-01"], highest_imputation=highest)
    assert values == expected


def test_last_time_and_flags():
    values, out = _run(["2024-01-10T09", "2024-01"], highest_imputation="M", date_imputation="last",
                       time_imputation="last")
    assert values == ["2024-01-10T09:59:59", "2024-01-31T23:59:59"]
    assert out["ATMF"].tolist() == ["M", "H"]
    assert out["ADTF"].tolist() == [None, "D"]


def test_fixed_time_and_bad_time():
    values, _ = _run(["2024-01-10"], time_imputation="12:00:00")
    assert values == ["2024-01-10T12:00:00"]
    with pytest.raises(DerivationError, match="is not a valid time"):
        _run(["2024-01-10T25:00"])
    with pytest.raises(DerivationError, match="time_imputation must be first, last or HH:MM:SS"):
        _run(["2024-01-10"], time_imputation="noon")
    for out_of_range in ("24:00:00", "12:00", "12:60:00"):
        with pytest.raises(DerivationError, match=f"got '{out_of_range}'"):
            _run(["2024-01-10"], time_imputation=out_of_range)


def test_seconds_flag_can_be_ignored_for_minute_precision_data():
    _, out = _run(["2024-01-10T09:30", "2024-01-10"], ignore_seconds_flag=True)
    assert out["ATMF"].tolist() == [None, "H"]
