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


@pytest.fixture(scope="module")
def table2_study(tables_built):
    return read_ard(tables_built.ard_dir, "table2_study")


def test_any_adverse_event_about_90_percent_over_the_whole_study(table2_study):
    # the simulator's [assumed] any-AE rate (study.yaml any_ae_rate_target) is for the whole study
    for arm in (ISCALIMAB, PLACEBO):
        assert 85.0 <= ard_value(table2_study, "any_ae", arm, "pct") <= 100.0


def test_week24_table_is_a_subset_of_the_whole_study_table(table2, table2_study):
    for arm in (ISCALIMAB, PLACEBO):
        assert 75.0 <= ard_value(table2, "any_ae", arm, "pct") <= ard_value(table2_study, "any_ae", arm, "pct")
        assert ard_value(table2, "any_ae", arm, "events") < ard_value(table2_study, "any_ae", arm, "events")


def test_published_safety_counts_hold_in_both_periods(table2, table2_study):
    for ard in (table2, table2_study):
        assert [ard_value(ard, "sae", arm, stat) for arm in (ISCALIMAB, PLACEBO) for stat in ("n", "events")] == [6, 7, 3, 4]
        assert [ard_value(ard, "ae_disc", arm, "n") for arm in (ISCALIMAB, PLACEBO)] == [3, 1]


def test_unmapped_severity_is_queried_not_counted_as_severe(table2_study):
    # two "VERY BAD" severities (simulated defect): queried, their own row, not severe
    assert ard_value(table2_study, "ae_sev_query", "Total", "n") == 2
    assert ard_value(table2_study, "ae_severe", "Total", "n") == 16


def test_crr_sensitivity_non_responder_imputation_3_of_39(table1):
    assert (ard_value(table1, "crr_nri", ISCALIMAB, "n"), ard_value(table1, "crr_nri", ISCALIMAB, "N")) == (3, 39)
    assert (ard_value(table1, "crr_nri", PLACEBO, "n"), ard_value(table1, "crr_nri", PLACEBO, "N")) == (0, 18)
    assert round(ard_value(table1, "crr_nri", ISCALIMAB, "pct"), 1) == 7.7


def test_upcr_observed_and_adjusted_gmr_differ_in_their_intervals(table1):
    # the review's recomputation: raw per-arm CI 0.297-0.458, model (LS) CI 0.304-0.448, same point estimate
    row = "upcr_rel_improvement"
    assert round(ard_value(table1, row, ISCALIMAB, "gmr_obs_lcl"), 3) == 0.297
    assert round(ard_value(table1, row, ISCALIMAB, "gmr_obs_ucl"), 3) == 0.458
    assert round(ard_value(table1, row, ISCALIMAB, "gmr_lcl"), 3) == 0.304
    assert round(ard_value(table1, row, ISCALIMAB, "gmr_ucl"), 3) == 0.448


def test_upcr_mmrm_ls_means_by_visit_beside_the_ancova(tables_built, table1):
    mmrm = read_ard(tables_built.ard_dir, "t_upcr_mmrm")
    visits = ["WEEK 4", "WEEK 8", "WEEK 12", "WEEK 16", "WEEK 20", "WEEK 24"]
    gmr = [ard_value(mmrm, f"upcr_mmrm@{v}", ISCALIMAB, "gmr") for v in visits]
    assert gmr == sorted(gmr, reverse=True)          # improvement grows over the 24 weeks
    assert ard_value(mmrm, "upcr_mmrm@WEEK 24", ISCALIMAB, "n") == 37
    assert ard_value(mmrm, "upcr_mmrm@WEEK 24", PLACEBO, "n") == 18
    # with compound symmetry the Week 24 LS GMR stays close to the ANCOVA's
    for arm in (ISCALIMAB, PLACEBO):
        assert abs(ard_value(mmrm, "upcr_mmrm@WEEK 24", arm, "gmr")
                   - ard_value(table1, "upcr_rel_improvement", arm, "gmr")) < 0.02
    assert ard_value(mmrm, "upcr_mmrm_comparison@WEEK 24", ISCALIMAB, "ratio") < 1.0


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
