"""Site quality: per site and form counts and rates, sites side by side, outliers marked by robust z."""

import pandas as pd
import pytest

from pipeline.report.review import compute_sites_side_by_side
from pipeline.report.site_quality import (OUTLIER_MARK, compute_file_counts, compute_site_form_quality,
                                          compute_site_quality, flag_outliers, robust_z, site_of_file)

LEDGER = {"files": {
    "site_101/ae.csv": {"rows_read": 20, "domains": {"AE": {"rows_mapped": 19, "rows_quarantined": 1}}},
    "site_101/lab.csv": {"rows_read": 80, "domains": {"LB": {"rows_mapped": 76, "rows_quarantined": 4}}},
    "site_102/lab.xlsx": {"rows_read": 50, "domains": {"LB": {"rows_mapped": 50, "rows_quarantined": 0}}},
}}
QUARANTINE = pd.DataFrame({
    "file": ["site_101/ae.csv", "site_101/lab.csv", "site_101/lab.csv", "site_101/lab.csv", "site_101/lab.csv"],
    "category": ["impossible date", "missing key LBORRES", "missing date", "exact duplicate", "missing key USUBJID"],
})
FINDINGS = pd.DataFrame({
    "source_file": ["site_101/lab.csv", "site_101/lab.csv", "site_102/lab.xlsx", "site_101/ae.csv", None],
    "severity": ["warning", "warning", "error", "notice", "error"],
    "dataset": ["LB", "LB", "LB", "AE", "ADSL"],
    "variable": ["LBSTRESN", "VISITNUM", "LBORRES", "AEENDTC", "AGE"],
})


@pytest.mark.parametrize("path, site", [("site_101/ae.csv", "101"), ("site-7/x.xpt", "7"), ("central/lab.csv", "central")])
def test_site_of_file_reads_the_site_folder(path, site):
    assert site_of_file(path) == site


def test_per_form_counts_rates_and_definitions():
    files = compute_file_counts(LEDGER)
    per_form = compute_site_form_quality(files, QUARANTINE, FINDINGS).set_index("file")
    lab = per_form.loc["site_101/lab.csv"]
    assert lab["records"] == 80 and lab["quarantined"] == 4
    assert lab["missing_required"] == 3                  # missing key x2 + missing date, not the duplicate
    assert lab["warning_findings"] == 2 and lab["warning_per_100"] == pytest.approx(2.5)
    assert lab["quarantine_pct"] == pytest.approx(5.0)
    assert lab["lab_flagged"] == 1                       # LBSTRESN only, not VISITNUM
    ae = per_form.loc["site_101/ae.csv"]
    assert ae["impossible_dates"] == 2                   # quarantined impossible date + AEENDTC finding
    assert ae["notice_per_100"] == pytest.approx(5.0)
    other = per_form.loc["site_102/lab.xlsx"]
    assert other["error_findings"] == 1 and other["error_per_100"] == pytest.approx(2.0)
    assert other["lab_flagged"] == 1                     # LBORRES


def test_site_totals_recompute_rates_from_sums():
    per_form = compute_site_form_quality(compute_file_counts(LEDGER), QUARANTINE, FINDINGS)
    site = compute_site_quality(per_form).set_index("site")
    assert site.loc["101", "records"] == 100
    assert site.loc["101", "quarantine_pct"] == pytest.approx(5.0)
    assert site.loc["101", "warning_per_100"] == pytest.approx(2.0)
    assert site.loc["101", "missing_per_100"] == pytest.approx(3.0)
    assert site.loc["102", "quarantine_pct"] == 0


def test_late_entry_uses_the_data_cut_and_the_last_collection_per_site():
    files = compute_file_counts(LEDGER)
    dates = pd.DataFrame({"file": ["site_101/lab.csv", "site_101/lab.csv", "site_102/lab.xlsx"],
                          "date": pd.to_datetime(["2020-01-01", "2020-01-11", "2020-03-01"])})
    per_form = compute_site_form_quality(files, QUARANTINE, FINDINGS, dates=dates)
    assert per_form.set_index("file").loc["site_101/lab.csv", "median_days"] == 55  # cut 2020-03-01: 60 and 50 days
    site = compute_site_quality(per_form).set_index("site")
    assert site.loc["101", "days_since_last"] == 50
    assert site.loc["102", "days_since_last"] == 0


def test_robust_z_and_outliers_mark_only_the_high_site():
    values = pd.Series([1.0, 1.5, 0.5, 2.0, 1.2, 0.8, 6.0])
    assert robust_z(values).iloc[-1] > 2
    assert flag_outliers(values).tolist() == [False] * 6 + [True]
    assert not flag_outliers(pd.Series([0.0] * 7)).any()


def test_sites_side_by_side_has_one_column_per_site_and_marks_the_outlier():
    site = pd.DataFrame({"site": [str(s) for s in range(101, 108)], "records": [100] * 7,
                         "quarantine_pct": [1.0, 1.5, 0.5, 2.0, 1.2, 0.8, 6.0]})
    columns, rows = compute_sites_side_by_side(site)
    assert columns == ["metric"] + [f"site {s}" for s in range(101, 108)]
    quarantine = next(r for r in rows if r["metric"] == "Quarantine share (%)")
    assert quarantine["site 107"] == f"6.0 {OUTLIER_MARK}"
    assert quarantine["site 101"] == "1.0"
    assert next(r for r in rows if r["metric"] == "Raw records")["site 107"] == "100"  # counts are never marked
