"""The data manager's sections: site quality, queries back to the raw row, pictures, changes since last run.

:func:`load_review_inputs` reads the findings (traced to raw file and row), quarantine, ledger,
SDTM and lineage once; each ``section_*`` turns them into a :class:`~pipeline.report.sections.Section`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import InputError
from pipeline.report import charts
from pipeline.report.history import compare_findings, compare_records, find_snapshot, read_snapshot, snapshot_text
from pipeline.report.queries import compute_issues, compute_queries
from pipeline.report.sections import SEVERITY_ORDER, Section, _not_run, read_json, read_table, read_tables
from pipeline.validate.findings import SEVERITIES_WORST_FIRST
from pipeline.report.site_quality import (OUTLIER_MARK, OUTLIER_Z, SITE_METRICS,
                                          compute_collection_dates, compute_file_counts, compute_lab_range,
                                          compute_site_form_quality, compute_site_quality, flag_outliers, record_sites)
from pipeline.tlf.formatting import round_half_up
from pipeline.validate.datasets import read_dataset_dir
from pipeline.validate.traceability import findings_with_raw_source

QUERIES_CSV = "queries.csv"
UPCR_PARAMCD = "LUPCR"        # ADLB log UPCR: CHG is the log ratio to baseline
SLEDAI_PARAMCD = "SSLD01TS"   # ADSLEDAI SELENA-SLEDAI total score
OVER_VISIT_CHARTS = [  # (name, ADaM dataset, PARAMCD, summary by visit and arm, caption, y label, reference line, log)
    ("UPCR", "adlb", UPCR_PARAMCD, charts.compute_upcr_gmr, "UPCR: geometric mean ratio to baseline by visit and arm, "
     "with 95% CI (log scale; 1 = no change)", "GMR to baseline", 1.0, True),
    ("SELENA-SLEDAI", "adsledai", SLEDAI_PARAMCD, charts.compute_change,
     "SELENA-SLEDAI: mean change from baseline by visit and arm, with 95% CI", "change from baseline", 0.0, False),
]


@dataclass
class ReviewInputs:
    """What the data-manager sections read, loaded once."""

    ledger: dict[str, Any] | None = None
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    findings: pd.DataFrame | None = None          # traced: + source_file, source_row, site
    sdtm: dict[str, pd.DataFrame] = field(default_factory=dict)
    lineage: dict[str, pd.DataFrame] = field(default_factory=dict)
    subject_sites: dict[str, str] = field(default_factory=dict)


def load_review_inputs(outputs_dir: Path) -> ReviewInputs:
    """Read ledger, quarantine, findings (traced to raw rows), SDTM and lineage of a study's outputs."""
    out = Path(outputs_dir)
    ledger = read_json(out / "ledger.json") if (out / "ledger.json").exists() else None
    quarantine = read_tables(out / "quarantine")
    inputs = ReviewInputs(ledger, quarantine if quarantine is not None else pd.DataFrame(),
                          sdtm=read_dataset_dir(out / "sdtm"), lineage=read_dataset_dir(out / "lineage"))
    dm = inputs.sdtm.get("DM")
    if dm is not None and {"USUBJID", "SITEID"} <= set(dm.columns):
        inputs.subject_sites = dict(zip(dm["USUBJID"].astype(str), dm["SITEID"].astype(str)))
    path = out / "validation" / "findings.parquet"
    if path.exists():
        findings = read_table(path)
        traced = findings_with_raw_source(findings, out / "sdtm", out / "lineage") if len(findings) else \
            findings.assign(source_file=None, source_row=None)
        traced["site"] = record_sites(traced["source_file"], traced["usubjid"].astype("string").fillna(""),
                                      inputs.subject_sites)
        inputs.findings = traced
    return inputs


def _fmt(value: Any, decimals: int | None) -> str:
    if value is None or pd.isna(value):
        return ""
    return round_half_up(float(value), decimals or 0) if decimals is not None else str(int(value))


