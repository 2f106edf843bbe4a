"""Statistics checked against independent computations (hand formulas, statsmodels formulas, scipy)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.analysis.statistics import compute_ancova, compute_proportion_ci, summarise_continuous


def balanced_log_ratios() -> pd.DataFrame:
    """Two arms with the same baseline values (no covariate imbalance)."""
    base = np.log([0.8, 1.5, 3.0, 0.8, 1.5, 3.0])
    ratio = np.array([0.30, 0.45, 0.40, 0.70, 0.55, 0.65])
    return pd.DataFrame({"TRT01P": ["Drug"] * 3 + ["Placebo"] * 3, "BASE": base, "CHG": np.log(ratio)})


def test_gmr_equals_geometric_mean_of_ratios_when_covariate_is_balanced():
    data = balanced_log_ratios()
    fit = compute_ancova(data, "CHG", "TRT01P", ["BASE"], ["Drug", "Placebo"], reference="Placebo")
    gmr = np.exp(fit.lsmeans.set_index("group")["lsmean"])
    expected_drug = (0.30 * 0.45 * 0.40) ** (1 / 3)
    expected_placebo = (0.70 * 0.55 * 0.65) ** (1 / 3)
    assert gmr["Drug"] == pytest.approx(expected_drug, rel=1e-12)
    assert gmr["Placebo"] == pytest.approx(expected_placebo, rel=1e-12)
    ratio = math.exp(fit.comparisons.loc[0, "diff"])
    assert ratio == pytest.approx(expected_drug / expected_placebo, rel=1e-12)


def test_ancova_difference_ci_and_pvalue_match_statsmodels_formula():
    import statsmodels.formula.api as smf

    data = pd.DataFrame({
        "TRT01P": ["Drug"] * 5 + ["Placebo"] * 4,
        "BASE": [10.0, 8.0, 12.0, 9.0, 11.0, 10.0, 7.0, 13.0, 9.0],
        "CHG": [-4.0, -2.0, -5.0, -3.0, -3.5, -1.0, 0.0, -2.5, -1.5],
    })
    fit = compute_ancova(data, "CHG", "TRT01P", ["BASE"], ["Drug", "Placebo"], reference="Placebo")
    model = smf.ols("CHG ~ C(TRT01P, Treatment('Placebo')) + BASE", data=data).fit()
    term = "C(TRT01P, Treatment('Placebo'))[T.Drug]"
    row = fit.comparisons.iloc[0]
    assert row["diff"] == pytest.approx(model.params[term], rel=1e-10)
    assert row["diff_se"] == pytest.approx(model.bse[term], rel=1e-10)
    assert row["pvalue"] == pytest.approx(model.pvalues[term], rel=1e-8)
    low, high = model.conf_int(alpha=0.05).loc[term]
    assert (row["diff_lcl"], row["diff_ucl"]) == pytest.approx((low, high), rel=1e-10)
    # LS mean of placebo = prediction at the overall mean baseline
    predicted = model.predict(pd.DataFrame({"TRT01P": ["Placebo"], "BASE": [data["BASE"].mean()]}))[0]
    assert fit.lsmeans.set_index("group").loc["Placebo", "lsmean"] == pytest.approx(predicted, rel=1e-10)


def test_ancova_reports_raw_n_mean_sd_per_group():
    data = balanced_log_ratios()
    fit = compute_ancova(data, "CHG", "TRT01P", ["BASE"], ["Drug", "Placebo"], reference="Placebo")
    drug = fit.lsmeans.set_index("group").loc["Drug"]
    values = np.log([0.30, 0.45, 0.40])
    assert drug["n"] == 3
    assert drug["mean"] == pytest.approx(values.mean())
    assert drug["sd"] == pytest.approx(values.std(ddof=1))


def test_ancova_drops_missing_response_and_keeps_empty_group_as_nan():
    data = balanced_log_ratios()
    data.loc[0, "CHG"] = np.nan
    fit = compute_ancova(data, "CHG", "TRT01P", ["BASE"], ["Drug", "Placebo", "Other"], reference="Placebo")
    table = fit.lsmeans.set_index("group")
    assert table.loc["Drug", "n"] == 2
    assert table.loc["Other", "n"] == 0
    assert math.isnan(table.loc["Other", "lsmean"])
    assert list(fit.comparisons["group"]) == ["Drug", "Other"]


def test_ancova_rejects_unknown_reference():
    with pytest.raises(ValueError, match="reference 'Nope'"):
        compute_ancova(balanced_log_ratios(), "CHG", "TRT01P", ["BASE"], ["Drug", "Placebo"], reference="Nope")


@pytest.mark.parametrize("n, total", [(3, 37), (0, 18), (18, 18), (5, 10), (1, 1)])
def test_clopper_pearson_matches_scipy_binomtest(n, total):
    lcl, ucl = compute_proportion_ci([n], [total], 0.95)
    expected = stats.binomtest(n, total).proportion_ci(confidence_level=0.95, method="exact")
    assert lcl[0] == pytest.approx(expected.low, abs=1e-12)
    assert ucl[0] == pytest.approx(expected.high, abs=1e-12)


def test_proportion_ci_of_empty_group_is_nan():
    lcl, ucl = compute_proportion_ci([0], [0])
    assert math.isnan(lcl[0]) and math.isnan(ucl[0])


def test_proportion_ci_rejects_n_above_total():
    with pytest.raises(ValueError, match="between 0 and total"):
        compute_proportion_ci([5], [3])


def test_continuous_summary_by_hand():
    adsl = pd.DataFrame({"TRT01P": ["A"] * 4 + ["B"], "AGE": [20, 30, 40, 50, 33]})
    table = summarise_continuous(adsl, "AGE", "TRT01P", ["A", "B"]).set_index("group")
    assert table.loc["A", "n"] == 4
    assert table.loc["A", "mean"] == 35.0
    assert table.loc["A", "sd"] == pytest.approx(math.sqrt(((15**2) * 2 + (5**2) * 2) / 3))
    assert table.loc["A", "median"] == 35.0
    assert (table.loc["A", "min"], table.loc["A", "max"]) == (20, 50)
    assert table.loc["B", "n"] == 1 and math.isnan(table.loc["B", "sd"])


@pytest.mark.parametrize("n1, t1, n0, t0", [(3, 37, 0, 18), (10, 20, 4, 18), (0, 12, 0, 9), (7, 7, 2, 9)])
def test_newcombe_difference_matches_statsmodels(n1, t1, n0, t0):
    from statsmodels.stats.proportion import confint_proportions_2indep

    from pipeline.analysis.statistics import compute_proportion_difference

    diff, lcl, ucl = compute_proportion_difference([n1], [t1], [n0], [t0])
    low, high = confint_proportions_2indep(n1, t1, n0, t0, method="newcomb", compare="diff")
    assert diff[0] == pytest.approx(n1 / t1 - n0 / t0)
    assert (lcl[0], ucl[0]) == pytest.approx((low, high), abs=1e-10)


def test_fisher_pvalue_matches_scipy():
    from pipeline.analysis.statistics import compute_fisher_pvalue

    assert compute_fisher_pvalue(10, 20, 4, 18) == pytest.approx(stats.fisher_exact([[10, 10], [4, 14]]).pvalue)


def test_statsmodels_is_imported_without_polars_and_formulaic_which_stay_importable():
    """A fresh interpreter: the fits' statsmodels import loads neither optional library, and both
    can still be imported afterwards (the 'missing' marks are removed)."""
    import subprocess
    import sys

    code = ("import sys; from pipeline.analysis.statistics import import_statsmodels; "
            "import_statsmodels('regression.mixed_linear_model'); "
            "print(sorted(m for m in ('polars', 'formulaic', 'narwhals') if m in sys.modules)); "
            "import polars, formulaic; print(polars.DataFrame({'a': [1]}).height, formulaic.Formula('y ~ x').rhs)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["[]", "1 1 + x"]
