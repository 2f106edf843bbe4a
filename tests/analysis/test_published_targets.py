"""The default simulated study reproduces the published numbers (needs every stage up to ADaM)."""

import pytest

from pipeline.analysis.ard import ard_value, read_ard

ISCALIMAB, PLACEBO = "Iscalimab 10 mg/kg", "Placebo"


@pytest.fixture(scope="module")
def table1(tables_built):
    return read_ard(tables_built.ard_dir, "table1")


@pytest.fixture(scope="module")
def table2(tables_built):
    return read_ard(tables_built.ard_dir, "table2")


def test_serious_adverse_events_6_of_39_and_3_of_18(table2):
    assert (ard_value(table2, "sae", ISCALIMAB, "n"), ard_value(table2, "sae", ISCALIMAB, "N")) == (6, 39)
    assert (ard_value(table2, "sae", PLACEBO, "n"), ard_value(table2, "sae", PLACEBO, "N")) == (3, 18)
    assert round(ard_value(table2, "sae", ISCALIMAB, "pct"), 1) == 15.4
    assert round(ard_value(table2, "sae", PLACEBO, "pct"), 1) == 16.7
    assert (ard_value(table2, "sae", ISCALIMAB, "events"), ard_value(table2, "sae", PLACEBO, "events")) == (7, 4)


def test_discontinuations_due_to_ae_3_and_1(table2):
    assert ard_value(table2, "ae_disc", ISCALIMAB, "n") == 3
    assert ard_value(table2, "ae_disc", PLACEBO, "n") == 1


def test_any_adverse_event_about_90_percent(table2):
    for arm in (ISCALIMAB, PLACEBO):
        assert 80.0 <= ard_value(table2, "any_ae", arm, "pct") <= 100.0


def test_complete_renal_response_3_of_37_and_0_of_18(table1):
    assert (ard_value(table1, "crr", ISCALIMAB, "n"), ard_value(table1, "crr", ISCALIMAB, "N")) == (3, 37)
    assert (ard_value(table1, "crr", PLACEBO, "n"), ard_value(table1, "crr", PLACEBO, "N")) == (0, 18)
    assert round(ard_value(table1, "crr", ISCALIMAB, "pct"), 1) == 8.1
    assert ard_value(table1, "crr", PLACEBO, "pct") == 0.0


def test_upcr_relative_improvement_63_1_and_36_3(table1):
    assert ard_value(table1, "upcr_rel_improvement", ISCALIMAB, "pct") == pytest.approx(63.1, abs=0.5)
    assert ard_value(table1, "upcr_rel_improvement", PLACEBO, "pct") == pytest.approx(36.3, abs=0.5)


def test_sledai_mean_change_minus_2_8_and_minus_1_1(table1):
    assert ard_value(table1, "sledai_chg", ISCALIMAB, "mean") == pytest.approx(-2.8, abs=0.1)
    assert ard_value(table1, "sledai_chg", PLACEBO, "mean") == pytest.approx(-1.1, abs=0.1)


def test_upcr_ratio_versus_placebo_about_42_percent_reduction(table1):
    assert ard_value(table1, "upcr_comparison", ISCALIMAB, "pct") == pytest.approx(42.1, abs=2.0)
    assert ard_value(table1, "upcr_comparison", ISCALIMAB, "ratio") < 1.0
