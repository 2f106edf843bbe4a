"""Analysis methods named in the shell: each turns one shell row into ARD rows.

A method takes the row (a mapping from ``tlf.yaml``) and the :class:`OutputData` of its output
and returns ARD pieces (see :mod:`pipeline.analysis.ard`). The registry :data:`METHODS` is the
closed list the shell may name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import scipy.stats as sps

from pipeline.analysis.ard import BIG_N_ROW, melt_stats
from pipeline.analysis.filters import filter_where
from pipeline.analysis.statistics import (compute_ancova, compute_fisher_pvalue, compute_mmrm, compute_proportion_ci,
                                          compute_proportion_difference, summarise_continuous)
from pipeline.common.errors import ConfigError, InputError

MISSING_LEVEL = "(missing)"
UNCODED = "UNCODED"


@dataclass
class OutputData:
    """Everything a method needs for one output: population (ADSL records), columns and dataset access."""

    output_id: str
    where_name: str
    population: pd.DataFrame
    group_var: str
    groups: list[str]
    load: Callable[[str], pd.DataFrame]
    adsl_name: str = "adsl"
    total_label: str | None = None
    reference: str | None = None
    subject_var: str = "USUBJID"
    confidence_level: float = 0.95
    period_flag: str | None = None
    period_datasets: tuple[str, ...] = ()
    missing_data: Mapping[str, str] | None = None

    @property
    def column_groups(self) -> list[str]:
        """Treatment columns plus the total column when there is one."""
        return self.groups + ([self.total_label] if self.total_label else [])

    def with_total(self, dataset: pd.DataFrame) -> pd.DataFrame:
        """``dataset`` plus a copy of its rows under the total column (when the output has one)."""
        if not self.total_label:
            return dataset
        return pd.concat([dataset, dataset.assign(**{self.group_var: self.total_label})], ignore_index=True)

    def big_n(self) -> pd.Series:
        """Subjects in the population per column (index: column groups); counted once per output."""
        cached = self.__dict__.get("_big_n")
        if cached is None:
            counts = self.with_total(self.population).groupby(self.group_var)[self.subject_var].nunique()
            cached = self.__dict__["_big_n"] = counts.reindex(self.column_groups, fill_value=0).astype(int)
        return cached.copy()

    def analysis_dataset(self, row: Mapping[str, Any]) -> pd.DataFrame:
        """The row's dataset, filtered by ``where`` and restricted to the population.

        The treatment variable comes from ADSL (joined by subject), so a dataset need not carry it.
        """
        name = str(row.get("dataset") or self.adsl_name).lower()
        where_name = f"{self.where_name}.rows[{row.get('id')}]"
        if name == self.adsl_name:
            return filter_where(self.population, row.get("where"), where_name, name)
        dataset = self.load(name)
        if self.subject_var not in dataset.columns:
            raise InputError(f"{where_name}: dataset {name} has no subject variable {self.subject_var}")
        filtered = filter_where(dataset, row.get("where"), where_name, name)
        if self.period_flag and name in self.period_datasets:
            if self.period_flag not in filtered.columns:
                raise InputError(f"{where_name}: dataset {name} has no analysis period flag {self.period_flag}")
            filtered = filtered.loc[filtered[self.period_flag] == "Y"]
        filtered = filtered.drop(columns=[self.group_var], errors="ignore")
        keys = self.population[[self.subject_var, self.group_var]]
        return filtered.merge(keys, on=self.subject_var, how="inner", validate="many_to_one")


def _check_columns(dataset: pd.DataFrame, columns: list[str], data: OutputData, row: Mapping[str, Any]) -> None:
    missing = [c for c in columns if c not in dataset.columns]
    if missing:
        raise ConfigError(f"{data.where_name}.rows[{row.get('id')}]: dataset {row.get('dataset', data.adsl_name)} "
                          f"has no variable {', '.join(missing)}")


def _pct(n: pd.Series | np.ndarray, total: pd.Series | np.ndarray) -> np.ndarray:
    n, total = np.asarray(n, dtype="float64"), np.asarray(total, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 100.0 * n / total, np.nan)


def _exp_ci(frame: pd.DataFrame, source: str, target: str, pct: bool = True) -> pd.DataFrame:
    """Back-transform a log-scale estimate and its CI (``source``, ``_lcl``, ``_ucl``) to ``target``;
    ``pct = (1 - ratio) x 100`` is the relative improvement."""
    frame = frame.assign(**{target + end: np.exp(frame[source + end]) for end in ("", "_lcl", "_ucl")})
    return frame.assign(pct=(1.0 - frame[target]) * 100.0) if pct else frame


def _count_grid(layout: pd.DataFrame, counts: pd.DataFrame, on: list[str], data: OutputData) -> pd.DataFrame:
    """Every layout row x column group in display order, with subjects ``n`` (0 when none), ``N`` and ``pct``."""
    grid = layout.assign(_row=np.arange(len(layout))).merge(
        pd.DataFrame({"group": data.column_groups, "_col": np.arange(len(data.column_groups))}), how="cross")
    grid = grid.merge(counts, on=on, how="left").sort_values(["_row", "_col"])
    grid = grid.assign(n=grid["n"].fillna(0).astype(int), N=grid["group"].map(data.big_n()).astype(int))
    return grid.assign(pct=_pct(grid["n"], grid["N"]))


def big_n_rows(data: OutputData) -> pd.DataFrame:
    """The ``big_n`` ARD row: subjects in the population per column (stat ``N``).

    >>> from pipeline.analysis.examples import example_output_data
    >>> big_n_rows(example_output_data("table2"))[["group", "value"]].values.tolist()
    [['Active', 5], ['Placebo', 3], ['Total', 8]]
    """
    counts = data.big_n()
    wide = pd.DataFrame({"group": counts.index, "N": counts.to_numpy()})
    return melt_stats(wide, ["N"], BIG_N_ROW, "Number of subjects in the population")


def _row_parts(row: Mapping[str, Any], wide: pd.DataFrame, stats: list[str], comparison: pd.DataFrame | None = None,
               comparison_stats: list[str] | None = None) -> list[pd.DataFrame]:
    """The row's ARD piece, then its ``comparison_row`` piece when the shell asks for one and there is one."""
    parts = [melt_stats(wide, stats, row["id"], row.get("label", row["id"]))]
    if row.get("comparison_row") and comparison is not None and not comparison.empty:
        parts.append(melt_stats(comparison, comparison_stats, row["comparison_row"],
                                row.get("comparison_label", row["comparison_row"])))
    return parts


