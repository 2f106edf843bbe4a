"""The data-quality report on hand-made ledger, quarantine, findings, ARD and submission files."""

import pandas as pd
import pytest

from pipeline.common.errors import InputError
from pipeline.common.io import write_json_atomic, write_parquet_atomic
from pipeline.common.study import StudyContext
from pipeline.validate.findings import gate_blocked
from pipeline.report.sections import (compute_findings_summary, compute_ledger_rows,
                                      find_data_docs)
from pipeline.report.stage import REPORT_NAME, run


def make_outputs(tmp_path):
    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / "out")
    out = ctx.outputs_dir
    write_json_atomic(out / "ingest" / "manifest.json", {"files": [
        {"path": "site101/ae.csv", "size": 1234, "sha256": "a" * 64, "rows_read": 12, "format": "csv"},
        {"path": "central/lab.xlsx", "size": 999, "sha256": "b" * 64, "rows_read": 40, "format": "xlsx"},
    ]})
    write_json_atomic(ctx.ledger_path, {
        "files": {
            "site101/ae.csv": {"rows_read": 12, "domains": {"AE": {"rows_mapped": 10, "rows_quarantined": 2,
                                                                    "records": 10, "rows_flagged": 1}}},
            "central/lab.xlsx": {"rows_read": 40, "domains": {"LB": {"rows_mapped": 37, "rows_quarantined": 2,
                                                                      "records": 37}}},
        },
        "totals": {"rows_read": 52, "records": {"AE": 10, "LB": 37}},
        "unconsumed_files": ["site999/notes.txt"],
        "balanced": False,
    })
    write_parquet_atomic(ctx.quarantine_dir / "ae.parquet", pd.DataFrame({
        "domain": ["AE", "AE"], "file": ["site101/ae.csv"] * 2, "row": [7, 3], "site": ["101"] * 2,
        "subject": ["001", "002"], "column": ["AESTDAT", "AESTDAT"], "value": ["31/02/2019", "<script>x</script>"],
        "category": ["invalid date", "invalid date"], "reason": ["invalid date '31/02/2019'", "invalid date '<script>'"],
        "record": [None, None]}))
    write_parquet_atomic(ctx.quarantine_dir / "lb.parquet", pd.DataFrame({
        "domain": ["LB", "LB"], "file": ["central/lab.xlsx"] * 2, "row": [11, 19], "site": ["101", "102"],
        "subject": ["004", "009"], "column": ["RESULT", "UNIT"], "value": ["n.d.", "mg/dl?"],
        "category": ["not numeric", "unknown unit"], "reason": ["not numeric 'n.d.'", "unknown unit 'mg/dl?'"],
        "record": [None, None]}))
    write_parquet_atomic(ctx.validation_dir / "findings.parquet", pd.DataFrame({
        "rule_id": ["CT0001", "CT0001", "CT0001", "SD0006", "DY0001"],
        "severity": ["error", "error", "error", "warning", "notice"],
        "dataset": ["DM", "AE", "AE", "LB", "AE"],
        "variable": ["SEX", "AESEV", "AESEV", "LBLOBXFL", "AESTDY"],
        "usubjid": ["S-001", "S-002", "S-003", "S-001", "S-004"],
        "record": [1, 4, 9, 12, 2],
        "value": ["X", "VERY BAD", "VERY BAD", "", "0"],
        "message": ["value not in codelist SEX", "value not in codelist AESEV", "value not in codelist AESEV",
                    "no baseline flag", "study day 0"],
        "check_source": ["conformance", "conformance", "conformance", "gx", "conformance"],
    }))
    (ctx.validation_dir / "rules.csv").write_text("id,title,severity\nCT0001,Value in its codelist,error\n")
    write_json_atomic(ctx.validation_dir / "summary.json", {"gate": "error", "findings": 5})
    (ctx.validation_dir / "gx").mkdir(parents=True)
    (ctx.validation_dir / "gx" / "index.html").write_text("<html></html>")
    ard = [
        {"output_id": "table1", "row_id": "upcr_rel_improvement", "row_label": "UPCR relative improvement (%)",
         "group": "Iscalimab 10 mg/kg", "stat": "pct", "value": 63.0791},
        {"output_id": "table1", "row_id": "upcr_rel_improvement", "row_label": "UPCR relative improvement (%)",
         "group": "Placebo", "stat": "pct", "value": 36.3412},
        {"output_id": "table1", "row_id": "crr", "row_label": "Complete renal response", "group": "Iscalimab 10 mg/kg",
         "stat": "n", "value": 3.0},
        {"output_id": "table1", "row_id": "crr", "row_label": "Complete renal response", "group": "Iscalimab 10 mg/kg",
         "stat": "N", "value": 37.0},
        {"output_id": "table1", "row_id": "crr", "row_label": "Complete renal response", "group": "Iscalimab 10 mg/kg",
         "stat": "pct", "value": 8.108108},
    ]
    write_json_atomic(ctx.ard_dir / "table1.json", ard)
    write_json_atomic(ctx.submission_dir / "manifest.json", {
        "created": "2000-01-01T00:00:00", "created_source": "default constant",
        "datasets": [{"dataset": "DM", "standard": "SDTM", "label": "Demographics", "records": 57, "variables": 25,
                      "keys": ["STUDYID", "USUBJID"]}],
        "files": [{"path": "sdtm/dm.xpt", "sha256": "c" * 64, "bytes": 9040}]})
    (ctx.submission_dir / "sdtm" / "define.html").parent.mkdir(parents=True, exist_ok=True)
    (ctx.submission_dir / "sdtm" / "define.html").write_text("<html></html>")
    return ctx


