"""Site queries: every finding and quarantined row back to its raw file, row, column and value.

A query is what a site can answer in one go: one raw row of one raw file (or, for a finding that
no raw row explains, one rule on one subject), with every issue found on it. The query table is
written as ``reports/queries.csv``, each cell neutralised for spreadsheets by the shared CSV writer
(:func:`pipeline.common.io.write_csv_atomic`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.common.io import write_csv_atomic
from pipeline.common.text import value_text
from pipeline.report.site_quality import record_sites, site_of_file
from pipeline.validate.findings import SEVERITY_RANK

QUERY_COLUMNS = ["query_id", "site", "usubjid", "raw_file", "raw_row", "column", "value", "severity", "rule_ids",
                 "issues", "query"]
ISSUE_COLUMNS = ["site", "usubjid", "raw_file", "raw_row", "column", "value", "severity", "rule_id", "message",
                 "origin"]


def _text(value: object) -> str:
    missing = value is None or value is pd.NA or (isinstance(value, float) and value != value)
    return "" if missing else value_text(value)


def compute_issues(findings: pd.DataFrame, quarantine: pd.DataFrame, subject_sites: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per issue: traced findings (``source_file``/``source_row``) and quarantined rows.

    A finding's column is its SDTM variable; a quarantined row's column is the raw column. The
    site comes from the raw file's folder, else from the subject (``subject_sites``).

    >>> f = pd.DataFrame({"rule_id": ["CT1"], "severity": ["error"], "dataset": ["AE"], "variable": ["AESEV"],
    ...     "usubjid": ["S-101-1"], "value": ["VERY BAD"], "message": ["not in codelist"],
    ...     "source_file": ["site_101/ae.csv"], "source_row": [3]})
    >>> q = pd.DataFrame({"domain": ["LB"], "file": ["site_102/lab.xlsx"], "row": [9], "site": ["102"], "subject": ["4"],
    ...     "column": ["Result"], "value": ["n.d."], "category": ["not numeric"], "reason": ["row 9: not numeric 'n.d.'"]})
    >>> compute_issues(f, q)[["site", "raw_file", "raw_row", "column", "value", "rule_id"]].values.tolist()
    [['101', 'site_101/ae.csv', '3', 'AESEV', 'VERY BAD', 'CT1'], ['102', 'site_102/lab.xlsx', '9', 'Result', 'n.d.', 'quarantine: not numeric']]
    """
    subject_sites = subject_sites or {}
    parts = []
    if findings is not None and len(findings):
        f = findings
        source_file = f["source_file"] if "source_file" in f else pd.Series([None] * len(f), index=f.index)
        source_row = f["source_row"] if "source_row" in f else pd.Series([None] * len(f), index=f.index)
        usubjid = f["usubjid"].map(_text)
        site = record_sites(source_file, usubjid, subject_sites)
        parts.append(pd.DataFrame({
            "site": site, "usubjid": usubjid, "raw_file": source_file.map(_text), "raw_row": source_row.map(_text),
            "column": f["variable"].map(_text), "value": f["value"].map(_text), "severity": f["severity"].map(_text),
            "rule_id": f["rule_id"].map(_text), "message": f["message"].map(_text),
            "origin": "finding " + f["dataset"].map(_text)}))
    if quarantine is not None and len(quarantine):
        q = quarantine
        site = q["site"].map(_text) if "site" in q else q["file"].map(site_of_file)
        site = site.where(site != "", q["file"].map(site_of_file))
        parts.append(pd.DataFrame({
            "site": site, "usubjid": q["subject"].map(_text) if "subject" in q else "", "raw_file": q["file"].map(_text),
            "raw_row": q["row"].map(_text), "column": q["column"].map(_text), "value": q["value"].map(_text),
            "severity": "error", "rule_id": "quarantine: " + q["category"].fillna(q["reason"]).map(_text),
            "message": q["reason"].map(_text), "origin": "quarantine " + q["domain"].map(_text)}))
    if not parts:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    issues = pd.concat(parts, ignore_index=True)[ISSUE_COLUMNS]
    return issues.sort_values(["site", "raw_file", "raw_row", "usubjid", "rule_id", "column", "value"],
                              key=_natural, kind="stable").reset_index(drop=True)


