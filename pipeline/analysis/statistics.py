"""Pure statistics on arrays and frames: ANCOVA LS means, exact binomial intervals, summaries."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps


# optional libraries statsmodels probes for at import (about 0.2 s of a tables run); the fits here pass
# numpy arrays, never a polars frame or a formula, so neither is needed
STATSMODELS_UNUSED_EXTRAS = ("polars", "formulaic")


def import_statsmodels(module: str):
    """``statsmodels.<module>``, imported without the optional libraries in :data:`STATSMODELS_UNUSED_EXTRAS`.

    While statsmodels is imported, each of them not already loaded is marked missing (``None`` in
    ``sys.modules``, so statsmodels' ``try: import ...`` takes its fallback); the marks are removed
    afterwards, so a later ``import polars`` works as usual.

    >>> import_statsmodels("regression.linear_model").OLS.__name__
    'OLS'
    """
    blocked = [name for name in STATSMODELS_UNUSED_EXTRAS if name not in sys.modules]
    try:
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]
        return importlib.import_module(f"statsmodels.{module}")
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def compute_proportion_ci(n: Sequence[float] | np.ndarray, total: Sequence[float] | np.ndarray,
                          confidence_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) confidence limits of ``n / total`` as proportions (0-1).

    Vectorised beta quantiles; the same numbers as
    ``scipy.stats.binomtest(n, total).proportion_ci(method="exact")``. ``total == 0`` gives NaN.

    >>> lcl, ucl = compute_proportion_ci([3, 0], [37, 18])
    >>> lcl.round(4).tolist(), ucl.round(4).tolist()
    ([0.017, 0.0], [0.2191, 0.1853])
    """
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level}")
    n, total = np.asarray(n, dtype="float64"), np.asarray(total, dtype="float64")
    if n.shape != total.shape:
        raise ValueError(f"n and total differ in shape: {n.shape} vs {total.shape}")
    if np.any(n < 0) or np.any(n > total):
        raise ValueError("n must lie between 0 and total")
    alpha = 1.0 - confidence_level
    with np.errstate(invalid="ignore", divide="ignore"):
        lcl = np.where(n > 0, sps.beta.ppf(alpha / 2, n, total - n + 1), 0.0)
        ucl = np.where(n < total, sps.beta.ppf(1 - alpha / 2, n + 1, total - n), 1.0)
    empty = total <= 0
    return np.where(empty, np.nan, lcl), np.where(empty, np.nan, ucl)