@pytest.fixture
def report(tmp_path):
    ctx = make_outputs(tmp_path)
    run(ctx)
    return ctx, (ctx.reports_dir / REPORT_NAME).read_text()


def test_report_is_one_self_contained_file(report):
    _, html = report
    assert html.startswith("<!DOCTYPE html>")
    assert "<link" not in html and "<script src" not in html and "http://" not in html.replace("http://www.w3", "")


def test_run_summary_lists_the_inputs_with_their_sha256(report):
    _, html = report
    assert "site101/ae.csv" in html and "a" * 64 in html and "b" * 64 in html
    assert "<dt>Raw rows read</dt><dd>52</dd>" in html


def test_ledger_shows_rows_in_mapped_quarantined_and_the_unbalanced_file(report):
    _, html = report
    assert ('<td>central/lab.xlsx</td><td>LB</td><td class="num">40</td><td class="num">37</td>'
            '<td class="num">2</td><td class="num">0</td><td class="num">37</td><td>NO</td>') in html
    assert '<td>site101/ae.csv</td><td>AE</td><td class="num">12</td><td class="num">10</td><td class="num">2</td>' in html
    assert "<dt>Unbalanced pairs</dt><dd>1</dd>" in html
    assert "site999/notes.txt" in html


def test_quarantine_reasons_are_counted_with_examples_and_values_are_escaped(report):
    _, html = report
    assert '<td>AE</td><td>invalid date</td><td class="num">2</td>' in html
    assert "<td>central/lab.xlsx</td><td class=\"num\">11</td><td>RESULT</td><td>n.d.</td>" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x</script>" not in html


def test_findings_are_counted_by_severity_rule_and_dataset(report):
    _, html = report
    assert "<dt>Findings</dt><dd>5</dd>" in html
    assert "<dt>Error</dt><dd>3</dd>" in html and "<dt>Warning</dt><dd>1</dd>" in html
    assert '<td>CT0001</td><td>Value in its codelist</td><td class="sev-error">error</td><td class="num">3</td><td>AE, DM</td>' in html
    assert "<dt>Gate</dt><dd>stop at &#39;error&#39;: FAILED</dd>" in html
    assert '<td>AE</td><td class="num">2</td><td class="num">0</td><td class="num">1</td><td class="num">3</td>' in html
    assert '<a href="../validation/gx/index.html">' in html


