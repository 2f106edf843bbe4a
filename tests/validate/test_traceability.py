"""Tracing findings back to raw rows, including split datasets whose --SEQ is named by DOMAIN."""

from __future__ import annotations

import pandas as pd

from pipeline.common.io import write_parquet_atomic
from pipeline.validate.traceability import findings_with_raw_source, sequence_variable


def write_split_lab(tmp_path):
    sdtm, lineage = tmp_path / "sdtm", tmp_path / "lineage"
    write_parquet_atomic(sdtm / "lbch.parquet", pd.DataFrame({
        "STUDYID": ["S"] * 3, "DOMAIN": ["LB"] * 3, "USUBJID": ["S-1", "S-1", "S-2"], "LBSEQ": [1, 2, 1],
        "LBTESTCD": ["ALT", "AST", "ALT"]}))
    write_parquet_atomic(lineage / "lbch.parquet", pd.DataFrame({
        "USUBJID": ["S-1", "S-1", "S-2"], "SEQ": [1, 2, 1],
        "SOURCE_FILE": ["central/lab.csv"] * 3, "SOURCE_ROW": [10, 11, 20]}))
    write_parquet_atomic(sdtm / "ae.parquet", pd.DataFrame({
        "STUDYID": ["S"] * 2, "DOMAIN": ["AE"] * 2, "USUBJID": ["S-1", "S-1"], "AESEQ": [1, 2]}))
    write_parquet_atomic(lineage / "ae.parquet", pd.DataFrame({
        "USUBJID": ["S-1", "S-1"], "SEQ": [1, 2], "SOURCE_FILE": ["site101/ae.csv"] * 2, "SOURCE_ROW": [3, 7]}))
    return sdtm, lineage


def test_split_dataset_finding_is_traced_through_the_domain_seq_variable(tmp_path):
    sdtm, lineage = write_split_lab(tmp_path)
    findings = pd.DataFrame({"dataset": ["LBCH", "LBCH", "AE"], "record": [2, 3, 2], "usubjid": ["S-1", "S-2", "S-1"]})
    traced = findings_with_raw_source(findings, sdtm, lineage)
    assert traced["source_file"].tolist() == ["central/lab.csv", "central/lab.csv", "site101/ae.csv"]
    assert traced["source_row"].tolist() == [11, 20, 7]


def test_findings_without_record_keep_null_sources_and_input_is_not_mutated(tmp_path):
    sdtm, lineage = write_split_lab(tmp_path)
    findings = pd.DataFrame({"dataset": ["LBCH"], "record": [None], "usubjid": ["S-1"]})
    traced = findings_with_raw_source(findings, sdtm, lineage)
    assert traced["source_file"].isna().all() and traced["source_row"].isna().all()
    assert list(findings.columns) == ["dataset", "record", "usubjid"]


def test_sequence_variable_prefers_domain_for_split_datasets_and_falls_back_otherwise():
    assert sequence_variable(pd.DataFrame({"DOMAIN": ["LB"], "LBSEQ": [1]}), "LBCH") == "LBSEQ"
    assert sequence_variable(pd.DataFrame({"DOMAIN": ["QS"], "QSSEQ": [1]}), "qscg") == "QSSEQ"
    assert sequence_variable(pd.DataFrame({"DOMAIN": ["LB"], "LBSEQ": [1]}), "LB") == "LBSEQ"
    assert sequence_variable(pd.DataFrame({"DOMAIN": ["LB"]}), "LBCH") == "LBCHSEQ"
    assert sequence_variable(pd.DataFrame({"USUBJID": ["S-1"]}), "DM") == "DMSEQ"
