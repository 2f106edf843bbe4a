"""Data-quality expectations run with Great Expectations 1.x, built from ``specs/<study>/expectations.yaml``.

Each expectation item is one rule and one GX expectation on a *view*: a dataset filtered by a row mask,
or a small derived frame (dates as datetimes, completeness per visit, visit order). GX is imported
lazily (slow import) and runs in an ephemeral context; Data Docs HTML goes under ``validation/gx/``.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.dates import to_date
from pipeline.common.errors import ConfigError
from pipeline.common.expressions import Expression, evaluate_mask, where_expression
from pipeline.common.logs import get_logger
from pipeline.common.specfile import line_at, load_spec
from pipeline.common.study import study_value
from pipeline.validate.conformance_base import ValidationData
from pipeline.validate.data_docs import make_data_docs_offline
from pipeline.validate.findings import SEVERITY_RANK, concat_findings, empty_findings, make_findings
from pipeline.validate.frames import column_dates, display_text, distinct_rows
from pipeline.validate.rules import Rule

RECORD = "__record"
SUPPORTED_EXPECTATIONS = {
    "expect_column_values_to_be_between": "ExpectColumnValuesToBeBetween",
    "expect_column_values_to_be_in_set": "ExpectColumnValuesToBeInSet",
    "expect_column_values_to_not_be_null": "ExpectColumnValuesToNotBeNull",
    "expect_column_values_to_match_regex": "ExpectColumnValuesToMatchRegex",
    "expect_column_values_to_not_be_in_set": "ExpectColumnValuesToNotBeInSet",
}
_REFERENCE = re.compile(r"^\$(?P<kind>study|spec):(?P<path>[\w.\[\]-]+)$")
log = get_logger("validate.expectations")


@dataclass
class ExpectationSpec:
    """One expectation item of expectations.yaml, resolved."""

    rule: Rule
    dataset: str
    expectation: str
    kwargs: dict[str, Any]
    filter: dict[str, Any] | str = field(default_factory=dict)  # as written (resolved), for grouping
    view: str | None = None
    view_options: dict[str, Any] = field(default_factory=dict)
    line: int = 0
    where: Expression | None = None  # the filter, compiled by the expression language at load

    def __post_init__(self) -> None:
        if self.where is None and self.filter:
            self.where = where_expression(self.filter, f"expectation {self.rule.id} filter")


def resolve_reference(value: Any, design: dict[str, Any], where: str = "expectations.yaml",
                      specs_dir: Path | None = None) -> Any:
    """Replace ``$study:path.to.value`` (study.yaml) or ``$spec:<file>.path`` (another
    ``specs/<study>/<file>.yaml``) recursively; list items by index, lists of mappings mapped over.

    >>> design = {"eligibility": {"age": [18, 75]}, "arms": [{"armcd": "A"}, {"armcd": "B"}]}
    >>> resolve_reference({"min": "$study:eligibility.age.0", "arms": "$study:arms.armcd"}, design)
    {'min': 18, 'arms': ['A', 'B']}
    """
    if isinstance(value, dict):
        return {k: resolve_reference(v, design, where, specs_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_reference(v, design, where, specs_dir) for v in value]
    if not isinstance(value, str):
        return value
    match = _REFERENCE.match(value)
    if not match:
        return value
    source, path = design, match.group("path")
    label = "study.yaml"
    if match.group("kind") == "spec":
        name, _, path = path.partition(".")
        if specs_dir is None:
            raise ConfigError(f"{where}: {value}: $spec references need the study's specs folder")
        source, label = load_spec(Path(specs_dir) / f"{name}.yaml") or {}, f"{name}.yaml"
    try:
        return study_value(source, path)
    except KeyError:
        raise ConfigError(f"{where}: {value}: {label} has no '{path}'") from None


def load_expectation_specs(path: Path, design: dict[str, Any]) -> tuple[list[ExpectationSpec], dict[str, dict]]:
    """Read expectations.yaml: the expectation items and the study's rule severity overrides.

    A missing file means no expectations (and no overrides).

    >>> load_expectation_specs(Path("/nonexistent/expectations.yaml"), {})
    ([], {})
    """
    if not Path(path).exists():
        return [], {}
    spec = load_spec(path) or {}
    overrides = spec.get("rules") or {}
    for rule_id, override in overrides.items():
        severity = (override or {}).get("severity")
        if severity not in SEVERITY_RANK and not (override or {}).get("disabled"):
            raise ConfigError(f"{path}:line {line_at(spec, 'rules', rule_id)}: rule {rule_id}: severity "
                              f"'{severity}' must be one of {', '.join(SEVERITY_RANK)}")
    items = []
    for index, raw in enumerate(spec.get("expectations") or []):
        line = line_at(spec, "expectations", index)
        where = f"{path}:line {line}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: an expectation must be a mapping")
        missing = [k for k in ("id", "title", "dataset", "expectation", "severity") if k not in raw]
        if missing:
            raise ConfigError(f"{where}: expectation is missing {', '.join(missing)}")
        if raw["expectation"] not in SUPPORTED_EXPECTATIONS:
            raise ConfigError(f"{where}: expectation '{raw['expectation']}' is not supported "
                              f"(use one of {', '.join(sorted(SUPPORTED_EXPECTATIONS))})")
        if raw["severity"] not in SEVERITY_RANK:
            raise ConfigError(f"{where}: severity '{raw['severity']}' must be one of {', '.join(SEVERITY_RANK)}")
        view = raw.get("view")
        if view is not None and view not in VIEWS:
            raise ConfigError(f"{where}: view '{view}' is unknown (use one of {', '.join(sorted(VIEWS))})")
        resolved = {key: resolve_reference(raw.get(key) or {}, design, where, Path(path).parent)
                    for key in ("filter", "kwargs", "view_options")}
        filter_line = line_at(spec, "expectations", index, "filter", default=line)
        compiled = where_expression(resolved["filter"], f"{path}:{filter_line}: expectation {raw['id']} filter") \
            if resolved["filter"] else None
        rule = Rule(str(raw["id"]), str(raw["title"]), str(raw.get("description", raw["title"])),
                    str(raw.get("message", raw["title"] + ": {column} value {value}")), str(raw["severity"]),
                    "great_expectations", str(raw.get("citation", "")), check=raw["expectation"])
        items.append(ExpectationSpec(rule, str(raw["dataset"]).upper(), raw["expectation"], dict(resolved["kwargs"]),
                                     resolved["filter"], view, dict(resolved["view_options"]), line, compiled))
    return items, overrides


def load_accepted_findings(path: Path) -> list[dict[str, Any]]:
    """The ``accepted:`` list of expectations.yaml; each entry needs rule_id and reason (file:line otherwise).

    >>> load_accepted_findings(Path("/nonexistent/expectations.yaml"))
    []
    """
    if not Path(path).exists():
        return []
    spec = load_spec(path)
    accepted = (spec or {}).get("accepted") or []
    if not isinstance(accepted, list):
        raise ConfigError(f"{path}:line {line_at(spec, 'accepted')}: 'accepted' must be a list")
    for number, entry in enumerate(accepted):
        if not isinstance(entry, dict) or not entry.get("rule_id") or not entry.get("reason"):
            raise ConfigError(f"{path}:line {line_at(spec, 'accepted', number)}: an accepted finding needs "
                              "rule_id and reason")
    return accepted


# --- views: the frame an expectation looks at -----------------------------------------------------

def filter_records(frame: pd.DataFrame, where: Expression | None) -> pd.Series:
    """Row mask of an expectation's filter (:func:`pipeline.common.expressions.where_expression`);
    no filter keeps every row, a filter on a column the frame lacks keeps none.

    >>> d = pd.DataFrame({"T": ["A", "B", "C"], "F": ["Y", None, "Y"]})
    >>> filter_records(d, where_expression({"T": ["A", "C"], "F": {"notnull": True}})).tolist()
    [True, False, True]
    """
    if where is None:
        return pd.Series(True, index=frame.index)
    if any(column not in frame.columns for column in where.columns):
        return pd.Series(False, index=frame.index)
    return evaluate_mask(frame, where)


def _records_view(frame: pd.DataFrame, mask: pd.Series, columns: Collection[str] | None = None) -> pd.DataFrame:
    """The records of ``mask`` (only ``columns`` of them, when given) with their record numbers."""
    kept = frame.columns if columns is None else [c for c in frame.columns if c in columns]
    picked = mask.to_numpy(dtype=bool)
    if picked.all():   # every record: a copy that shares the immutable Arrow text arrays (no take of each column)
        view = frame[kept].copy()
    else:
        view = frame.loc[picked, kept].copy()
    view[RECORD] = np.flatnonzero(picked) + 1
    return view


def view_records(data: ValidationData, spec: ExpectationSpec, columns: Collection[str] | None = None
                 ) -> pd.DataFrame | None:
    """The dataset's records (after the filter) with their 1-based record numbers; options ``numeric``
    (columns read as numbers) and ``columns`` (ISO 8601 columns also given as dates, ``<column>_DATE``).
    ``columns``: the only columns of the dataset to copy into the view (:func:`view_columns`).

    >>> spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "DM", "", {},
    ...                        filter={"ARMCD": ["A"]})
    >>> data = ValidationData({"DM": pd.DataFrame({"ARMCD": ["B", "A"], "AGE": [30, 40]})}, {})
    >>> view_records(data, spec)[["AGE", "__record"]].values.tolist()
    [[40, 2]]
    >>> spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "AE", "", {},
    ...                        view_options={"columns": ["AESTDTC"]})
    >>> data = ValidationData({"AE": pd.DataFrame({"AESTDTC": ["2024-02-03T10:00", "2024-02"]})}, {})
    >>> view_records(data, spec)["AESTDTC_DATE"].astype(str).tolist()
    ['2024-02-03', 'NaT']
    """
    frame = data.sdtm.get(spec.dataset, data.adam.get(spec.dataset))
    if frame is None:
        return None
    mask = filter_records(frame, spec.where)
    view = _records_view(frame, mask, columns)
    numeric = spec.view_options.get("numeric", [])
    for column in numeric:
        if column in view.columns:
            view[column] = pd.to_numeric(view[column], errors="coerce")
    for column in spec.view_options.get("columns", []):
        if column in view.columns:   # the source column's dates, parsed once per run (the conformance rules read them)
            view[f"{column}_DATE"] = to_date(view[column]) if column in numeric \
                else column_dates(frame[column]).to_numpy()[mask.to_numpy(dtype=bool)]
    return view


def view_completeness_by_visit(data: ValidationData, spec: ExpectationSpec, columns: Collection[str] | None = None
                               ) -> pd.DataFrame | None:
    """One row per test and visit: the share of subjects with that visit in SV who have a result.

    Options: ``test_var`` (e.g. LBTESTCD), ``tests`` (list), ``result_var`` (e.g. LBSTRESN),
    ``visits`` (VISIT names to look at; default all planned ones in SV).

    >>> spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "LB", "", {},
    ...                        view_options={"test_var": "LBTESTCD", "result_var": "LBSTRESN"})
    >>> sv = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "VISIT": ["WEEK 4", "WEEK 4"]})
    >>> lb = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "VISIT": ["WEEK 4"] * 2, "LBTESTCD": ["UPCR"] * 2,
    ...                    "LBSTRESN": [1.2, None]})
    >>> view_completeness_by_visit(ValidationData({"SV": sv, "LB": lb}, {}), spec)[["LABEL", "COMPLETENESS"]].values.tolist()
    [['UPCR at WEEK 4', 0.5]]
    """
    frame = data.sdtm.get(spec.dataset)
    sv = data.first("SV")
    opts = spec.view_options
    if frame is None or sv is None or not {"USUBJID", "VISIT"} <= set(sv.columns):
        return None
    test_var, result_var = opts.get("test_var"), opts.get("result_var")
    if test_var not in frame.columns or result_var not in frame.columns:
        return None
    occurred = sv
    if "SVOCCUR" in sv.columns:
        occurred = sv[sv["SVOCCUR"].fillna("Y") != "N"]
    if "SVSTDTC" in sv.columns:
        occurred = occurred[occurred["SVSTDTC"].notna()]
    visits = opts.get("visits") or sorted(occurred["VISIT"].dropna().unique())
    occurred = occurred[occurred["VISIT"].isin(visits)][["USUBJID", "VISIT"]].drop_duplicates()
    tests = opts.get("tests") or sorted(frame[test_var].dropna().unique())
    expected = occurred.merge(pd.DataFrame({test_var: tests}), how="cross")
    have = frame[frame[result_var].notna() & frame[test_var].isin(tests)][["USUBJID", "VISIT", test_var]]
    have = have.drop_duplicates().assign(HAVE=True)
    merged = expected.merge(have, on=["USUBJID", "VISIT", test_var], how="left")
    merged["HAVE"] = merged["HAVE"].eq(True)
    summary = merged.groupby([test_var, "VISIT"], sort=True).agg(SUBJECTS=("USUBJID", "nunique"),
                                                                   COMPLETENESS=("HAVE", "mean")).reset_index()
    summary[RECORD] = np.nan
    summary["USUBJID"] = None
    summary["LABEL"] = summary[test_var].astype(str) + " at " + summary["VISIT"].astype(str)
    return summary


def completeness_columns(spec: ExpectationSpec) -> dict[str, list[str]]:
    """The columns :func:`view_completeness_by_visit` reads, by dataset.

    >>> spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "LB", "", {},
    ...                        view_options={"test_var": "LBTESTCD", "result_var": "LBSTRESC"})
    >>> completeness_columns(spec)
    {'LB': ['USUBJID', 'VISIT', 'LBTESTCD', 'LBSTRESC'], 'SV': ['USUBJID', 'VISIT', 'SVOCCUR', 'SVSTDTC']}
    """
    opts = spec.view_options
    return {spec.dataset: ["USUBJID", "VISIT", str(opts.get("test_var")), str(opts.get("result_var"))],
            "SV": ["USUBJID", "VISIT", "SVOCCUR", "SVSTDTC"]}


def ratio_to_median_columns(spec: ExpectationSpec) -> dict[str, list[str]] | None:
    """The columns :func:`view_ratio_to_median` reads when its groups span subjects (``by`` without
    USUBJID: a study median); None when each subject is its own group.

    >>> spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "LB", "", {},
    ...                        view_options={"value": "LBSTRESN", "by": ["LBTESTCD", "LBSPEC"]})
    >>> ratio_to_median_columns(spec)
    {'LB': ['USUBJID', 'LBSTRESN', 'LBTESTCD', 'LBSPEC']}
    """
    by = list(spec.view_options.get("by") or ["USUBJID"])
    if "USUBJID" in by:
        return None
    columns = ["USUBJID", str(spec.view_options.get("value")), *by, *[str(c) for c in spec.filter]]
    return {spec.dataset: list(dict.fromkeys(columns))}


# Views that summarise all subjects together (a share per visit, a study median): a partitioned run
# (the dask engine) computes them once over the whole study, reading only these columns.
STUDY_WIDE_VIEWS = {"completeness_by_visit": completeness_columns, "ratio_to_median": ratio_to_median_columns,
                    "within_subject_ratio": ratio_to_median_columns}


def study_wide_columns(spec: ExpectationSpec) -> dict[str, list[str]] | None:
    """The columns a study-wide view of ``spec`` reads, or None when it can run per block of subjects."""
    columns = STUDY_WIDE_VIEWS.get(spec.view or "records")
    return columns(spec) if columns is not None else None


def view_visit_order(data: ValidationData, spec: ExpectationSpec, columns: Collection[str] | None = None
                     ) -> pd.DataFrame | None:
    """Records with ``VISIT_ORDER_OK``: within a subject, a later VISITNUM never has an earlier date.

    >>> spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "SV", "", {},
    ...                        view_options={"date": "SVSTDTC"})
    >>> sv = pd.DataFrame({"USUBJID": ["S"] * 3, "VISITNUM": [1, 2, 3],
    ...                    "SVSTDTC": ["2024-01-01", "2024-01-20", "2024-01-10"]})
    >>> view_visit_order(ValidationData({"SV": sv}, {}), spec)["VISIT_ORDER_OK"].tolist()
    [True, True, False]
    """
    frame = data.sdtm.get(spec.dataset)
    date_var = spec.view_options.get("date", f"{spec.dataset}STDTC")
    if frame is None or not {"USUBJID", "VISITNUM", date_var} <= set(frame.columns):
        return None
    view = _records_view(frame, filter_records(frame, spec.where), columns)
    view["DATE_"] = to_date(view[date_var])
    view["VISITNUM_"] = pd.to_numeric(view["VISITNUM"], errors="coerce")
    ordered = view.dropna(subset=["DATE_", "VISITNUM_"]).sort_values(["USUBJID", "VISITNUM_"], kind="mergesort")
    latest_before = ordered.groupby("USUBJID")["DATE_"].cummax().groupby(ordered["USUBJID"]).shift(1)
    bad = ordered["DATE_"] < latest_before
    view["VISIT_ORDER_OK"] = True
    view.loc[bad[bad].index, "VISIT_ORDER_OK"] = False
    return view


def view_ratio_to_median(data: ValidationData, spec: ExpectationSpec, columns: Collection[str] | None = None
                         ) -> pd.DataFrame | None:
    """Records with ``RATIO`` = value / the median value of its group (unit slips stand out).

    Options: ``value`` (numeric column, e.g. LBSTRESN) and ``by`` (the group: [USUBJID, LBTESTCD,
    LBSPEC] compares a result with the subject's other results of the test, [LBTESTCD, LBSPEC]
    with the whole study); medians need at least ``min_records`` (3) values.

    >>> spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "LB", "", {},
    ...                        view_options={"value": "LBSTRESN", "by": ["LBTESTCD"]})
    >>> lb = pd.DataFrame({"LBTESTCD": ["ALB"] * 4, "LBSTRESN": [40.0, 42.0, 38.0, 4.1]})
    >>> view_ratio_to_median(ValidationData({"LB": lb}, {}), spec)["RATIO"].round(3).tolist()
    [1.026, 1.077, 0.974, 0.105]
    """
    view = view_records(data, spec, columns)
    opts = spec.view_options
    value, by = opts.get("value"), list(opts.get("by") or ["USUBJID"])
    if view is None or value not in view.columns or not set(by) <= set(view.columns):
        return None
    numbers = pd.to_numeric(view[value], errors="coerce")
    group = _text_key_groups(view, by)
    median = numbers.groupby(group).transform("median")
    count = numbers.groupby(group).transform("count")
    usable = (count >= int(opts.get("min_records", 3))) & (median > 0) & numbers.notna()
    view["RATIO"] = (numbers / median).where(usable)
    return view


def _text_key_groups(frame: pd.DataFrame, by: list[str]) -> np.ndarray:
    """A group number per record, equal where the ``by`` values as text (null as "") joined by ``|`` are equal;
    the text is joined once per distinct combination of values (:func:`distinct_rows`), not once per record.

    >>> frame = pd.DataFrame({"A": ["x", "x|y", "x", None], "B": ["y|z", "z", "y|z", "w"]})
    >>> _text_key_groups(frame, ["A", "B"]).tolist()
    [0, 0, 0, 1]
    """
    first, combination = distinct_rows(frame, by)
    keys = frame.iloc[first][by].astype("string").fillna("")
    joined = keys.iloc[:, 0].str.cat(keys.iloc[:, 1:], sep="|")
    return pd.factorize(joined.to_numpy(dtype=object))[0][combination]


def view_columns(members: list[ExpectationSpec]) -> set[str]:
    """The dataset columns a view of these expectations reads: the checked columns (and the ISO 8601 text of a
    ``<column>_DATE``), USUBJID and VISITNUM, the columns its options name and the visit-order date.

    >>> spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "LB", "",
    ...                        {"column": "RATIO"}, view_options={"value": "LBSTRESN", "by": ["LBTESTCD"]})
    >>> sorted(view_columns([spec]))
    ['LBSTDTC', 'LBSTRESN', 'LBTESTCD', 'RATIO', 'USUBJID', 'VISITNUM']
    """
    columns = {"USUBJID", "VISITNUM"}
    for member in members:
        checked = str(member.kwargs.get("column", ""))
        columns |= {checked, checked.removesuffix("_DATE"), f"{member.dataset}STDTC"}
        options = member.view_options
        columns |= {str(options[key]) for key in ("value", "date", "test_var", "result_var") if options.get(key)}
        for key in ("by", "numeric", "columns"):
            columns.update(str(c) for c in options.get(key) or [])
    return columns


# A view reads only the dataset columns view_columns names (a copy of a whole dataset per view is slow and large).
VIEWS: dict[str, Callable[..., pd.DataFrame | None]] = {
    "records": view_records,
    "dates": view_records,
    "completeness_by_visit": view_completeness_by_visit,
    "visit_order": view_visit_order,
    "within_subject_ratio": view_ratio_to_median,
    "ratio_to_median": view_ratio_to_median,
}


# --- running GX -------------------------------------------------------------------------------------

DATA_DOCS_SITE = "validation"


def _gx_context(docs_dir: Path | None) -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    if docs_dir is not None:
        context.add_data_docs_site(site_name=DATA_DOCS_SITE, site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
    return context


Payload = tuple[str, pd.DataFrame, list[tuple[str, str, dict[str, Any]]]]   # view name, checked columns, checks


@dataclass
class PreparedView:
    """The frame a group of expectations looks at, and those expectations."""

    name: str
    frame: pd.DataFrame
    members: list[ExpectationSpec]

    def payload(self) -> Payload:
        """What GX needs (picklable, only the checked columns) for :meth:`GxSession.validate`."""
        checks = [(m.rule.id, m.expectation, m.kwargs) for m in self.members if m.kwargs.get("column") in self.frame]
        columns = sorted({kwargs["column"] for _, _, kwargs in checks})
        return self.name, self.frame[columns], checks

    def for_findings(self) -> PreparedView:
        """The view with only the columns GX and :func:`_result_findings` read (what a worker process is sent)."""
        needed = {RECORD, "USUBJID", "LABEL"}
        for member in self.members:
            column = str(member.kwargs.get("column", ""))
            needed |= {column, column.removesuffix("_DATE"), str(member.view_options.get("value", ""))}
        return PreparedView(self.name, self.frame[[c for c in self.frame.columns if c in needed]], self.members)

    def findings(self, session: GxSession) -> pd.DataFrame:
        """Validate the view in ``session`` and turn its results into findings (one per unexpected row)."""
        summaries = session.validate(self.payload())
        by_id = {m.rule.id: m for m in self.members}
        return concat_findings([_result_findings(by_id[rule_id], summary, self.frame)
                                for (name, rule_id), summary in sorted(summaries.items())
                                if name == self.name and rule_id in by_id])


def iter_views(data: ValidationData, specs: list[ExpectationSpec]) -> Iterator[PreparedView]:
    """One view per distinct (dataset, view, filter, options), built when asked for (one view held at a time);
    expectations sharing it form one suite."""
    groups: dict[tuple, list[ExpectationSpec]] = {}
    for spec in specs:
        key = (spec.dataset, spec.view or "records",
               repr(sorted(spec.filter.items())) if isinstance(spec.filter, dict) else spec.filter,
               repr(sorted(spec.view_options.items())))
        groups.setdefault(key, []).append(spec)
    for number, (key, members) in enumerate(sorted(groups.items(), key=lambda kv: kv[0])):
        first = members[0]
        dataset = data.sdtm.get(first.dataset, data.adam.get(first.dataset))
        absent = sorted(str(c) for c in (first.where.columns if first.where else [])
                        if dataset is not None and c not in dataset.columns)
        if absent:  # filter_records then keeps no record: say so instead of passing silently
            log.warning("expectations.yaml line %d: %s filters on %s, not a column of %s: no record is checked",
                        first.line, ", ".join(m.rule.id for m in members), ", ".join(absent), first.dataset)
        frame = VIEWS[first.view or "records"](data, first, view_columns(members))
        if frame is None or frame.empty:
            continue
        name = f"{number:03d}_{first.dataset}_{first.view or 'records'}".lower()
        view = PreparedView(name, frame.reset_index(drop=True), members)
        del frame
        yield view
        del view   # neither is held while the next view is built


class GxSession:
    """One GX context for a run's views: each view is validated as it comes (one suite per view), and the Data
    Docs of every stored validation result are built once, by :meth:`finish`."""

    def __init__(self, docs_dir: Path | None = None) -> None:
        self.docs_dir = docs_dir
        self.context = _gx_context(docs_dir)
        self.source = self.context.data_sources.add_pandas("validation")

    def validate(self, payload: Payload) -> dict[tuple[str, str], dict[str, Any]]:
        """Plain result summaries of one view by (view, rule id): picklable, so a worker process can send them."""
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.core.run_identifier import RunIdentifier

        name, frame, checks = payload
        out: dict[tuple[str, str], dict[str, Any]] = {}
        if not checks:
            return out
        context = self.context
        asset = self.source.add_dataframe_asset(name=name)
        batch_definition = asset.add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=name))
        for rule_id, expectation, kwargs in checks:
            expectation_class = getattr(gxe, SUPPORTED_EXPECTATIONS[expectation])
            suite.add_expectation(expectation_class(**_gx_kwargs(kwargs), meta={"rule_id": rule_id}))
        result_format = {"result_format": "COMPLETE"}
        if self.docs_dir is not None:
            validation = context.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=batch_definition, suite=suite))
            checkpoint = context.checkpoints.add(gx.Checkpoint(
                name=name, validation_definitions=[validation], actions=[], result_format=result_format))
            run_id = RunIdentifier(run_name="validation", run_time=_fixed_run_time())  # same Data Docs every run
            run = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
            results = [r for vr in run.run_results.values() for r in vr.results]
        else:
            batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
            results = batch.validate(suite, result_format=result_format).results
        for result in results:
            rule_id = (result.expectation_config.meta or {}).get("rule_id")
            info = result.exception_info if isinstance(result.exception_info, dict) else {}
            nested = [v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]  # metric level
            raised = info if info.get("raised_exception") else next(iter(nested), None)
            out[(name, rule_id)] = {
                "success": bool(result.success),
                "unexpected_index_list": list(result.result.get("unexpected_index_list") or []),
                "observed_value": result.result.get("observed_value"),
                "exception": str(raised.get("exception_message")) if raised else None,
            }
        return out

    def finish(self) -> None:
        if self.docs_dir is not None:
            # once, for every stored validation result; only this site (GX's ephemeral context also has a default
            # "local_site" in a temporary folder: rendering it took half the time and left the folder behind)
            self.context.build_data_docs(site_names=[DATA_DOCS_SITE])
            normalise_data_docs(self.docs_dir)


# The GX sessions of the runs a worker process serves, by run: its views arrive one task at a time.
_WORKER_SESSIONS: dict[str, GxSession] = {}


def _worker_view_findings(run_id: str, docs_dir: Path | None, view: PreparedView) -> pd.DataFrame:
    if run_id not in _WORKER_SESSIONS:
        _WORKER_SESSIONS[run_id] = GxSession(docs_dir)
    return view.findings(_WORKER_SESSIONS[run_id])


def _worker_finish(run_id: str, docs_dir: Path | None) -> None:
    session = _WORKER_SESSIONS.pop(run_id, None)
    (session or GxSession(docs_dir)).finish()


def _fixed_run_time() -> Any:
    """The time GX records for a run: SOURCE_DATE_EPOCH when set, else 2000-01-01T00:00:00Z, never the clock."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(int(os.environ.get("SOURCE_DATE_EPOCH", "946684800")), tz=timezone.utc)


