"""Charts: matplotlib SVG, inline-ready and byte-identical across runs; the numbers behind them."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.report import charts


def _adlb():
    rows = []
    for arm, ratios in (("Active", [0.5, 0.4, 0.6, 0.5]), ("Placebo", [0.9, 1.1, 1.0, 0.8])):
        for i, ratio in enumerate(ratios):
            rows.append({"USUBJID": f"{arm}-{i}", "TRTP": arm, "PARAMCD": "LUPCR", "ANL01FL": "Y", "ABLFL": "Y",
                         "AVISITN": 2.0, "AVISIT": "BASELINE", "CHG": None})
            rows.append({"USUBJID": f"{arm}-{i}", "TRTP": arm, "PARAMCD": "LUPCR", "ANL01FL": "Y", "ABLFL": None,
                         "AVISITN": 10.0, "AVISIT": "WEEK 24", "CHG": math.log(ratio)})
    rows.append({"USUBJID": "x", "TRTP": "Active", "PARAMCD": "LUPCR", "ANL01FL": None, "ABLFL": None,
                 "AVISITN": 10.0, "AVISIT": "WEEK 24", "CHG": math.log(100)})  # not an analysis record
    return pd.DataFrame(rows)


def test_upcr_gmr_is_the_back_transformed_mean_log_ratio_with_a_t_interval():
    gmr = charts.compute_upcr_gmr(_adlb()).set_index("group")
    logs = np.log([0.5, 0.4, 0.6, 0.5])
    half = stats.t.ppf(0.975, 3) * logs.std(ddof=1) / 2
    assert gmr.loc["Active", "n"] == 4
    assert gmr.loc["Active", "mean"] == pytest.approx(math.exp(logs.mean()))
    assert gmr.loc["Active", "lcl"] == pytest.approx(math.exp(logs.mean() - half))
    assert gmr.loc["Active", "ucl"] == pytest.approx(math.exp(logs.mean() + half))
    assert list(gmr["AVISIT"]) == ["WEEK 24", "WEEK 24"]  # baseline rows left out


def test_charts_are_svg_without_date_and_identical_across_calls():
    gmr = charts.compute_upcr_gmr(_adlb())
    first = charts.chart_over_visits(gmr, "GMR", 1.0, log_scale=True)
    second = charts.chart_over_visits(gmr, "GMR", 1.0, log_scale=True)
    assert first == second
    assert first.startswith("<svg") and first.endswith("</svg>")
    assert "<?xml" not in first and "<metadata>" not in first and "dc:date" not in first
    assert "Active" in first and "Placebo" in first   # text stays text (svg.fonttype none)


def test_chart_text_from_data_is_escaped():
    svg = charts.chart_quarantine_reasons(pd.DataFrame({"reason": ["<script>alert(1)</script>", "b"], "rows": [3, 1]}))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_findings_per_site_stacks_every_severity():
    svg = charts.chart_findings_per_site(pd.DataFrame({"site": ["101", "102"], "error": [1, 0], "warning": [2, 3]}))
    assert svg.count("<svg") == 1 and "101" in svg and "notice" in svg  # legend names every severity
