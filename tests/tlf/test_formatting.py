"""Rounding and cell formats: SAS-style half-up rounding, percent and p-value rules."""

import pytest

from pipeline.tlf.formatting import format_cell, format_percent, format_pvalue, round_half_up


@pytest.mark.parametrize("value, decimals, expected", [
    (15.35, 1, "15.4"), (15.25, 1, "15.3"), (0.125, 2, "0.13"), (2.675, 2, "2.68"),
    (-2.45, 1, "-2.5"), (-0.04, 1, "0.0"), (38.5, 0, "39"), (7.0, 3, "7.000"),
])
def test_round_half_up_like_sas(value, decimals, expected):
    assert round_half_up(value, decimals) == expected


@pytest.mark.parametrize("value, expected", [
    (6 / 39 * 100, "15.4"), (3 / 18 * 100, "16.7"), (3 / 37 * 100, "8.1"), (100.0, "100"), (0.0, "0.0"),
    (0.04, "<0.1"), (99.96, ">99.9"),
])
def test_percent_rules(value, expected):
    assert format_percent(value) == expected


@pytest.mark.parametrize("value, expected", [(0.04996, "0.0500"), (0.00004, "<0.0001"), (0.99999, ">0.9999")])
def test_pvalue_rules(value, expected):
    assert format_pvalue(value) == expected


def test_n_pct_cell_and_zero_format():
    decimals = {"n": 0, "pct": 1}
    assert format_cell("{n} ({pct})", {"n": 6, "pct": 6 / 39 * 100}, decimals, zero_format="0") == "6 (15.4)"
    assert format_cell("{n} ({pct})", {"n": 0, "pct": 0.0}, decimals, zero_format="0") == "0"
    assert format_cell("{n}/{N} ({pct})", {"n": 0, "N": 18, "pct": 0.0}, decimals) == "0/18 (0.0)"


def test_missing_statistic_prints_missing_text_and_unknown_placeholder_is_named():
    assert format_cell("{mean} ({sd})", {"mean": 4.0, "sd": float("nan")}, {"mean": 1, "sd": 2}) == "4.0 (NE)"
    with pytest.raises(KeyError, match="'median'"):
        format_cell("{median}", {"mean": 1.0}, {})