def _ancova(row: Mapping[str, Any], data: OutputData):
    dataset = data.analysis_dataset(row)
    covariates = list(row["covariates"])
    _check_columns(dataset, [row["response"], *covariates], data, row)
    return compute_ancova(dataset, row["response"], data.group_var, covariates, data.groups,
                          data.reference, data.confidence_level)


def analyse_ancova_change(row: Mapping[str, Any], data: OutputData) -> list[pd.DataFrame]:
    """ANCOVA of a change from baseline: n, mean, sd, LS mean (SE, CI); differences vs reference.

    >>> from pipeline.analysis.examples import example_output_data
    >>> row = {"id": "chg", "dataset": "adsledai", "where": {"AVISIT": "WEEK 24"}, "response": "CHG",
    ...        "covariates": ["BASE"], "comparison_row": "chg_cmp"}
    >>> ard = pd.concat(analyse_ancova_change(row, example_output_data("table1")))
    >>> ard.loc[ard["stat"].isin(["mean", "diff"]), ["row_id", "group", "stat", "value"]].values.tolist()
    [['chg', 'Active', 'mean', -3.0], ['chg', 'Placebo', 'mean', -1.0], ['chg_cmp', 'Active', 'diff', -2.0]]
    """
    fit = _ancova(row, data)
    return _row_parts(row, fit.lsmeans, ["n", "mean", "sd", "lsmean", "lsmean_se", "lsmean_lcl", "lsmean_ucl"],
                      fit.comparisons, ["diff", "diff_se", "diff_lcl", "diff_ucl", "pvalue"])


