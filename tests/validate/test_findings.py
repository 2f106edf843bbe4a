"""Findings table: contract columns, spreadsheet-safe CSV, deterministic order, severity gate."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.common.errors import GateFailed
from pipeline.common.io import escape_spreadsheet_formula
from pipeline.validate.findings import (
    FINDINGS_COLUMNS, combine_findings, evaluate_gate, make_findings, write_findings,
)


@pytest.mark.parametrize("value, expected", [
    ("-2.8", "-2.8"),              # a plain negative number stays readable: no spreadsheet runs it
    ("+3", "+3"),
    ("1e-3", "1e-3"),
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("-P10D", "'-P10D"),           # ISO duration is not a plain number: quoted
    ("\tTAB", "'\tTAB"),
    ("Headache", "Headache"),
])
def test_spreadsheet_formula_escaping_rule(value: str, expected: str) -> None:
    assert escape_spreadsheet_formula(value) == expected


def test_csv_is_escaped_and_parquet_keeps_raw_values(tmp_path: Path) -> None:
    findings = combine_findings([
        make_findings("ISL-0002", "error", "AE", "m", "pandera", variable="AETERM", usubjid=["S-1", "S-2"],
                      record=[1, 2], value=["=cmd()", "-2.8"]),
    ])
    parquet, csv = write_findings(findings, tmp_path)
    text = csv.read_text(encoding="utf-8").splitlines()
    assert text[0] == ",".join(FINDINGS_COLUMNS)
    assert text[1] == "ISL-0002,error,AE,AETERM,S-1,1,'=cmd(),m,pandera"
    assert text[2] == "ISL-0002,error,AE,AETERM,S-2,2,-2.8,m,pandera"
    raw = pd.read_parquet(parquet)
    assert list(raw.columns) == FINDINGS_COLUMNS
    assert raw["value"].tolist() == ["=cmd()", "-2.8"]


def test_findings_are_sorted_errors_first_then_rule_dataset_record() -> None:
    findings = combine_findings([
        make_findings("B", "warning", "AE", "m", "pandera", record=[5]),
        make_findings("A", "error", "LB", "m", "pandera", record=[9, 2]),
        make_findings("A", "error", "AE", "m", "pandera", record=[3]),
    ])
    assert findings[["rule_id", "dataset", "record"]].values.tolist() == [
        ["A", "AE", 3], ["A", "LB", 2], ["A", "LB", 9], ["B", "AE", 5]]


def test_writing_twice_gives_identical_bytes(tmp_path: Path) -> None:
    findings = combine_findings([make_findings("A", "error", "AE", "m", "pandera", record=[1, 2], value=[1.5, None])])
    first = [p.read_bytes() for p in write_findings(findings, tmp_path / "a")]
    second = [p.read_bytes() for p in write_findings(findings, tmp_path / "b")]
    assert first == second


def test_gate_raises_on_error_and_names_rule_and_dataset() -> None:
    findings = combine_findings([make_findings("CG0029", "error", "AE", "USUBJID X is not in DM", "conformance",
                                               usubjid=["X"], record=[4])])
    with pytest.raises(GateFailed, match=r"1 finding\(s\) at severity 'error'.*CG0029 AE x1.*record 4 X"):
        evaluate_gate(findings, "error")


def test_gate_passes_warnings_when_gate_is_error() -> None:
    findings = combine_findings([make_findings("CG0016", "warning", "AE", "m", "pandera")])
    assert evaluate_gate(findings, "error").empty


def test_gate_at_warning_stops_on_warnings() -> None:
    findings = combine_findings([make_findings("CG0016", "warning", "AE", "m", "pandera")])
    with pytest.raises(GateFailed):
        evaluate_gate(findings, "warning")


def test_gate_does_not_raise_when_asked_not_to() -> None:
    findings = combine_findings([make_findings("X", "error", "AE", "m", "pandera")])
    assert len(evaluate_gate(findings, "error", raise_on_gate=False)) == 1