_GX_STAMP = re.compile(r"\b\d{8}T\d{6}\.\d+Z\b")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_REMOTE_LOGO = re.compile(r'https://great-expectations-web-assets\.s3[^"\']*/(logo-long\.png)\?d=[0-9TZ.]+')


def normalise_data_docs(docs_dir: Path) -> None:
    """Make GX Data Docs reproducible (same data, same bytes) and offline: the remote logo becomes the bundled
    copy, render stamps the fixed run time, random block UUIDs numbers per page; then :func:`make_data_docs_offline`.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> page = folder / "index.html"
    >>> _ = page.write_text('<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=20261128T070810.4Z">')
    >>> normalise_data_docs(folder)
    >>> page.read_text().startswith('<!-- data docs: offline -->') and '<img src="static/images/logo-long.png">' in page.read_text()
    True
    """
    for page in sorted(Path(docs_dir).rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        depth = len(page.relative_to(docs_dir).parts) - 1
        local = "../" * depth + "static/images/\\1"
        normalised = _REMOTE_LOGO.sub(local, text)
        normalised = _GX_STAMP.sub(_fixed_run_time().strftime("%Y%m%dT%H%M%S.%fZ"), normalised)
        numbering: dict[str, str] = {}
        normalised = _UUID.sub(lambda m: numbering.setdefault(m.group(0), f"block-{len(numbering) + 1:04d}"),
                               normalised)
        if normalised != text:
            page.write_text(normalised, encoding="utf-8")
    make_data_docs_offline(docs_dir)


# Views sent to the worker and not yet validated, at most this many bytes (besides the newest): the main process
# holds them until the worker takes them.
MAX_PENDING_BYTES = 256 * 2**20


class ExpectationRun:
    """Expectations under way (:func:`run_expectations` in two steps): the views are built one at a time, at
    once, and each is validated in ``executor`` (a worker process) when given, else in this process; the main
    process can run other checks until :meth:`findings`, which waits for the worker."""

    def __init__(self, data: ValidationData, specs: list[ExpectationSpec], docs_dir: Path | None = None,
                 executor: Any = None) -> None:
        self.executor, self.docs_dir = executor, docs_dir
        self.parts: list[pd.DataFrame] = []
        self.pending: list[tuple[Any, int]] = []   # (future of a view's findings, bytes sent)
        if not specs:
            return
        if executor is None:
            session = GxSession(docs_dir)
            self.parts = [view.findings(session) for view in iter_views(data, specs)]
            session.finish()
            return
        self.run_id = uuid.uuid4().hex
        for view in iter_views(data, specs):
            sent = view.for_findings()
            del view   # the whole view is not needed once its columns for the worker are taken
            size = int(sent.frame.memory_usage(deep=True).sum())
            while self.pending and sum(n for _, n in self.pending) > MAX_PENDING_BYTES:
                self._collect_oldest()
            self.pending.append((executor.submit(_worker_view_findings, self.run_id, docs_dir, sent), size))
        self.pending.append((executor.submit(_worker_finish, self.run_id, docs_dir), 0))

    def _collect_oldest(self) -> None:
        future, _ = self.pending.pop(0)
        found = future.result()
        if found is not None:
            self.parts.append(found)

    def done(self) -> bool:
        """Whether the worker has done every task (then :meth:`findings` does not wait)."""
        return all(future.done() for future, _ in self.pending)

    def findings(self) -> pd.DataFrame:
        """Every view's findings, in view order (waits for the worker to finish and write the Data Docs)."""
        while self.pending:
            self._collect_oldest()
        return concat_findings(self.parts)


def run_expectations(data: ValidationData, specs: list[ExpectationSpec], docs_dir: Path | None = None,
                     executor: Any = None) -> pd.DataFrame:
    """Validate every expectation with GX (one suite per view) and return findings, one per unexpected row;
    Data Docs HTML goes to ``docs_dir`` when given; GX runs in ``executor`` (a worker process) when given."""
    return ExpectationRun(data, specs, docs_dir, executor).findings()


def _gx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    for bound in ("min_value", "max_value"):
        value = out.get(bound)
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            out[bound] = pd.Timestamp(value).to_pydatetime()
    return out


def _result_findings(spec: ExpectationSpec, summary: dict[str, Any], view: pd.DataFrame) -> pd.DataFrame:
    rule, column = spec.rule, spec.kwargs.get("column")
    if summary.get("exception"):
        message = f"expectation could not run: {summary['exception']}"
        return make_findings(rule.id, "error", spec.dataset, message, "great_expectations", variable=column)
    if summary["success"]:
        return empty_findings()
    index = summary["unexpected_index_list"]
    if not index:
        observed = summary.get("observed_value")
        return make_findings(rule.id, rule.severity, spec.dataset,
                             rule.format_message(column=column, value=observed, **spec.kwargs),
                             "great_expectations", variable=column, value=observed)
    rows = view.loc[index]
    values = rows[column]
    source_column = column
    if column.endswith("_DATE") and column[:-5] in rows.columns:  # dates view: report the ISO 8601 text
        source_column = column[:-5]
        shown = rows[source_column].astype("string")
    elif column == "RATIO" and spec.view_options.get("value") in rows.columns:  # show the value itself
        source_column = spec.view_options["value"]
        shown = display_text(pd.to_numeric(rows[source_column], errors="coerce"))
    elif pd.api.types.is_float_dtype(values.dtype):
        shown = display_text(values.round(4))
    else:
        shown = values.astype("string")
    labels = rows["LABEL"] if "LABEL" in rows.columns else pd.Series("", index=rows.index)
    messages = rule.format_messages(shown.reset_index(drop=True), column=source_column,
                                    **{k: v for k, v in spec.kwargs.items() if k != "column"})
    messages = (messages + labels.reset_index(drop=True).map(lambda t: f" ({t})" if t else "")).tolist()
    record = rows[RECORD] if RECORD in rows.columns else None
    return make_findings(
        rule.id, rule.severity, spec.dataset, messages, "great_expectations", variable=source_column,
        usubjid=rows["USUBJID"].tolist() if "USUBJID" in rows.columns else None,
        record=record.tolist() if record is not None else None,
        value=shown.tolist(),
    )
