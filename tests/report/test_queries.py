"""Queries: every issue back to its raw file, row, column and value; one line per query; safe CSV."""

import csv
import io

import pandas as pd

import pipeline.report.queries as queries_module
from pipeline.report.queries import compute_issues, compute_queries, write_queries_csv

FINDINGS = pd.DataFrame({
    "rule_id": ["ISL-0209", "ISL-0217", "CG0034", "ISL-0002"],
    "severity": ["warning", "warning", "warning", "notice"],
    "dataset": ["LB", "LB", "VS", "ADSL"],
    "variable": ["LBSTRESN", "LBSTRESN", "VISITNUM", "SEX"],
    "usubjid": ["X-101-0001", "X-101-0001", "X-102-0009", "X-102-0003"],
    "record": [5, 5, 40, 3],
    "value": ["1315.9", "1315.9", "=4+1", "X"],
    "message": ["20 times the subject median", "100 times the study median", "VISITNUM not in SV", "not in codelist"],
    "check_source": ["great_expectations"] * 2 + ["conformance", "conformance"],
    "source_file": ["site_101/lab.csv", "site_101/lab.csv", "site_102/vs.xlsx", None],
    "source_row": pd.array([739, 739, 84, pd.NA], dtype="Int64"),
})
QUARANTINE = pd.DataFrame({
    "domain": ["LB", "AE"], "file": ["site_101/lab.csv", "site_102/ae.xlsx"], "row": [57, 4], "site": ["101", "102"],
    "subject": ["0001", "3"], "column": ["collection_date", "AETERM"], "value": ["31.04.2019", "<script>x</script>"],
    "category": ["impossible date", "unknown code"], "reason": ["impossible date '31.04.2019'", "bad term"],
})


def test_every_issue_names_raw_file_row_column_and_value():
    issues = compute_issues(FINDINGS, QUARANTINE, {"X-102-0003": "102"})
    assert len(issues) == len(FINDINGS) + len(QUARANTINE)
    rows = issues[["site", "raw_file", "raw_row", "column", "value"]].values.tolist()
    assert ["101", "site_101/lab.csv", "57", "collection_date", "31.04.2019"] in rows
    assert ["101", "site_101/lab.csv", "739", "LBSTRESN", "1315.9"] in rows
    assert ["102", "site_102/vs.xlsx", "84", "VISITNUM", "=4+1"] in rows
    assert ["102", "", "", "SEX", "X"] in rows                                # site from the subject
    assert issues["raw_row"].tolist()[:2] == ["57", "739"]                    # rows sorted as numbers


def test_issues_on_one_raw_row_are_one_query_line():
    queries = compute_queries(compute_issues(FINDINGS, QUARANTINE))
    assert len(queries) == 5
    lab = queries[queries["raw_row"] == "739"].iloc[0]
    assert lab["rule_ids"] == "ISL-0209, ISL-0217" and lab["issues"] == 2
    assert lab["query"] == ("site_101/lab.csv row 739, subject X-101-0001: LBSTRESN = '1315.9': 20 times the subject "
                            "median (ISL-0209); LBSTRESN = '1315.9': 100 times the study median (ISL-0217). "
                            "Please check and correct or confirm.")
    assert "\n" not in "".join(queries["query"])
    assert queries["query_id"].tolist() == ["Q0001", "Q0002", "Q0003", "Q0004", "Q0005"]


def test_csv_neutralises_formula_cells_with_the_shared_writer(tmp_path):
    from pipeline.common.io import write_csv_atomic

    assert queries_module.write_csv_atomic is write_csv_atomic
    frame = pd.DataFrame({"value": ["=HYPERLINK(\"http://x\")", "+1+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "-2.8", "ok"]})
    text = write_queries_csv(frame, tmp_path / "queries.csv").read_bytes().decode("utf-8-sig")
    cells = [row[0] for row in csv.reader(io.StringIO(text, newline=""))][1:]
    assert cells == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-cmd", "'@SUM(A1)", "'\tx", "'\rx", "-2.8", "ok"]


def test_queries_csv_round_trips_every_query(tmp_path):
    queries = compute_queries(compute_issues(FINDINGS, QUARANTINE))
    path = write_queries_csv(queries, tmp_path / "queries.csv")
    text = path.read_bytes().decode("utf-8-sig")
    back = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["query_id"] for r in back] == queries["query_id"].tolist()
    assert [r for r in back if r["raw_row"] == "84"][0]["value"] == "'=4+1"