def _natural(column: pd.Series) -> pd.Series:
    """Sort raw rows as numbers (row 9 before row 10), other text as text."""
    if column.name == "raw_row":
        return pd.to_numeric(column, errors="coerce").fillna(-1)
    return column


def compute_queries(issues: pd.DataFrame) -> pd.DataFrame:
    """Group issues into queries: one per raw row (file and row), or per (rule, subject) without a raw row.

    The query line names the file, row, subject, column and value and says what to check.

    >>> issues = pd.DataFrame({"site": ["101", "101", "101"], "usubjid": ["S-1", "S-1", "S-2"],
    ...     "raw_file": ["site_101/ae.csv", "site_101/ae.csv", ""], "raw_row": ["3", "3", ""],
    ...     "column": ["AESEV", "AETERM", "AGE"], "value": ["VERY BAD", "x", "130"], "severity": ["error", "notice", "warning"],
    ...     "rule_id": ["CT1", "R2", "R3"], "message": ["not in codelist", "odd", "too old"], "origin": ["finding AE"] * 3})
    >>> q = compute_queries(issues)
    >>> q["query"].tolist()
    ["site_101/ae.csv row 3, subject S-1: AESEV = 'VERY BAD': not in codelist (CT1); AETERM = 'x': odd (R2). Please check and correct or confirm.", "AE (no single raw row), subject S-2: AGE = '130': too old (R3). Please check and correct or confirm."]
    >>> q[["query_id", "severity", "rule_ids"]].values.tolist()
    [['Q0001', 'error', 'CT1, R2'], ['Q0002', 'warning', 'R3']]
    """
    if issues.empty:
        return pd.DataFrame(columns=QUERY_COLUMNS)
    frame = issues.copy()
    traced = frame["raw_file"] != ""
    frame["_key"] = frame["site"] + "|" + frame["raw_file"] + "|" + frame["raw_row"]
    frame.loc[~traced, "_key"] = (frame["site"] + "||" + frame["rule_id"] + "|" + frame["usubjid"])[~traced]
    frame["_rank"] = frame["severity"].map(SEVERITY_RANK).fillna(-1)
    rows = []
    for _, part in frame.groupby("_key", sort=False):
        first = part.iloc[0]
        dataset = str(first["origin"]).split(" ")[-1]
        where = (f"{first['raw_file']} row {first['raw_row']}" if first["raw_file"] else
                 f"{dataset} (no single raw row)")
        who = f", subject {first['usubjid']}" if first["usubjid"] else ""
        items = [f"{r['column']} = '{r['value']}': {r['message']} ({r['rule_id']})" if r["column"] else
                 f"{r['message']} ({r['rule_id']})" for _, r in part.iterrows()]
        items = list(dict.fromkeys(items))  # one lab row can carry the same finding on several records
        worst = part.sort_values("_rank", ascending=False, kind="stable").iloc[0]["severity"]
        rows.append({"site": first["site"], "usubjid": first["usubjid"], "raw_file": first["raw_file"],
                     "raw_row": first["raw_row"], "column": ", ".join(dict.fromkeys(part["column"])),
                     "value": ", ".join(dict.fromkeys(part["value"])), "severity": worst,
                     "rule_ids": ", ".join(dict.fromkeys(part["rule_id"])), "issues": len(part),
                     "query": f"{where}{who}: " + "; ".join(items) + ". Please check and correct or confirm."})
    queries = pd.DataFrame(rows)
    queries.insert(0, "query_id", [f"Q{i:04d}" for i in range(1, len(queries) + 1)])
    return queries[QUERY_COLUMNS]


def write_queries_csv(queries: pd.DataFrame, path: Path) -> Path:
    """Write ``queries.csv`` (UTF-8 with a byte-order mark, so spreadsheets read accents right)."""
    return write_csv_atomic(path, queries.astype(object).map(lambda v: "" if v is None else _text(v)), byte_order_mark=True)
