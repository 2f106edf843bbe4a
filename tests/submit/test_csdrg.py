"""The draft cSDRG written beside the SDTM define.xml from study.yaml, the specs, the package and the findings."""

import json

import pandas as pd
import pytest
from lxml import etree

from pipeline.common.specfile import load_spec
from pipeline.submit.csdrg import summarise_findings, write_csdrg


def test_summarise_findings_groups_by_rule_dataset_and_severity_and_reads_accepted_reasons():
    findings = pd.DataFrame({
        "rule_id": ["CG0034", "CG0034", "CG0034", "ISL-0002", "ISL-0002"],
        "severity": ["warning", "warning", "warning", "notice", "error"],
        "dataset": ["LB", "LB", "VS", "DM", "DM"],
        "variable": ["VISITNUM", "VISITNUM", "VISITNUM", "SEX", "SEX"],
        "usubjid": ["S-1", "S-1", "S-2", "S-3", "S-4"],
        "message": ["VISITNUM 8 is not in SV", "VISITNUM 9 is not in SV", "VISITNUM 4 is not in SV",
                    "SEX value 'X' [accepted: query open with the site]", "SEX value 'Q'"],
    })
    rows = [(r["rule_id"], r["dataset"], r["severity"], r["count"], r["subjects"], r["status"], r["reason"], r["message"])
            for r in summarise_findings(findings)]
    assert rows == [
        ("ISL-0002", "DM", "error", 1, 1, "open", "", "SEX value 'Q'"),
        ("CG0034", "LB", "warning", 2, 1, "open", "", "VISITNUM 8 is not in SV"),
        ("CG0034", "VS", "warning", 1, 1, "open", "", "VISITNUM 4 is not in SV"),
        ("ISL-0002", "DM", "notice", 1, 1, "accepted", "query open with the site", "SEX value 'X'"),
    ]
    assert summarise_findings(findings.iloc[0:0]) == []


@pytest.fixture(scope="module")
def csdrg(flagship_package, validated):
    ctx = flagship_package
    manifest = json.loads((ctx.submission_dir / "manifest.json").read_text())
    checks = pd.read_csv(ctx.submission_dir / "checks.csv", dtype=str, keep_default_na=False)
    packaged = {p: p.read_bytes() for p in sorted((ctx.submission_dir / "sdtm").glob("csdrg.*"))}
    path = write_csdrg(ctx, manifest, checks)
    html, rtf = etree.HTML(path.read_bytes()), path.with_suffix(".rtf").read_text(encoding="ascii")
    for kept, data in packaged.items():  # the shared package stays as packaged: test_verify checks its hashes
        kept.write_bytes(data)
    return ctx, html, rtf


def _rows(html, table_id):
    return [["".join(td.itertext()).strip() for td in tr.findall("td")]
            for tr in html.findall(f".//table[@id='{table_id}']/tbody/tr")]


def test_csdrg_is_shipped_beside_the_sdtm_define_and_in_the_manifest(flagship_package):
    sub = flagship_package.submission_dir
    assert (sub / "sdtm" / "csdrg.html").exists()
    manifest = json.loads((sub / "manifest.json").read_text())
    assert "sdtm/csdrg.html" in {f["path"] for f in manifest["files"]}


def test_csdrg_protocol_and_datasets_come_from_study_yaml_and_the_package(csdrg):
    ctx, html, _ = csdrg
    design = ctx.design
    assert html.find(".//h1").text.endswith(design["study"]["studyid"])
    assert [r[:3] for r in _rows(html, "arms")] == [[a["armcd"], a["arm"], str(a["n"])] for a in design["arms"]]
    assert [r[1] for r in _rows(html, "visits")] == [v["visit"] for v in design["visits"]]
    manifest = json.loads((ctx.submission_dir / "manifest.json").read_text())
    sdtm = [d for d in manifest["datasets"] if d["standard"] == "SDTM"]
    assert [(r[0], r[3]) for r in _rows(html, "sdtm-datasets")] == [(d["dataset"], str(d["records"])) for d in sdtm]
    inventory = dict((r[0], r[1]) for r in _rows(html, "inventory"))
    assert inventory["SDTMIG"] == "3.4" and inventory["MEDDRA"] == "27.0" and inventory["Define-XML"] == "2.1.0"
    conversions = {(r[1], r[2], r[3]): int(r[4]) for r in _rows(html, "conversions")}
    assert conversions[("SV", "SVREASOC", "sponsor dictionary")] == 2


def test_csdrg_conformance_summary_lists_every_finding_with_its_count_and_accepted_reason(csdrg):
    ctx, html, _ = csdrg
    findings = pd.read_parquet(ctx.validation_dir / "findings.parquet")
    rows = _rows(html, "issues")
    assert sum(int(r[4]) for r in rows) == len(findings) > 0
    assert {r[0] for r in rows} == set(findings["rule_id"])
    reasons = {entry["reason"] for entry in load_spec(ctx.specs_dir / "expectations.yaml")["accepted"]}
    accepted = [r for r in rows if r[6] == "accepted"]
    assert accepted and all(r[8] in reasons for r in accepted)
    assert all(r[8] == "sponsor to explain" for r in rows if r[6] == "open")


def test_csdrg_rtf_is_shipped_with_the_same_conformance_summary(csdrg):
    ctx, html, rtf = csdrg
    assert rtf.startswith("{\\rtf1") and rtf.rstrip().endswith("}")
    unescaped = rtf.replace("\\\\", "").replace("\\{", "").replace("\\}", "")
    assert unescaped.count("{") == unescaped.count("}")  # groups balanced
    rule_ids = {row[0] for row in _rows(html, "issues")}
    assert rule_ids and all(rule_id in rtf for rule_id in rule_ids)
    for heading in ("1 Introduction", "2 Protocol Description", "3 Subject Data Description", "4 Analysis Datasets",
                    "5 Data Conformance Summary"):
        assert heading in rtf
    manifest = json.loads((ctx.submission_dir / "manifest.json").read_text())
    assert "sdtm/csdrg.rtf" in {f["path"] for f in manifest["files"]}
