"""Trace findings back to raw files: SDTM record -> lineage (USUBJID, --SEQ) -> raw file and row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.validate.datasets import read_dataset_dir


def sequence_variable(dataset: pd.DataFrame, dataset_name: str) -> str:
    """The --SEQ variable of a dataset: ``<DOMAIN>SEQ`` for a split dataset (LBCH keeps the LB prefix),
    else ``<dataset_name>SEQ``.

    >>> sequence_variable(pd.DataFrame({"DOMAIN": ["LB"], "LBSEQ": [1]}), "LBCH")
    'LBSEQ'
    >>> sequence_variable(pd.DataFrame({"DOMAIN": ["AE"], "AESEQ": [1]}), "AE")
    'AESEQ'
    >>> sequence_variable(pd.DataFrame({"USUBJID": ["1"]}), "SUPPAE")
    'SUPPAESEQ'
    """
    if not isinstance(dataset_name, str) or not dataset_name:
        raise ValueError(f"sequence_variable: dataset_name must be a non-empty string, got {dataset_name!r}")
    fallback = f"{dataset_name.upper()}SEQ"
    if "DOMAIN" not in dataset.columns or fallback in dataset.columns:
        return fallback
    domains = dataset["DOMAIN"].dropna().astype(str).str.strip().str.upper()
    domains = domains[domains != ""].unique()
    if len(domains) == 1 and len(dataset_name) > len(domains[0]) and f"{domains[0]}SEQ" in dataset.columns:
        return f"{domains[0]}SEQ"
    return fallback


def findings_with_raw_source(findings: pd.DataFrame, sdtm_dir: Path, lineage_dir: Path) -> pd.DataFrame:
    """Findings with ``source_file`` and ``source_row`` of the raw row behind each record-level finding.

    Uses ``lineage/<dataset>.parquet`` (USUBJID, SEQ, SOURCE_FILE, SOURCE_ROW); findings without a
    record, or on datasets without --SEQ or lineage, keep null sources.

    >>> empty = pd.DataFrame(columns=["dataset", "record", "usubjid"])
    >>> list(findings_with_raw_source(empty, Path("/nonexistent"), Path("/nonexistent")).columns)[-2:]
    ['source_file', 'source_row']
    """
    out = findings.copy()
    out["source_file"] = None
    out["source_row"] = pd.array([pd.NA] * len(out), dtype="Int64")
    sdtm = read_dataset_dir(sdtm_dir)
    lineage = read_dataset_dir(lineage_dir)
    for dataset, rows in out[out["record"].notna()].groupby("dataset"):
        frame, trace = sdtm.get(str(dataset)), lineage.get(str(dataset))
        if frame is None or trace is None or "USUBJID" not in frame.columns:
            continue
        positions = rows["record"].astype("int64") - 1
        seq = sequence_variable(frame, str(dataset))
        if seq in frame.columns and "SEQ" in trace.columns and trace["SEQ"].notna().any():
            keys = frame.iloc[positions.to_numpy()][["USUBJID", seq]].reset_index(drop=True)
            keys[seq] = pd.to_numeric(keys[seq], errors="coerce")
            trace = trace.assign(SEQ=pd.to_numeric(trace["SEQ"], errors="coerce")).drop_duplicates(["USUBJID", "SEQ"])
            merged = keys.merge(trace, left_on=["USUBJID", seq], right_on=["USUBJID", "SEQ"], how="left")
        else:  # one record per subject (DM): the subject identifies the record
            keys = frame.iloc[positions.to_numpy()][["USUBJID"]].reset_index(drop=True)
            merged = keys.merge(trace.drop_duplicates("USUBJID"), on="USUBJID", how="left")
        out.loc[rows.index, "source_file"] = merged["SOURCE_FILE"].to_numpy()
        out.loc[rows.index, "source_row"] = pd.array(pd.to_numeric(merged["SOURCE_ROW"], errors="coerce"),
                                                      dtype="Int64")
    return out