def test_key_ard_numbers_are_shown_rounded_and_a_missing_table_says_not_run(report):
    _, html = report
    assert '<td>upcr_rel_improvement</td><td>UPCR relative improvement (%)</td><td>pct</td><td>63.1</td><td>36.3</td>' in html
    assert "<td>crr</td><td>Complete renal response</td><td>pct</td><td>8.1</td>" in html
    assert "ard/table2.json not found" in html


def test_sections_without_input_say_not_run(tmp_path):
    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / "empty")
    run(ctx)
    html = (ctx.reports_dir / REPORT_NAME).read_text()
    # every section but the run summary, in the navigation bar and in its heading
    assert html.count('status-not-run">not run</span>') == 2 * 9
    assert "ledger.json not found: the sdtm stage has not run." in html
    assert "validation/findings.parquet not found" in html


def test_report_is_deterministic(tmp_path):
    ctx = make_outputs(tmp_path)
    run(ctx)
    first = (ctx.reports_dir / REPORT_NAME).read_bytes()
    run(ctx)
    assert (ctx.reports_dir / REPORT_NAME).read_bytes() == first


def test_damaged_ledger_is_bad_input_naming_the_file_and_line(tmp_path):
    ctx = make_outputs(tmp_path)
    ctx.ledger_path.write_text('{"files": \n  {oops}')
    with pytest.raises(InputError, match=r"ledger\.json: invalid JSON at line 2"):
        run(ctx)


def test_compute_ledger_rows_marks_balance_per_file_and_domain():
    rows = compute_ledger_rows({"files": {"x.csv": {"rows_read": 5, "domains": {
        "AE": {"rows_mapped": 5, "rows_quarantined": 0}, "CM": {"rows_mapped": 3, "rows_quarantined": 1}}}}})
    assert rows[["domain", "rows_in", "mapped", "quarantined", "balanced"]].values.tolist() == [
        ["AE", 5, 5, 0, True], ["CM", 5, 3, 1, False]]


def test_compute_findings_summary_orders_rules_by_severity_then_count():
    findings = pd.DataFrame({"rule_id": ["W1", "E1", "W2", "W2"], "severity": ["warning", "error", "warning", "warning"],
                             "dataset": ["AE", "DM", "LB", "LB"]})
    summary = compute_findings_summary(findings)
    assert summary["by_rule"]["rule_id"].tolist() == ["E1", "W2", "W1"]
    assert summary["by_severity"].values.tolist() == [["error", 1], ["warning", 3]]


def test_find_data_docs_ignores_inner_index_pages(tmp_path):
    (tmp_path / "gx" / "validations" / "x").mkdir(parents=True)
    (tmp_path / "gx" / "index.html").write_text("")
    (tmp_path / "gx" / "validations" / "x" / "index.html").write_text("")
    assert [href for _, href in find_data_docs(tmp_path)] == ["../validation/gx/index.html"]


def test_submission_section_lists_datasets_files_and_links_the_define(report):
    _, html = report
    assert '<td>SDTM</td><td>DM</td><td>Demographics</td><td class="num">57</td>' in html
    assert "c" * 64 in html
    assert '<a href="../submission/sdtm/define.html">SDTM define.html</a>' in html


@pytest.mark.parametrize("counts, gate, blocked", [
    ({"error": 2}, "warning", True),          # an error is worse than the warning gate
    ({"warning": 1}, "error", False),
    ({"notice": 3}, "warning", False),
    ({"notice": 1}, "notice", True),
    ({"error": 0, "notice": 1}, "warning", False),
])
def test_gate_fails_on_any_finding_at_or_above_its_severity(counts, gate, blocked):
    assert gate_blocked(counts, gate) is blocked


def test_an_unknown_gate_is_a_configuration_error():
    from pipeline.common.errors import ConfigError

    with pytest.raises(ConfigError, match="validation.gate 'unknown'"):
        gate_blocked({"error": 1}, "unknown")


