"""The report on the default study: counts agree with the ledger and findings, every site, the tables'
numbers, pictures, no asset from a network anywhere, printable, reruns byte-identical, a fix shows as resolved."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pipeline.analysis.ard import read_ard
from pipeline.analysis.shell import load_shell
from pipeline.common.study import StudyContext
from pipeline.report.stage import REPORT_NAME, run
from pipeline.tlf.display import build_display
from pipeline.validate.findings import write_findings

REMOTE_ASSET = re.compile(r"""(?:\b(?:src|srcset|action|data)\s*=\s*["']?\s*https?://|<link\b[^>]*\bhref\s*=\s*["']?https?://|"""
                          r"""url\(\s*["']?https?://|@import\s+["']?https?://)""", re.I)


@pytest.fixture(scope="module")
def study_report(validated: StudyContext, tables_built: StudyContext) -> tuple[StudyContext, str]:
    run(tables_built)
    return tables_built, (tables_built.reports_dir / REPORT_NAME).read_text(encoding="utf-8")


def section(html: str, key: str) -> str:
    match = re.search(rf'<section id="{key}">(.*?)</section>', html, re.S)
    assert match, f"no section {key}"
    return match.group(1)


def summary_value(html: str, key: str, name: str) -> str:
    match = re.search(rf"<dt>{re.escape(name)}</dt><dd>([^<]*)</dd>", section(html, key))
    assert match, f"no summary {name!r} in section {key}"
    return html_lib.unescape(match.group(1))


def test_every_site_is_side_by_side_and_records_equal_the_ledger(study_report):
    ctx, html = study_report
    sites = json.loads((ctx.truth_dir / "manifest.json").read_text())["sites"]
    ledger = json.loads(ctx.ledger_path.read_text())
    part = section(html, "sites")
    for site in sites:
        assert f"<th>site {site}</th>" in part
    assert int(summary_value(html, "sites", "Sites")) == len(sites)
    assert int(summary_value(html, "sites", "Raw records")) == ledger["totals"]["rows_read"]
    assert int(summary_value(html, "sites", "Forms (raw files)")) == len(ledger["files"])


def test_queries_count_every_finding_and_quarantined_row_and_the_csv_has_one_line_each(study_report):
    ctx, html = study_report
    findings = pd.read_parquet(ctx.validation_dir / "findings.parquet")
    quarantined = sum(len(pd.read_parquet(p)) for p in ctx.quarantine_dir.glob("*.parquet"))
    assert int(summary_value(html, "queries", "Issues")) == len(findings) + quarantined
    rows = list(csv.DictReader(io.StringIO((ctx.reports_dir / "queries.csv").read_bytes().decode("utf-8-sig"),
                                           newline="")))
    assert len(rows) == int(summary_value(html, "queries", "Queries")) > 0
    traced = [r for r in rows if r["raw_file"]]
    assert len(traced) > 0.9 * len(rows)
    for row in traced:
        assert (ctx.outputs_dir / "raw" / row["raw_file"]).exists()
        assert int(row["raw_row"]) >= 1
    assert int(summary_value(html, "findings", "Findings")) == len(findings)


def test_report_numbers_are_the_tables_numbers(study_report):
    ctx, html = study_report
    shell = load_shell(ctx.specs_dir)
    display = build_display(shell, "table1", read_ard(ctx.ard_dir, "table1"))
    part = html_lib.unescape(section(html, "ard"))
    table_html = html_lib.unescape((ctx.tlf_dir / "table1.html").read_text())
    cells = [c for line in display.lines for c in line.cells if c]
    assert "0.0021" in cells                           # the UPCR p-value, as Table 1 prints it
    for cell in cells:
        assert f"<td>{cell}</td>" in part
        assert cell in table_html


def test_pictures_are_inline_svg(study_report):
    _, html = study_report
    part = section(html, "pictures")
    assert part.count("<svg") == 4
    assert "UPCR" in part and "SELENA-SLEDAI" in part and "<img" not in part


def test_no_generated_html_loads_anything_from_a_network(study_report):
    ctx, _ = study_report
    pages = sorted(ctx.outputs_dir.rglob("*.html")) + sorted(ctx.outputs_dir.rglob("*.css"))
    assert any("gx" in p.parts for p in pages), "the validate stage wrote no Data Docs"
    offenders = [f"{p.relative_to(ctx.outputs_dir)}: {m.group(0)}" for p in pages
                 for m in [REMOTE_ASSET.search(p.read_text(encoding="utf-8", errors="replace"))] if m]
    assert offenders == []
    gx_index = (ctx.validation_dir / "gx" / "index.html").read_text()
    assert "<script" not in gx_index and gx_index.count("<tr><td>") >= 2  # index tables written out as HTML


def test_rerun_on_the_same_inputs_is_byte_identical(study_report):
    ctx, html = study_report
    run(ctx)
    assert (ctx.reports_dir / REPORT_NAME).read_text(encoding="utf-8") == html


def test_a_fixed_defect_shows_as_resolved_on_the_next_run(study_report, tmp_path):
    ctx, _ = study_report
    copy = tmp_path / ctx.study
    shutil.copytree(ctx.outputs_dir, copy, ignore=shutil.ignore_patterns("raw", "submission", "logs"))
    copied = StudyContext.create(ctx.study, outputs=copy)
    findings = pd.read_parquet(copied.validation_dir / "findings.parquet")
    fixed = findings.index[(findings["rule_id"] == "ISL-0202")][0]
    usubjid = findings.loc[fixed, "usubjid"]
    write_findings(findings.drop(index=fixed), copied.validation_dir)
    run(copied)
    html = (copied.reports_dir / REPORT_NAME).read_text(encoding="utf-8")
    assert summary_value(html, "changes", "Resolved findings") == "1"
    assert summary_value(html, "changes", "New findings") == "0"
    assert summary_value(html, "changes", "Unchanged findings") == str(len(findings) - 1)
    site = usubjid.split("-")[1]
    assert f"<td>ISL-0202</td><td>{site}</td><td class=\"num\">0</td><td class=\"num\">1</td>" in section(html, "changes")
    run(copied)  # nothing changed since: the comparison with the same baseline, same bytes
    assert (copied.reports_dir / REPORT_NAME).read_text(encoding="utf-8") == html


def test_print_stylesheet_never_clips_a_table(study_report):
    _, html = study_report
    style = re.search(r"@media print \{(.*?)\n  \}", html, re.S).group(1)
    assert re.search(r"\.table-wrap \{[^}]*overflow: visible[^}]*max-height: none", style)
    assert "thead { display: table-header-group; }" in style
    assert re.search(r"tr \{[^}]*break-inside: avoid", style)
    assert re.search(r"th \{[^}]*position: static", style)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed (.ci/run installs it)")
def test_report_prints_every_query_row_in_headless_chromium(study_report, tmp_path):
    ctx, html = study_report
    pdf = tmp_path / "report.pdf"
    page = ctx.reports_dir / REPORT_NAME
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", page.as_uri()], check=True, capture_output=True, timeout=180)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))
    rows = html.count("<tr")
    assert pages >= rows // 60  # every row printed: no scroll box cut the tables to one screen
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1280,2000", page.as_uri()], check=True, capture_output=True, timeout=180)
    assert shot.stat().st_size > 0