def analyse_ancova_log_ratio(row: Mapping[str, Any], data: OutputData) -> list[pd.DataFrame]:
    """ANCOVA of a log ratio to baseline, back-transformed to geometric mean ratios (GMR).

    Per group: ``gmr = exp(LS mean)`` with CI, ``pct = (1 - gmr) x 100`` (relative improvement).
    Comparison rows: ``ratio = exp(difference)`` with CI, ``pct = (1 - ratio) x 100``, p-value.

    >>> import math
    >>> from pipeline.analysis.examples import example_output_data
    >>> row = {"id": "upcr", "dataset": "adlb", "where": {"AVISIT": "WEEK 24"}, "response": "CHG", "covariates": []}
    >>> ard = analyse_ancova_log_ratio(row, example_output_data("table1"))[0]
    >>> gmr = ard.loc[(ard["group"] == "Placebo") & (ard["stat"] == "gmr"), "value"].item()
    >>> round(gmr, 6) == round(math.exp(-0.5), 6)
    True
    """
    fit = _ancova(row, data)
    ls = _exp_ci(fit.lsmeans, "lsmean", "gmr")
    # observed (unadjusted) geometric mean ratio: exp(mean log ratio) with a t interval per arm
    n_obs = ls["n"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        t_crit = sps.t.ppf(1 - (1 - data.confidence_level) / 2, np.where(n_obs > 1, n_obs - 1, np.nan))
        half = t_crit * ls["sd"].to_numpy(dtype="float64") / np.sqrt(n_obs)
    mean = ls["mean"].to_numpy(dtype="float64")
    ls = ls.assign(gmr_obs=np.exp(mean), gmr_obs_lcl=np.exp(mean - half), gmr_obs_ucl=np.exp(mean + half))
    stats = ["n", "mean", "sd", "lsmean", "lsmean_se", "lsmean_lcl", "lsmean_ucl", "gmr", "gmr_lcl", "gmr_ucl", "pct",
             "gmr_obs", "gmr_obs_lcl", "gmr_obs_ucl"]
    return _row_parts(row, ls, stats, _exp_ci(fit.comparisons, "diff", "ratio"),
                      ["diff", "diff_se", "diff_lcl", "diff_ucl", "ratio", "ratio_lcl", "ratio_ucl", "pct", "pvalue"])


def analyse_binary_response(row: Mapping[str, Any], data: OutputData) -> list[pd.DataFrame]:
    """Responders n / evaluable N (subjects with a record), percent and exact 95% CI (percent).

    With ``comparison_row``: each arm minus the reference arm in percentage points (``diff`` with
    Newcombe hybrid score CI ``diff_lcl``/``diff_ucl``) and the Fisher exact ``pvalue``.

    >>> from pipeline.analysis.examples import example_output_data
    >>> row = {"id": "crr", "dataset": "adrs", "where": {"ANL01FL": "Y"}, "response": "AVALC", "responder": "Y"}
    >>> ard = analyse_binary_response(row, example_output_data("table1"))[0]
    >>> ard.loc[ard["group"] == "Active", ["stat", "value"]].round(2).values.tolist()
    [['n', 1.0], ['N', 3.0], ['pct', 33.33], ['lcl', 0.84], ['ucl', 90.57]]
    """
    dataset = data.analysis_dataset(row)
    subject = data.subject_var
    _check_columns(dataset, [row["response"]], data, row)
    duplicated = dataset[subject].duplicated(keep=False)
    if duplicated.any():
        first = dataset.loc[duplicated, subject].iloc[0]
        raise InputError(f"{data.where_name}.rows[{row['id']}]: dataset {row['dataset']} has "
                         f"{int(duplicated.sum())} records for {int(dataset.loc[duplicated, subject].nunique())} "
                         f"subjects after the filter (e.g. {subject} = {first}); refine 'where' to one record per subject")
    responders = list(row["responder"]) if isinstance(row["responder"], list) else [row["responder"]]
    stacked = data.with_total(dataset).assign(_resp=lambda d: d[row["response"]].isin(responders))
    grouped = stacked.groupby(data.group_var)
    wide = pd.DataFrame({"n": grouped["_resp"].sum(), "N": grouped[subject].nunique()})
    wide = wide.reindex(data.column_groups, fill_value=0).rename_axis("group").reset_index()
    rule = (data.missing_data or {}).get(str(row.get("estimand")), row.get("missing_data", "evaluable"))
    if rule == "non_responder":       # every subject of the population; no record = non-responder
        wide = wide.assign(N=data.big_n().reindex(wide["group"]).to_numpy())
    lcl, ucl = compute_proportion_ci(wide["n"], wide["N"], data.confidence_level)
    wide = wide.assign(pct=_pct(wide["n"], wide["N"]), lcl=100.0 * lcl, ucl=100.0 * ucl)
    others = None
    if row.get("comparison_row") and data.reference:
        arms = wide.set_index("group").loc[data.groups]
        reference = arms.loc[data.reference]
        others = arms.drop(index=data.reference).rename_axis("group").reset_index()
        diff, diff_lcl, diff_ucl = compute_proportion_difference(
            others["n"], others["N"], [reference["n"]] * len(others), [reference["N"]] * len(others),
            data.confidence_level)
        pvalues = [compute_fisher_pvalue(n, total, reference["n"], reference["N"])
                   for n, total in zip(others["n"], others["N"])]
        others = others.assign(diff=100.0 * diff, diff_lcl=100.0 * diff_lcl, diff_ucl=100.0 * diff_ucl,
                               pvalue=pvalues)
    return _row_parts(row, wide, ["n", "N", "pct", "lcl", "ucl"], others, ["diff", "diff_lcl", "diff_ucl", "pvalue"])


def analyse_subject_count(row: Mapping[str, Any], data: OutputData) -> list[pd.DataFrame]:
    """Subjects with at least one record (n, N = population, pct) and records (events).

    >>> from pipeline.analysis.examples import example_output_data
    >>> row = {"id": "sae", "dataset": "adae", "where": {"TRTEMFL": "Y", "AESER": "Y"}}
    >>> ard = analyse_subject_count(row, example_output_data("table2"))[0]
    >>> ard.loc[ard["group"] == "Active", ["stat", "value"]].values.tolist()
    [['n', 2.0], ['N', 5.0], ['pct', 40.0], ['events', 2.0]]
    """
    dataset = data.with_total(data.analysis_dataset(row))
    grouped = dataset.groupby(data.group_var)[data.subject_var]
    wide = pd.DataFrame({"n": grouped.nunique(), "events": grouped.size()})
    wide = wide.reindex(data.column_groups, fill_value=0).rename_axis("group").reset_index()
    wide = wide.assign(N=data.big_n().to_numpy())
    return _row_parts(row, wide.assign(pct=_pct(wide["n"], wide["N"])), ["n", "N", "pct", "events"])


def analyse_soc_pt_counts(row: Mapping[str, Any], data: OutputData) -> list[pd.DataFrame]:
    """Subjects and events by body system and preferred term, sorted by descending total frequency.

    Row ids: ``ANY``, the body system, ``<body system>|<preferred term>``. Ties sort alphabetically.

    >>> from pipeline.analysis.examples import example_output_data
    >>> row = {"id": "s", "dataset": "adae", "where": {"TRTEMFL": "Y"}, "soc": "AEBODSYS", "pt": "AEDECOD"}
    >>> ard = analyse_soc_pt_counts(row, example_output_data("t_teae_soc_pt"))[0]
    >>> list(dict.fromkeys(ard["row_id"]))[:3]
    ['ANY', 'Infections and infestations', 'Infections and infestations|Nasopharyngitis']
    """
    soc, pt, subject = row["soc"], row["pt"], data.subject_var
    dataset = data.analysis_dataset(row)
    _check_columns(dataset, [soc, pt], data, row)
    dataset = dataset.assign(**{v: dataset[v].astype("string").str.strip().replace("", pd.NA).fillna(UNCODED)
                                for v in (soc, pt)})
    soc_total = dataset.groupby(soc)[subject].nunique().rename("soc_n").reset_index()
    pt_total = dataset.groupby([soc, pt])[subject].nunique().rename("pt_n").reset_index()
    soc_total = soc_total.sort_values(["soc_n", soc], ascending=[False, True], kind="stable")
    soc_total["soc_rank"] = np.arange(len(soc_total))
    pt_total = pt_total.merge(soc_total[[soc, "soc_rank"]], on=soc)
    pt_total = pt_total.sort_values(["soc_rank", "pt_n", pt], ascending=[True, False, True], kind="stable")
    soc_rows = soc_total.assign(row_id=soc_total[soc], row_label=soc_total[soc], _level=1, _pt_rank=-1)
    pt_rows = pt_total.assign(row_id=pt_total[soc] + "|" + pt_total[pt], row_label=pt_total[pt], _level=2,
                              _pt_rank=np.arange(len(pt_total)))
    layout = pd.concat([soc_rows, pt_rows], ignore_index=True).sort_values(["soc_rank", "_pt_rank"], kind="stable")
    any_row = pd.DataFrame({"row_id": ["ANY"], "row_label": [row.get("any_label", "ANY")]})
    layout = pd.concat([any_row, layout[["row_id", "row_label"]]], ignore_index=True)

    stacked = data.with_total(dataset.assign(_any="ANY", _pt=dataset[soc] + "|" + dataset[pt]))
    counts = pd.concat([stacked.groupby([data.group_var, key])[subject].agg(n="nunique", events="size")
                        .rename_axis(["group", "row_id"]) for key in ("_any", soc, "_pt")]).reset_index()

    grid = _count_grid(layout, counts, ["row_id", "group"], data)
    grid = grid.assign(events=grid["events"].fillna(0).astype(int))
    return [melt_stats(grid, ["n", "N", "pct", "events"])]


def analyse_continuous_summary(row: Mapping[str, Any], data: OutputData) -> list[pd.DataFrame]:
    """n, mean, sd, median, q1, q3, min, max of an ADSL variable per column.

    >>> from pipeline.analysis.examples import example_output_data
    >>> ard = analyse_continuous_summary({"id": "AGE", "variable": "AGE"}, example_output_data("t_demog"))[0]
    >>> ard.loc[ard["stat"] == "mean", ["group", "value"]].round(2).values.tolist()
    [['Active', 45.0], ['Placebo', 49.0], ['Total', 46.71]]
    """
    dataset = data.with_total(data.analysis_dataset(row))
    _check_columns(dataset, [row["variable"]], data, row)
    table = summarise_continuous(dataset, row["variable"], data.group_var, data.column_groups)
    stats = ["n", "mean", "sd", "median", "q1", "q3", "min", "max"]
    return [melt_stats(table, stats, row["id"], row.get("label", row["variable"]))]


def categorical_levels(values: pd.Series, levels: list[Any] | None = None,
                       order_values: pd.Series | None = None) -> list[str]:
    """Levels of a categorical variable in display order: ``levels`` first, then the others by
    ``order_values`` (e.g. AGEGR1N) or alphabetically.

    >>> categorical_levels(pd.Series(["M", "F", "U"]), levels=["F", "M"])
    ['F', 'M', 'U']
    >>> categorical_levels(pd.Series([">=65", "<65"]), order_values=pd.Series([2, 1]))
    ['<65', '>=65']
    """
    present = values.dropna().astype(str)
    present = present[present.str.strip() != ""]
    ordered = [str(v) for v in (levels or [])]
    others = present[~present.isin(ordered)]
    if order_values is not None:
        keys = pd.DataFrame({"value": others, "order": pd.to_numeric(order_values.loc[others.index], errors="coerce")})
        keys = keys.groupby("value")["order"].min().reset_index().sort_values(["order", "value"], na_position="last")
        rest = keys["value"].tolist()
    else:
        rest = sorted(others.unique().tolist())
    return ordered + [v for v in rest if v not in ordered]


def analyse_categorical_summary(row: Mapping[str, Any], data: OutputData) -> list[pd.DataFrame]:
    """Subjects per level of an ADSL variable: n, N (population), pct; row ids ``VAR=value``.

    A level ``(missing)`` is added when some subjects have no value.

    >>> from pipeline.analysis.examples import example_output_data
    >>> ard = analyse_categorical_summary({"id": "SEX", "variable": "SEX"}, example_output_data("t_demog"))[0]
    >>> ard.loc[(ard["group"] == "Total") & (ard["stat"] == "n"), ["row_id", "value"]].values.tolist()
    [['SEX=F', 5.0], ['SEX=M', 2.0]]
    """
    variable = row["variable"]
    dataset = data.analysis_dataset(row)
    order_variable = row.get("order_variable")
    _check_columns(dataset, [variable] + ([order_variable] if order_variable else []), data, row)
    values = dataset[variable].astype("string").str.strip().replace("", pd.NA)
    levels = categorical_levels(values, row.get("levels"), dataset[order_variable] if order_variable else None)
    if values.isna().any():
        levels.append(MISSING_LEVEL)
    dataset = dataset.assign(_level=values.fillna(MISSING_LEVEL).astype(str))
    stacked = data.with_total(dataset)
    counts = stacked.groupby([data.group_var, "_level"])[data.subject_var].nunique().rename("n").reset_index()
    labels = {MISSING_LEVEL: "Missing", **{str(k): str(v) for k, v in (row.get("level_labels") or {}).items()}}
    grid = _count_grid(pd.DataFrame({"_level": levels}), counts.rename(columns={data.group_var: "group"}),
                       ["group", "_level"], data)
    grid = grid.assign(row_id=variable + "=" + grid["_level"], row_label=grid["_level"].map(labels).fillna(grid["_level"]))
    return [melt_stats(grid, ["n", "N", "pct"])]


def format_listing_values(values: pd.Series, decimals: int | None = None) -> pd.Series:
    """Listing text of a column: numbers with fixed decimals, missing as empty text.

    >>> format_listing_values(pd.Series([3.0, None, -12.0]), decimals=0).tolist()
    ['3', '', '-12']
    >>> format_listing_values(pd.Series(pd.to_datetime(["2019-04-01", None]))).tolist()
    ['2019-04-01', '']
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m-%d").fillna("").astype(str)
    if decimals is not None and pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        text = numbers.map(lambda v: "" if pd.isna(v) else f"{v:.{int(decimals)}f}")
        return text.astype(str)
    return values.astype("string").fillna("").astype(str)


def analyse_listing(row: Mapping[str, Any], data: OutputData) -> list[pd.DataFrame]:
    """Records of the filtered dataset as text, ordered by treatment column then ``sort``.

    ARD rows: ``row_id`` = the record id (``record_id`` variables joined by ``|``, default the
    subject and a running number), ``row_label`` = the subject, ``stat`` = the listed variable.

    >>> from pipeline.analysis.examples import example_output_data
    >>> row = {"id": "l", "dataset": "adae", "where": {"AESER": "Y"}, "sort": ["USUBJID"],
    ...        "columns": [{"variable": "USUBJID"}, {"variable": "AEDECOD"}]}
    >>> ard = analyse_listing(row, example_output_data("l_sae"))[0]
    >>> ard.loc[ard["stat"] == "AEDECOD", ["row_id", "value"]].values.tolist()[:2]
    [['S01|1', 'Pneumonia'], ['S04|1', 'Headache']]
    """
    dataset = data.analysis_dataset(row)
    columns = [c["variable"] for c in row["columns"]]
    sort = list(row.get("sort") or [])
    record_id = list(row.get("record_id") or [])
    _check_columns(dataset, list(dict.fromkeys(columns + sort + record_id)), data, row)
    if dataset.empty:
        return []
    rank = {g: i for i, g in enumerate(data.groups)}
    dataset = dataset.assign(_grp=dataset[data.group_var].map(rank).fillna(len(rank)))
    dataset = dataset.sort_values(["_grp", *sort], kind="stable", na_position="last").reset_index(drop=True)
    subject = dataset[data.subject_var].astype(str)
    if record_id:
        parts = [dataset[c].astype("string").fillna("").astype(str) for c in record_id]
        ids = parts[0].str.cat(parts[1:], sep="|") if len(parts) > 1 else parts[0]
    else:
        ids = subject + "|" + (dataset.groupby(data.subject_var).cumcount() + 1).astype(str)
    wide = pd.DataFrame({"row_id": ids, "row_label": subject, "group": dataset[data.group_var].astype(str)})
    for spec in row["columns"]:
        wide[spec["variable"]] = format_listing_values(dataset[spec["variable"]], spec.get("decimals"))
    return [melt_stats(wide, columns)]


def analyse_mmrm(row: Mapping[str, Any], data: OutputData) -> list[pd.DataFrame]:
    """Mixed model for repeated measures over the visits of ``visits`` (statsmodels MixedLM).

    Fixed effects: treatment x visit and each covariate x visit; a random subject intercept
    (compound symmetry, ``covariance: cs``). Per visit and group: n, LS mean (SE, CI) and, for
    ``log_ratio: true``, the back-transformed ``gmr`` with CI; comparison rows: difference (ratio)
    vs the reference arm with CI and p-value. Row ids: ``<id>@<visit>`` and ``<comparison_row>@<visit>``.

    >>> from pipeline.analysis.examples import example_output_data
    >>> row = {"id": "m", "dataset": "adlb", "where": {}, "response": "CHG", "covariates": [],
    ...        "visit": "AVISIT", "visits": ["WEEK 24"]}
    >>> ard = analyse_mmrm(row, example_output_data("table1"))[0]
    >>> sorted(set(ard["row_id"]))
    ['m@WEEK 24']
    """
    dataset = data.analysis_dataset(row)
    covariates = list(row["covariates"])
    visit = row["visit"]
    _check_columns(dataset, [row["response"], visit, *covariates], data, row)
    visits = [str(v) for v in (row.get("visits") or sorted(dataset[visit].dropna().astype(str).unique()))]
    covariance = str(row.get("covariance", "cs"))
    if covariance != "cs":
        raise ConfigError(f"{data.where_name}.rows[{row.get('id')}]: covariance {covariance!r} is not supported "
                          f"(known: cs, compound symmetry)")
    fit = compute_mmrm(dataset, row["response"], data.group_var, visit, covariates, data.groups, visits,
                       data.reference, data.subject_var, data.confidence_level)
    log_ratio = bool(row.get("log_ratio", False))
    ls = _exp_ci(fit.lsmeans, "lsmean", "gmr") if log_ratio else fit.lsmeans
    stats = ["n", "lsmean", "lsmean_se", "lsmean_lcl", "lsmean_ucl"] + (["gmr", "gmr_lcl", "gmr_ucl", "pct"] if log_ratio else [])
    label = row.get("label", row["id"])
    parts = [melt_stats(ls.loc[ls["visit"] == v].drop(columns="visit"), stats, f"{row['id']}@{v}", f"{label}: {v}")
             for v in visits]
    cmp_ = _exp_ci(fit.comparisons, "diff", "ratio", pct=False) if log_ratio else fit.comparisons
    if row.get("comparison_row") and not cmp_.empty:
        cstats = ["diff", "diff_se", "diff_lcl", "diff_ucl", "pvalue"] + (["ratio", "ratio_lcl", "ratio_ucl"] if log_ratio else [])
        cmp_label = row.get("comparison_label", row["comparison_row"])
        parts += [melt_stats(cmp_.loc[cmp_["visit"] == v].drop(columns=["visit", "reference"]), cstats,
                             f"{row['comparison_row']}@{v}", f"{cmp_label}: {v}") for v in visits]
    return parts


METHODS: dict[str, Callable[[Mapping[str, Any], OutputData], list[pd.DataFrame]]] = {
    "ancova_log_ratio": analyse_ancova_log_ratio,
    "ancova_change": analyse_ancova_change,
    "binary_response": analyse_binary_response,
    "subject_count": analyse_subject_count,
    "soc_pt_counts": analyse_soc_pt_counts,
    "continuous_summary": analyse_continuous_summary,
    "categorical_summary": analyse_categorical_summary,
    "listing": analyse_listing,
    "mmrm": analyse_mmrm,
}