def compute_proportion_difference(n1, total1, n0, total0, confidence_level: float = 0.95
                                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of proportions ``n1/total1 - n0/total0`` with Newcombe's hybrid score interval.

    The interval combines the Wilson score intervals of both proportions (Newcombe 1998, method
    10), as ``statsmodels`` ``confint_proportions_2indep(method="newcomb")``; vectorised.

    >>> diff, lcl, ucl = compute_proportion_difference([3], [37], [0], [18])
    >>> [round(float(v[0]), 4) for v in (diff, lcl, ucl)]
    [0.0811, -0.1026, 0.213]
    """
    n1, total1, n0, total0 = (np.asarray(v, dtype="float64") for v in (n1, total1, n0, total0))
    z = sps.norm.ppf(1 - (1 - confidence_level) / 2)

    def wilson(n: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            p = n / total
            denominator = 1 + z**2 / total
            center = (p + z**2 / (2 * total)) / denominator
            half = z * np.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denominator
        return p, center - half, center + half

    p1, l1, u1 = wilson(n1, total1)
    p0, l0, u0 = wilson(n0, total0)
    diff = p1 - p0
    lcl = diff - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    ucl = diff + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return diff, lcl, ucl


def compute_fisher_pvalue(n1: int, total1: int, n0: int, total0: int) -> float:
    """Two-sided Fisher exact p-value of a 2 x 2 table (responders / non-responders by arm).

    >>> round(compute_fisher_pvalue(3, 37, 0, 18), 4)
    0.5431
    """
    if min(total1, total0) <= 0:
        return float("nan")
    table = [[int(n1), int(total1 - n1)], [int(n0), int(total0 - n0)]]
    return float(sps.fisher_exact(table).pvalue)


@dataclass(frozen=True)
class AncovaResult:
    """LS means per group and differences of each group from the reference group."""

    lsmeans: pd.DataFrame      # group, n, mean, sd, lsmean, lsmean_se, lsmean_lcl, lsmean_ucl
    comparisons: pd.DataFrame  # group, reference, diff, diff_se, diff_lcl, diff_ucl, pvalue
    df_resid: float


def compute_ancova(dataset: pd.DataFrame, response: str, group_var: str, covariates: Sequence[str],
                   groups: Sequence[str], reference: str | None,
                   confidence_level: float = 0.95) -> AncovaResult:
    """ANCOVA ``response ~ group + covariates`` (statsmodels OLS) with LS means per group.

    LS means are predictions at the overall mean of each covariate over the analysed subjects;
    confidence intervals use the t distribution with the residual degrees of freedom. Rows with a
    missing response or covariate are dropped. Groups without data get ``n = 0`` and NaN
    estimates. Each group other than ``reference`` is compared with it (difference of LS means,
    two-sided p-value).

    >>> data = pd.DataFrame({"TRT": ["A"] * 3 + ["B"] * 3, "CHG": [1.0, 2.0, 3.0, 0.0, 1.0, 2.0],
    ...                      "BASE": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]})
    >>> fit = compute_ancova(data, "CHG", "TRT", ["BASE"], ["A", "B"], reference="B")
    >>> fit.lsmeans[["group", "n", "lsmean"]].round(6).values.tolist()
    [['A', 3, 2.0], ['B', 3, 1.0]]
    >>> fit.comparisons[["group", "reference", "diff"]].round(6).values.tolist()
    [['A', 'B', 1.0]]
    """
    OLS = import_statsmodels("regression.linear_model").OLS

    covariates = list(covariates)
    groups = list(groups)
    missing = [c for c in [response, group_var, *covariates] if c not in dataset.columns]
    if missing:
        raise KeyError(f"compute_ancova: dataset has no column {', '.join(missing)}")
    if reference is not None and reference not in groups:
        raise ValueError(f"compute_ancova: reference {reference!r} is not one of the groups {groups}")
    data = dataset[[group_var, response, *covariates]].copy()
    for column in [response, *covariates]:
        data[column] = pd.to_numeric(data[column], errors="coerce")
    data = data.dropna().loc[lambda d: d[group_var].isin(groups)]

    counts = data.groupby(group_var, observed=True)[response].agg(["count", "mean", "std"])
    counts = counts.reindex(groups)
    present = [g for g in groups if counts.loc[g, "count"] > 0]
    base_group = reference if reference in present else (present[0] if present else None)
    effects = [g for g in present if g != base_group]

    n_groups = len(groups)
    estimates, ses, diff, diff_se = (np.full(n_groups, np.nan) for _ in range(4))
    df_resid = np.nan
    design_ok = False
    if present:
        y = data[response].to_numpy(dtype="float64")
        columns = [np.ones(len(data))]
        columns += [(data[group_var] == g).to_numpy(dtype="float64") for g in effects]
        columns += [data[c].to_numpy(dtype="float64") for c in covariates]
        x = np.column_stack(columns)
        design_ok = len(y) > x.shape[1] and np.linalg.matrix_rank(x) == x.shape[1]
    if design_ok:
        fit = OLS(y, x).fit()
        params = np.asarray(fit.params)
        vcov = np.asarray(fit.cov_params())
        df_resid = float(fit.df_resid)
        covariate_means = data[covariates].mean().to_numpy(dtype="float64")
        contrast = np.zeros((n_groups, x.shape[1]))
        contrast[:, 0] = 1.0
        for j, g in enumerate(effects):
            contrast[groups.index(g), 1 + j] = 1.0
        contrast[:, 1 + len(effects):] = covariate_means
        present_mask = np.array([g in present for g in groups])
        estimates = np.where(present_mask, contrast @ params, np.nan)
        ses = np.where(present_mask, np.sqrt(np.einsum("ij,jk,ik->i", contrast, vcov, contrast)), np.nan)
        if reference in present:
            delta = contrast - contrast[groups.index(reference)]
            diff = np.where(present_mask, delta @ params, np.nan)
            diff_se = np.where(present_mask, np.sqrt(np.einsum("ij,jk,ik->i", delta, vcov, delta)), np.nan)

    t_crit = sps.t.ppf(1 - (1 - confidence_level) / 2, df_resid) if np.isfinite(df_resid) else np.nan
    lsmeans = pd.DataFrame({
        "group": groups, "n": counts["count"].fillna(0).astype(int).to_numpy(), "mean": counts["mean"].to_numpy(),
        "sd": counts["std"].to_numpy(), "lsmean": estimates, "lsmean_se": ses,
        "lsmean_lcl": estimates - t_crit * ses, "lsmean_ucl": estimates + t_crit * ses})
    with np.errstate(invalid="ignore", divide="ignore"):
        t_value = diff / diff_se
        pvalue = 2 * sps.t.sf(np.abs(t_value), df_resid) if np.isfinite(df_resid) else np.full(n_groups, np.nan)
    comparisons = pd.DataFrame({"group": groups, "reference": reference, "diff": diff, "diff_se": diff_se,
                                "diff_lcl": diff - t_crit * diff_se, "diff_ucl": diff + t_crit * diff_se,
                                "pvalue": pvalue})
    comparisons = comparisons.loc[comparisons["group"] != reference].reset_index(drop=True)
    return AncovaResult(lsmeans=lsmeans, comparisons=comparisons, df_resid=df_resid)


def summarise_continuous(dataset: pd.DataFrame, variable: str, group_var: str,
                         groups: Sequence[str]) -> pd.DataFrame:
    """n, mean, sd, median, q1, q3, min, max of ``variable`` per group (all groups, in order).

    >>> adsl = pd.DataFrame({"TRT": ["A", "A", "A", "B"], "AGE": [30, 40, 50, 61]})
    >>> summarise_continuous(adsl, "AGE", "TRT", ["A", "B", "C"])[["group", "n", "mean", "median"]].values.tolist()
    [['A', 3, 40.0, 40.0], ['B', 1, 61.0, 61.0], ['C', 0, nan, nan]]
    """
    for column in (variable, group_var):
        if column not in dataset.columns:
            raise KeyError(f"summarise_continuous: dataset has no column {column}")
    values = pd.to_numeric(dataset[variable], errors="coerce")
    grouped = values.groupby(dataset[group_var], observed=True)
    table = pd.DataFrame({
        "n": grouped.count(), "mean": grouped.mean(), "sd": grouped.std(), "median": grouped.median(),
        "q1": grouped.quantile(0.25), "q3": grouped.quantile(0.75), "min": grouped.min(), "max": grouped.max(),
    }).reindex(list(groups))
    table["n"] = table["n"].fillna(0).astype(int)
    return table.rename_axis("group").reset_index()


@dataclass(frozen=True)
class MmrmResult:
    """LS means per visit and group, and per-visit differences from the reference group."""

    lsmeans: pd.DataFrame      # visit, group, n, lsmean, lsmean_se, lsmean_lcl, lsmean_ucl
    comparisons: pd.DataFrame  # visit, group, reference, diff, diff_se, diff_lcl, diff_ucl, pvalue
    converged: bool


def compute_mmrm(dataset: pd.DataFrame, response: str, group_var: str, visit_var: str,
                 covariates: Sequence[str], groups: Sequence[str], visits: Sequence[str],
                 reference: str | None, subject_var: str = "USUBJID",
                 confidence_level: float = 0.95) -> MmrmResult:
    """Repeated-measures model ``response ~ group:visit + covariate:visit`` with a random subject
    intercept (compound symmetry), fitted by REML with statsmodels ``MixedLM``.

    Cell-means parametrisation: one fixed effect per group and visit, one slope per covariate and
    visit. LS means are at the mean covariate over the analysed subjects (one value per subject);
    Wald confidence intervals and p-values (normal approximation, as statsmodels reports them).

    >>> rng = np.random.default_rng(1)
    >>> subjects = np.repeat(np.arange(20), 2)
    >>> data = pd.DataFrame({"USUBJID": subjects, "TRT": np.where(subjects < 10, "A", "B"),
    ...                      "AVISIT": ["W4", "W8"] * 20, "BASE": np.repeat(rng.normal(0, 1, 20), 2)})
    >>> data["CHG"] = (np.where(data["TRT"] == "A", -1.0, 0.0) + np.repeat(rng.normal(0, 0.5, 20), 2)
    ...                + rng.normal(0, 0.1, 40))
    >>> fit = compute_mmrm(data, "CHG", "TRT", "AVISIT", ["BASE"], ["A", "B"], ["W4", "W8"], "B")
    >>> [round(d) for d in fit.comparisons["diff"]], bool((fit.comparisons["pvalue"] < 0.05).all())
    ([-1, -1], True)
    """
    import warnings

    MixedLM = import_statsmodels("regression.mixed_linear_model").MixedLM

    covariates, groups, visits = list(covariates), list(groups), [str(v) for v in visits]
    missing = [c for c in [response, group_var, visit_var, subject_var, *covariates] if c not in dataset.columns]
    if missing:
        raise KeyError(f"compute_mmrm: dataset has no column {', '.join(missing)}")
    data = dataset[[subject_var, group_var, visit_var, response, *covariates]].copy()
    data[visit_var] = data[visit_var].astype(str)
    for column in [response, *covariates]:
        data[column] = pd.to_numeric(data[column], errors="coerce")
    data = data.dropna().loc[lambda d: d[group_var].isin(groups) & d[visit_var].isin(visits)]
    data = data.sort_values([subject_var, visit_var], kind="stable").reset_index(drop=True)
    cells = [(g, v) for v in visits for g in groups]
    present = [(g, v) for g, v in cells if ((data[group_var] == g) & (data[visit_var] == v)).any()]
    columns = [((data[group_var] == g) & (data[visit_var] == v)).to_numpy(dtype="float64") for g, v in present]
    slopes = [(c, v) for v in visits for c in covariates if (data[visit_var] == v).any()]
    columns += [np.where(data[visit_var] == v, data[c], 0.0) for c, v in slopes]
    counts = data.groupby([visit_var, group_var])[subject_var].nunique()
    means = data.drop_duplicates(subject_var)[covariates].mean() if covariates else pd.Series(dtype="float64")
    vcov, params, converged = None, None, False
    if columns and len(data) > len(columns):
        x = np.column_stack(columns)
        k = x.shape[1]
        if np.linalg.matrix_rank(x) == k and data[subject_var].nunique() > k:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = MixedLM(data[response].to_numpy(dtype="float64"), x,
                                    groups=data[subject_var].astype(str).to_numpy(), exog_re=np.ones((len(data), 1)))
                    fit = model.fit(reml=True, method=["lbfgs", "powell"])
                params = np.asarray(fit.fe_params)
                vcov = np.asarray(fit.cov_params())[:k, :k]
                converged = bool(getattr(fit, "converged", True))
            except (np.linalg.LinAlgError, ValueError):   # too few subjects: estimates not estimable (NE)
                params, vcov = None, None

    def contrast(g: str, v: str) -> np.ndarray | None:
        if params is None or (g, v) not in present:
            return None
        vector = np.zeros(len(params))
        vector[present.index((g, v))] = 1.0
        for j, (c, sv) in enumerate(slopes):
            if sv == v:
                vector[len(present) + j] = float(means[c])
        return vector

    z = sps.norm.ppf(1 - (1 - confidence_level) / 2)
    rows, comparisons = [], []
    for v in visits:
        for g in groups:
            vec = contrast(g, v)
            est, se = (float(vec @ params), float(np.sqrt(vec @ vcov @ vec))) if vec is not None else (np.nan, np.nan)
            rows.append({"visit": v, "group": g, "n": int(counts.get((v, g), 0)), "lsmean": est, "lsmean_se": se,
                         "lsmean_lcl": est - z * se, "lsmean_ucl": est + z * se})
        ref = contrast(reference, v) if reference is not None else None
        for g in groups:
            if g == reference or reference is None:
                continue
            vec = contrast(g, v)
            if vec is None or ref is None:
                diff = diff_se = np.nan
            else:
                delta = vec - ref
                diff, diff_se = float(delta @ params), float(np.sqrt(delta @ vcov @ delta))
            with np.errstate(invalid="ignore", divide="ignore"):
                pvalue = float(2 * sps.norm.sf(abs(diff / diff_se))) if diff_se and np.isfinite(diff_se) else np.nan
            comparisons.append({"visit": v, "group": g, "reference": reference, "diff": diff, "diff_se": diff_se,
                                "diff_lcl": diff - z * diff_se, "diff_ucl": diff + z * diff_se, "pvalue": pvalue})
    comparison_columns = ["visit", "group", "reference", "diff", "diff_se", "diff_lcl", "diff_ucl", "pvalue"]
    return MmrmResult(pd.DataFrame(rows), pd.DataFrame(comparisons, columns=comparison_columns), converged)