def compute_sites_side_by_side(site: pd.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    """Metrics as rows, sites as columns; an outlier value is marked (robust z > 2, higher is worse).

    >>> site = pd.DataFrame({"site": ["1", "2", "3", "4"], "records": [10, 10, 10, 10], "quarantine_pct": [1.0, 1.0, 1.0, 9.0]})
    >>> columns, rows = compute_sites_side_by_side(site)
    >>> columns, rows[1]
    (['metric', 'site 1', 'site 2', 'site 3', 'site 4'], {'metric': 'Quarantine share (%)', 'site 1': '1.0', 'site 2': '1.0', 'site 3': '1.0', 'site 4': '9.0 ▲'})
    """
    columns = ["metric"] + [f"site {s}" for s in site["site"]]
    rows = []
    for column, label, decimals, marked in SITE_METRICS:
        if column not in site.columns:
            continue
        values = site[column]
        outlier = flag_outliers(values) if marked else pd.Series(False, index=values.index)
        cells = [(_fmt(v, decimals) + (f" {OUTLIER_MARK}" if flag else "")) for v, flag in zip(values, outlier)]
        rows.append(dict(zip(columns, [label] + cells)))
    return columns, rows


def section_site_quality(inputs: ReviewInputs) -> Section:
    """Sites side by side, then per site and form; outliers marked."""
    title = "Site quality"
    if inputs.ledger is None:
        return _not_run("sites", title, "ledger.json", "sdtm")
    files = compute_file_counts(inputs.ledger)
    if files.empty:
        return _not_run("sites", title, "ledger.json", "", "The ledger lists no raw file (SDTM imported, no site exports).")
    findings = inputs.findings if inputs.findings is not None else pd.DataFrame(
        columns=["source_file", "severity", "dataset", "variable"])
    dates = compute_collection_dates(inputs.sdtm, inputs.lineage)
    per_form = compute_site_form_quality(files, inputs.quarantine, findings, compute_lab_range(inputs.sdtm, inputs.lineage),
                                         dates)
    site = compute_site_quality(per_form)
    section = Section("sites", title, "ok", "ledger.json, quarantine/, validation/findings.parquet, lineage/, sdtm/")
    export = dates["date"].max() if len(dates) else None
    columns, rows = compute_sites_side_by_side(site)
    marked = sum(str(c).endswith(OUTLIER_MARK) for r in rows for c in r.values())
    section.status = "attention" if marked else "ok"
    section.summary = [("Sites", len(site)), ("Forms (raw files)", len(per_form)),
                       ("Raw records", int(site["records"].sum())), ("Outlier values marked", marked)]
    if export is not None:
        section.summary.append(("Data cut (export date used)", export.strftime("%Y-%m-%d")))
    section.notes += [
        f"Outlier rule: a site is marked {OUTLIER_MARK} when its robust z = (x - median) / (1.4826 x MAD) across "
        f"sites exceeds {OUTLIER_Z:g} (when MAD is 0: any value above the median); higher is worse for every marked metric.",
        "Missing required values: rows quarantined for a missing required value (missing key, missing date). "
        "Findings are counted on the raw file their record came from (lineage). Impossible dates: rows quarantined as "
        "impossible dates plus findings on --DTC variables. Out of range: LBNRIND HIGH or LOW.",
        "Late entry: the raw exports carry no entry or export timestamp (CSV files none; XPT and XLSX one fixed "
        "constant), so the export date is the data cut, the latest complete collection date in any site's records.",
    ]
    section.add_table("Sites side by side", rows, columns)
    section.add_table("Per site and form", [{
        "site": r["site"], "form": r["form"], "raw file": r["file"], "records": int(r["records"]),
        "missing required": int(r["missing_required"]),
        **{f"{s} /100": _fmt(r[f"{s}_per_100"], 2) for s in SEVERITIES_WORST_FIRST},
        "quarantine %": _fmt(r["quarantine_pct"], 1), "labs out of range %": _fmt(r["out_of_range_pct"], 1),
        "lab results flagged": int(r["lab_flagged"]), "impossible dates": int(r["impossible_dates"]),
        "median days to export": _fmt(r["median_days"], 0)} for r in per_form.to_dict(orient="records")])
    return section


def section_queries(inputs: ReviewInputs, csv_name: str = QUERIES_CSV) -> tuple[Section, pd.DataFrame]:
    """Every finding and quarantined row with raw file, row, column and value; grouped into site queries."""
    title = "Queries for sites"
    if inputs.findings is None and inputs.quarantine.empty:
        return _not_run("queries", title, "validation/findings.parquet, quarantine/", "",
                        "No findings or quarantine found: the validate and sdtm stages have not run."), pd.DataFrame()
    issues = compute_issues(inputs.findings if inputs.findings is not None else pd.DataFrame(), inputs.quarantine,
                            inputs.subject_sites)
    queries = compute_queries(issues)
    section = Section("queries", title, "attention" if len(queries) else "ok",
                      "validation/findings.parquet + lineage/, quarantine/")
    traced = int((issues["raw_file"] != "").sum()) if len(issues) else 0
    section.summary = [("Queries", len(queries)), ("Issues", len(issues)), ("Issues traced to a raw row", traced),
                       ("Sites with queries", queries["site"].nunique() if len(queries) else 0)]
    section.links.append((f"All queries as CSV, safe to open in a spreadsheet ({csv_name})", csv_name))
    if len(queries):
        per_site = pd.crosstab(queries["site"], queries["severity"])
        per_site = per_site.reindex(columns=[s for s in SEVERITY_ORDER if s in per_site.columns])
        per_site["queries"] = per_site.sum(axis=1)
        section.add_table("Queries per site and worst severity", per_site.reset_index())
        section.add_table("One line per query", queries[["query_id", "site", "severity", "query"]])
        section.add_table("Every issue with its raw file, row, column and value", issues.drop(columns=["origin"]))
    return section, queries


def section_pictures(outputs_dir: Path, inputs: ReviewInputs) -> Section:
    """Inline SVG charts: UPCR GMR and SELENA-SLEDAI change over visits by arm, findings per site, quarantine reasons."""
    out = Path(outputs_dir)
    section = Section("pictures", "Pictures", "ok", "adam/adlb.parquet, adam/adsledai.parquet, findings, quarantine/")
    for name, dataset, paramcd, summarise, caption, ylabel, reference, log_scale in OVER_VISIT_CHARTS:
        path = out / "adam" / f"{dataset}.parquet"
        adam = read_table(path) if path.exists() else None
        if adam is not None and "PARAMCD" in adam.columns and (adam["PARAMCD"] == paramcd).any():
            chart = charts.chart_over_visits(summarise(adam, paramcd), ylabel, reference, log_scale=log_scale)
            section.figures.append((caption, chart))
        else:
            section.notes.append(f"No {name} chart: adam/{dataset}.parquet with PARAMCD {paramcd} not found.")
    if inputs.findings is not None and len(inputs.findings):
        f = inputs.findings.assign(site=inputs.findings["site"].replace("", "(no site)"))
        counts = pd.crosstab(f["site"], f["severity"]).reset_index()
        section.figures.append(("Findings per site by severity", charts.chart_findings_per_site(counts)))
    if len(inputs.quarantine):
        q = inputs.quarantine
        reasons = q["category"].fillna(q["reason"]).fillna("unspecified").astype(str)
        counts = reasons.value_counts().rename_axis("reason").reset_index(name="rows")
        section.figures.append(("Quarantined rows by reason", charts.chart_quarantine_reasons(counts)))
    if not section.figures:
        section.status = "not run"
    return section


def section_changes(current_findings: pd.DataFrame | None, current_ledger: dict[str, Any] | None,
                    baseline: Path | None, where: str) -> Section:
    """New, resolved and unchanged findings per rule and site, and record counts per domain, against a baseline."""
    title = "What changed since the last run"
    if current_findings is None:
        return _not_run("changes", title, "validation/findings.parquet", "validate")
    if baseline is None:
        return Section("changes", title, "ok", where, notes=["No previous run kept yet: this run is the baseline for "
                                                             "the next one."])
    previous, previous_ledger = read_baseline(baseline)
    table = compare_findings(previous, current_findings)
    section = Section("changes", title, "attention" if table["new"].sum() else "ok", where)
    section.summary = [("New findings", int(table["new"].sum())), ("Resolved findings", int(table["resolved"].sum())),
                       ("Unchanged findings", int(table["unchanged"].sum()))]
    changed = table[(table["new"] > 0) | (table["resolved"] > 0)]
    section.add_table("Changed rule and site pairs", changed, ["rule_id", "site", "new", "resolved", "unchanged"])
    section.add_table("Every rule and site", table)
    records = compare_records(previous_ledger, current_ledger or {})
    if len(records):
        section.add_table("SDTM records per domain", records)
    return section


def read_baseline(folder: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A previous run to compare with: its kept copy, else its outputs folder (findings traced again).

    ``folder`` is a history folder (``reports/history/previous``), a previous run's outputs folder
    with ``reports/history/last/``, or one with only ``validation/findings.parquet`` and ``ledger.json``.
    """
    if find_snapshot(folder) is not None:
        return read_snapshot(folder)
    if not (Path(folder) / "validation" / "findings.parquet").exists():
        raise InputError(f"{folder}: not a previous run (no reports/history/last/ nor validation/findings.parquet)")
    inputs = load_review_inputs(Path(folder))
    return inputs.findings, inputs.ledger or {}


def current_snapshot(inputs: ReviewInputs) -> str:
    """The findings identity table this run keeps for the next comparison."""
    return snapshot_text(inputs.findings if inputs.findings is not None else pd.DataFrame())
