"""Site quality: per site and per form (raw file), records, missing values, findings, quarantine, labs, dates.

Sources, all from earlier stages: ``ledger.json`` (rows read per raw file), ``quarantine/`` (rows
rejected, with file, row, site and reason), the findings traced to their raw file and row
(:func:`pipeline.validate.traceability.findings_with_raw_source`), ``lineage/`` + ``sdtm/`` for
lab reference-range flags and collection dates. Each metric is defined in docs/dq-report.md.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.dates import iso_date
from pipeline.validate.findings import SEVERITIES_WORST_FIRST

OUTLIER_Z = 2.0
OUTLIER_MARK = "\u25b2"
MISSING_CATEGORIES = ("missing key", "missing date")
LAB_RESULT_VARIABLES = ("LBSTRESN", "LBORRES", "LBSTRESC")


def site_of_file(path: Any) -> str:
    """The site of a raw file from its folder (``site_101/ae.csv`` -> ``101``).

    >>> site_of_file("site_101/lab.csv"), site_of_file("central/lab.xlsx"), site_of_file(None)
    ('101', 'central', '')
    """
    if path is None or (isinstance(path, float) and np.isnan(path)) or str(path) == "":
        return ""
    first = PurePosixPath(str(path)).parts[0]
    for prefix in ("site_", "site-", "site"):
        if first.lower().startswith(prefix) and len(first) > len(prefix):
            return first[len(prefix):]
    return first


def record_sites(source_file: pd.Series, usubjid: pd.Series, subject_sites: dict[str, str]) -> pd.Series:
    """The site of each record: its raw file's site folder, else its subject's site (from DM).

    >>> record_sites(pd.Series(["site_101/ae.csv", None]), pd.Series(["S-1", "S-2"]), {"S-2": "102"}).tolist()
    ['101', '102']
    """
    site = source_file.map(site_of_file)
    return site.where(site != "", usubjid.map(lambda u: subject_sites.get(u, "")))


def form_of_file(path: Any) -> str:
    """The form (CRF page) of a raw file: its name without extension (``site_101/lab.csv`` -> ``lab``).

    >>> form_of_file("site_102/ae.xlsx")
    'ae'
    """
    return PurePosixPath(str(path)).stem if path is not None and str(path) else ""


def robust_z(values: pd.Series) -> pd.Series:
    """(x - median) / (1.4826 x MAD); with MAD 0, +inf above the median, 0 at it, -inf below.

    >>> robust_z(pd.Series([1.0, 1.0, 2.0, 1.0, 10.0])).round(2).tolist()
    [0.0, 0.0, inf, 0.0, inf]
    >>> robust_z(pd.Series([1.0, 2.0, 3.0, 4.0, 20.0])).round(2).tolist()
    [-1.35, -0.67, 0.0, 0.67, 11.47]
    """
    x = pd.to_numeric(values, errors="coerce").astype(float)
    if not x.notna().any():
        return pd.Series(0.0, index=x.index)
    median = x.median()
    mad = (x - median).abs().median() * 1.4826
    if not mad or np.isnan(mad):
        return pd.Series(np.sign(x - median) * np.inf, index=x.index).fillna(0.0).where(x != median, 0.0)
    return (x - median) / mad


def flag_outliers(values: pd.Series, z: float = OUTLIER_Z) -> pd.Series:
    """True where a site's value is an outlier: robust z above ``z`` (higher is worse).

    >>> flag_outliers(pd.Series([0.0, 0.0, 0.0, 3.0])).tolist()
    [False, False, False, True]
    """
    return (robust_z(values) > z).fillna(False)


def compute_file_counts(ledger: dict[str, Any]) -> pd.DataFrame:
    """Raw rows read and quarantined per raw file (site, form) from the ledger.

    >>> compute_file_counts({"files": {"site_1/ae.csv": {"rows_read": 4, "domains": {"AE": {"rows_quarantined": 1}}}}}).values.tolist()
    [['site_1/ae.csv', '1', 'ae', 4, 1]]
    """
    rows = []
    for file, info in sorted((ledger.get("files") or {}).items()):
        quarantined = sum(int((c or {}).get("rows_quarantined", 0)) for c in (info.get("domains") or {}).values())
        rows.append({"file": file, "site": site_of_file(file), "form": form_of_file(file),
                     "records": int(info.get("rows_read", 0)), "quarantined": quarantined})
    return pd.DataFrame(rows, columns=["file", "site", "form", "records", "quarantined"])


def _per_file(frame: pd.DataFrame, file_column: str, name: str) -> pd.Series:
    if frame is None or frame.empty:
        return pd.Series(dtype="int64", name=name)
    return frame.groupby(frame[file_column].astype(str)).size().rename(name)


def _join_lineage(keys: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """SDTM record keys (USUBJID, numeric SEQ) joined to the raw file of their lineage row."""
    trace = trace[["USUBJID", "SEQ", "SOURCE_FILE"]].assign(SEQ=pd.to_numeric(trace["SEQ"], errors="coerce"))
    return keys.merge(trace.drop_duplicates(["USUBJID", "SEQ"]), on=["USUBJID", "SEQ"], how="inner")


def compute_collection_dates(sdtm: dict[str, pd.DataFrame], lineage: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Collection date of every SDTM record with the raw file it came from (``file``, ``date``).

    The record's ``--DTC`` (else ``--STDTC``), complete dates only, joined to its lineage row by
    USUBJID and --SEQ.
    """
    from pipeline.validate.traceability import sequence_variable

    parts = []
    for name, frame in sorted(sdtm.items()):
        trace = lineage.get(name)
        if trace is None or frame.empty or "SEQ" not in trace.columns or "USUBJID" not in frame.columns:
            continue
        prefix = str(frame["DOMAIN"].iloc[0]) if "DOMAIN" in frame.columns else name
        date_var = next((v for v in (f"{prefix}DTC", f"{prefix}STDTC") if v in frame.columns), None)
        seq = sequence_variable(frame, name)
        if date_var is None or seq not in frame.columns:
            continue
        keys = frame[["USUBJID", seq, date_var]].rename(columns={seq: "SEQ", date_var: "DTC"})
        merged = _join_lineage(keys.assign(SEQ=pd.to_numeric(keys["SEQ"], errors="coerce")), trace)
        dates = iso_date(merged["DTC"])
        parts.append(pd.DataFrame({"file": merged["SOURCE_FILE"].astype(str), "date": dates}).dropna())
    if not parts:
        return pd.DataFrame({"file": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[ns]")})
    return pd.concat(parts, ignore_index=True)


def compute_lab_range(sdtm: dict[str, pd.DataFrame], lineage: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Lab records per raw file and how many are outside the reference range (``lab_records``, ``out_of_range``)."""
    frames = []
    for name, frame in sdtm.items():
        if "LBNRIND" not in frame.columns or name not in lineage or "LBSEQ" not in frame.columns:
            continue
        keys = frame[["USUBJID", "LBSEQ", "LBNRIND"]].assign(SEQ=pd.to_numeric(frame["LBSEQ"], errors="coerce"))
        frames.append(_join_lineage(keys, lineage[name]))
    if not frames:
        return pd.DataFrame(columns=["lab_records", "out_of_range"])
    merged = pd.concat(frames, ignore_index=True)
    return merged.assign(out=merged["LBNRIND"].isin(["HIGH", "LOW"])).groupby(merged["SOURCE_FILE"].astype(str)).agg(
        lab_records=("out", "size"), out_of_range=("out", "sum"))


def compute_site_form_quality(files: pd.DataFrame, quarantine: pd.DataFrame, findings: pd.DataFrame,
                              lab_range: pd.DataFrame | None = None, dates: pd.DataFrame | None = None,
                              export_date: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per (site, form): the counts and rates docs/dq-report.md defines.

    ``files`` from :func:`compute_file_counts`; ``quarantine`` with ``file`` and ``category``;
    ``findings`` with ``source_file``, ``severity``, ``dataset`` and ``variable``.

    >>> files = pd.DataFrame({"file": ["s_1/lab.csv"], "site": ["1"], "form": ["lab"], "records": [50], "quarantined": [2]})
    >>> q = pd.DataFrame({"file": ["s_1/lab.csv"] * 2, "category": ["missing key LBORRES", "impossible date"]})
    >>> f = pd.DataFrame({"source_file": ["s_1/lab.csv"], "severity": ["warning"], "dataset": ["LB"], "variable": ["LBSTRESN"]})
    >>> row = compute_site_form_quality(files, q, f).iloc[0]
    >>> row[["missing_required", "warning_per_100", "quarantine_pct", "impossible_dates", "lab_flagged"]].astype(float).tolist()
    [1.0, 2.0, 4.0, 1.0, 1.0]
    """
    out = files.set_index("file").copy()
    category = quarantine["category"].fillna("").astype(str) if len(quarantine) else pd.Series(dtype=str)
    out["missing_required"] = _per_file(quarantine[category.str.startswith(MISSING_CATEGORIES)] if len(quarantine) else
                                        quarantine, "file", "n")
    impossible_q = _per_file(quarantine[category == "impossible date"] if len(quarantine) else quarantine, "file", "n")
    traced = findings[findings["source_file"].notna()] if len(findings) else findings
    for severity in SEVERITIES_WORST_FIRST:
        out[f"{severity}_findings"] = _per_file(traced[traced["severity"] == severity] if len(traced) else traced,
                                                "source_file", "n")
    variable = traced["variable"].fillna("").astype(str) if len(traced) else pd.Series(dtype=str)
    date_findings = _per_file(traced[variable.str.endswith("DTC")] if len(traced) else traced, "source_file", "n")
    out["impossible_dates"] = impossible_q.reindex(out.index).fillna(0) + date_findings.reindex(out.index).fillna(0)
    lab = traced[(traced["dataset"].astype(str).str.startswith("LB")) & variable.isin(LAB_RESULT_VARIABLES)] \
        if len(traced) else traced
    out["lab_flagged"] = _per_file(lab, "source_file", "n")
    for column in ("lab_records", "out_of_range"):
        out[column] = lab_range[column] if lab_range is not None and len(lab_range) else 0
    count_columns = ["missing_required", "impossible_dates", "lab_flagged", "lab_records", "out_of_range"] + \
        [f"{s}_findings" for s in SEVERITIES_WORST_FIRST]
    out[count_columns] = out[count_columns].fillna(0).astype("int64")
    out = _add_rates(out).reset_index()
    if dates is not None and len(dates):
        cut = export_date if export_date is not None else dates["date"].max()
        days = dates.assign(days=(cut - dates["date"]).dt.days)
        per_file = days.groupby("file").agg(median_days=("days", "median"), last_collection=("date", "max"))
        out = out.merge(per_file, left_on="file", right_index=True, how="left")
    else:
        out["median_days"], out["last_collection"] = np.nan, pd.NaT
    return out.sort_values(["site", "form", "file"], kind="stable").reset_index(drop=True)


def _add_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """Findings, missing values and impossible dates per 100 records; quarantine and out-of-range shares."""
    records = counts["records"].where(counts["records"] > 0)
    rates = {f"{s}_per_100": f"{s}_findings" for s in SEVERITIES_WORST_FIRST}
    rates.update(quarantine_pct="quarantined", missing_per_100="missing_required", impossible_per_100="impossible_dates")
    for rate, count in rates.items():
        counts[rate] = (counts[count] / records * 100).fillna(0.0)
    counts["out_of_range_pct"] = counts["out_of_range"] / counts["lab_records"].where(counts["lab_records"] > 0) * 100
    return counts


def compute_site_quality(per_form: pd.DataFrame, export_date: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per site: sums of the per-form counts, rates recomputed from the sums.

    >>> per_form = pd.DataFrame({"site": ["1", "1"], "form": ["ae", "lab"], "records": [10, 90], "quarantined": [1, 4],
    ...     "missing_required": [0, 2], "impossible_dates": [1, 0], "lab_flagged": [0, 3], "lab_records": [0, 80],
    ...     "out_of_range": [0, 20], "error_findings": [1, 0], "warning_findings": [0, 4], "notice_findings": [0, 0],
    ...     "median_days": [10, 20], "last_collection": pd.to_datetime(["2020-01-01", "2020-02-01"])})
    >>> row = compute_site_quality(per_form).iloc[0]
    >>> row[["records", "quarantine_pct", "warning_per_100", "out_of_range_pct"]].astype(float).tolist()
    [100.0, 5.0, 4.0, 25.0]
    """
    counts = ["records", "quarantined", "missing_required", "impossible_dates", "lab_flagged", "lab_records",
              "out_of_range"] + [f"{s}_findings" for s in SEVERITIES_WORST_FIRST]
    site = _add_rates(per_form.groupby("site", sort=True)[counts].sum())
    site["median_days"] = per_form.groupby("site")["median_days"].median()
    last = per_form.groupby("site")["last_collection"].max()
    site["last_collection"] = last
    cut = export_date if export_date is not None else last.max()
    site["days_since_last"] = (cut - last).dt.days
    return site.reset_index()


SITE_METRICS = [  # (column, label, decimals or None for a count, marked as an outlier when high)
    ("records", "Raw records", None, False),
    ("missing_required", "Missing required values", None, False),
    ("missing_per_100", "Missing required per 100 records", 1, True),
    ("error_per_100", "Errors per 100 records", 2, True),
    ("warning_per_100", "Warnings per 100 records", 2, True),
    ("notice_per_100", "Notices per 100 records", 2, True),
    ("quarantine_pct", "Quarantine share (%)", 1, True),
    ("out_of_range_pct", "Lab records outside reference range (%)", 1, True),
    ("lab_flagged", "Lab results flagged by a check", None, True),
    ("impossible_per_100", "Impossible dates per 100 records", 2, True),
    ("impossible_dates", "Impossible dates", None, False),
    ("median_days", "Median days collection to export", 0, True),
    ("days_since_last", "Days from last collection to export", 0, True),
]