def test_warning_gate_with_errors_only_is_reported_failed(tmp_path):
    ctx = make_outputs(tmp_path)
    findings = pd.read_parquet(ctx.validation_dir / "findings.parquet")
    write_parquet_atomic(ctx.validation_dir / "findings.parquet", findings[findings["severity"] == "error"])
    write_json_atomic(ctx.validation_dir / "summary.json", {"gate": "warning", "findings": 3})
    run(ctx)
    html = (ctx.reports_dir / REPORT_NAME).read_text()
    assert "<dt>Gate</dt><dd>stop at &#39;warning&#39;: FAILED</dd>" in html


def test_report_rounds_with_the_tables_formatter(tmp_path):
    from pathlib import Path

    from pipeline.analysis.shell import Shell
    from pipeline.report.sections import section_ard
    from pipeline.tlf.formatting import format_stat as tlf_format_stat

    records = [{"output_id": "t", "row_id": "cmp", "row_label": "Comparison", "group": "A", "stat": "pvalue", "value": 0.0021},
               {"output_id": "t", "row_id": "rate", "row_label": "Rate", "group": "A", "stat": "pct", "value": 12.25},
               {"output_id": "t", "row_id": "ratio", "row_label": "Ratio", "group": "A", "stat": "gmr", "value": 0.36912}]
    write_json_atomic(tmp_path / "ard" / "t.json", records)
    shell = Shell(Path("tlf.yaml"), {"decimals": {"pct": 1}}, {}, {}, {},
                  {"t": {"title": "T", "rows": [{"id": "ratio", "decimals": {"gmr": 3}}]}})
    rows = section_ard(tmp_path / "ard", shell).tables[1]["rows"]
    assert rows == [["cmp", "Comparison", "pvalue", "0.0021"], ["rate", "Rate", "pct", "12.3"],
                    ["ratio", "Ratio", "gmr", "0.369"]]
    assert tlf_format_stat("pvalue", 0.0021, {}) == "0.0021" and tlf_format_stat("pct", 12.25, {}) == "12.3"


def test_severity_order_and_gate_come_from_the_validate_stage():
    import pipeline.report.sections as sections
    from pipeline.validate import findings as validate_findings

    assert list(sections.SEVERITY_ORDER) == ["error", "warning", "notice"]
    assert set(sections.SEVERITY_ORDER) == set(validate_findings.SEVERITIES)
    assert sections.gate_blocked is validate_findings.gate_blocked
    assert sections.SEVERITY_ORDER == {s: i for i, s in enumerate(validate_findings.SEVERITIES_WORST_FIRST)}


def test_script_in_a_raw_value_is_shown_escaped_in_queries_and_csv(report):
    ctx, html = report
    assert "<script>x</script>" not in html
    queries = html.split('<section id="queries">', 1)[1].split("</section>", 1)[0]
    assert "AESTDAT = &#39;&lt;script&gt;x&lt;/script&gt;&#39;" in queries
    text = (ctx.reports_dir / "queries.csv").read_bytes().decode("utf-8-sig")
    assert "site101/ae.csv" in text and "<script>x</script>" in text  # CSV keeps the raw value for the site


def test_second_run_with_a_finding_fixed_shows_it_resolved(tmp_path):
    ctx = make_outputs(tmp_path)
    run(ctx)
    first = (ctx.reports_dir / REPORT_NAME).read_text()
    assert "No previous run kept yet" in first
    findings = pd.read_parquet(ctx.validation_dir / "findings.parquet")
    write_parquet_atomic(ctx.validation_dir / "findings.parquet", findings[findings["usubjid"] != "S-003"])
    run(ctx)
    html = (ctx.reports_dir / REPORT_NAME).read_text()
    assert "<dt>Resolved findings</dt><dd>1</dd>" in html and "<dt>New findings</dt><dd>0</dd>" in html
    assert '<td>CT0001</td><td></td><td class="num">0</td><td class="num">1</td><td class="num">2</td>' in html
