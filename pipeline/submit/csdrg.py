"""A draft Clinical Study Data Reviewer's Guide (PHUSE cSDRG layout, HTML and RTF) beside the SDTM define.xml.

Every section comes from a file the pipeline already wrote (manifest versions, study.yaml, metadata.csv
origins, the non-ASCII rows of checks.csv, validation findings with the reasons accepted in
expectations.yaml), so the guide cannot disagree with the package; sections a machine cannot write
(annotated CRF notes, protocol amendments) are left to the sponsor.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.study import StudyContext
from pipeline.standards.tables import trial_design_domains
from pipeline.submit.ascii import CHECK_NON_ASCII
from pipeline.submit.define import render_template

_ACCEPTED = re.compile(r"\s*\[accepted: (.*)\]\s*$")
CSDRG_FILE = "csdrg.html"
CSDRG_RTF_FILE = "csdrg.rtf"


def summarise_findings(findings: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per rule, dataset and severity: count, subjects, a first message and the status.

    A finding whose message ends ``[accepted: reason]`` (expectations.yaml ``accepted``) is
    ``accepted`` with that reason; any other is ``open``. Open findings come first, worst severity first.

    >>> findings = pd.DataFrame({"rule_id": ["R1", "R1", "R2"], "severity": ["notice", "notice", "warning"],
    ...     "dataset": ["AE", "AE", "LB"], "variable": ["AESEV", "AESEV", "LBORRES"], "usubjid": ["1", "2", "1"],
    ...     "message": ["bad [accepted: query open]", "worse [accepted: query open]", "odd"]})
    >>> [(r["rule_id"], r["count"], r["subjects"], r["status"], r["reason"]) for r in summarise_findings(findings)]
    [('R2', 1, 1, 'open', ''), ('R1', 2, 2, 'accepted', 'query open')]
    """
    if findings is None or not len(findings):
        return []
    frame = findings.copy()
    for column in ("rule_id", "severity", "dataset", "variable", "usubjid", "message"):
        frame[column] = frame.get(column, pd.Series("", index=frame.index)).fillna("").astype(str)
    frame["reason"] = frame["message"].str.extract(_ACCEPTED, expand=False).fillna("")
    frame["status"] = frame["reason"].map(lambda r: "accepted" if r else "open")
    frame["message"] = frame["message"].str.replace(_ACCEPTED, "", regex=True)
    rows = []
    for (rule_id, dataset, severity, status, reason), group in frame.groupby(
            ["rule_id", "dataset", "severity", "status", "reason"], sort=True):
        variables = sorted(v for v in group["variable"].unique() if v)
        rows.append({"rule_id": rule_id, "dataset": dataset, "severity": severity, "status": status,
                     "reason": reason, "count": int(len(group)),
                     "subjects": int(group.loc[group["usubjid"] != "", "usubjid"].nunique()),
                     "variables": ", ".join(variables), "message": str(group["message"].iloc[0])})
    order = {"error": 0, "warning": 1, "notice": 2}
    return sorted(rows, key=lambda r: (r["status"] != "open", order.get(r["severity"], 3), r["rule_id"], r["dataset"]))


def _origins(metadata: pd.DataFrame, dataset: str) -> str:
    counts = metadata.loc[metadata["dataset"] == dataset, "origin"].value_counts()
    return ", ".join(f"{origin} {int(n)}" for origin, n in sorted(counts.items()))


def build_csdrg_context(ctx: StudyContext, manifest: dict[str, Any], metadata: dict[str, pd.DataFrame],
                        checks: pd.DataFrame, findings: pd.DataFrame | None, rules: pd.DataFrame | None) -> dict[str, Any]:
    """Everything the template shows, as plain values (tested without rendering)."""
    design = ctx.design if isinstance(ctx.design, dict) else {}
    study = design.get("study") or {}
    versions = manifest.get("versions") or {}
    datasets = manifest.get("datasets") or []
    sdtm = [d for d in datasets if d.get("standard") == "SDTM"]
    trial_design = trial_design_domains(ctx.standards_dir)
    adam = [d for d in datasets if d.get("standard") == "ADaM"]
    sdtm_meta = metadata.get("SDTM", pd.DataFrame(columns=["dataset", "origin"]))
    adam_meta = metadata.get("ADaM", pd.DataFrame(columns=["dataset", "origin"]))
    standards = versions.get("standards") or {}
    inventory = [("SDTMIG", standards.get("SDTMIG", "")), ("ADaMIG", standards.get("ADaMIG", "")),
                 ("CDISC Controlled Terminology", versions.get("controlled_terminology", "")),
                 ("Define-XML", versions.get("define_xml", "")), ("Dataset-JSON", versions.get("dataset_json", "")),
                 ("Transport files", versions.get("xpt", ""))] + sorted((versions.get("dictionaries") or {}).items())
    sites = design.get("sites") or []
    sources = design.get("sources") or {}
    if sources.get("sdtm"):
        given = sources["sdtm"]
        sdtm_text = ", ".join(f"{k} {v}" for k, v in given.items()) if isinstance(given, dict) else str(given)
        source_text = (f"Existing SDTM ({sdtm_text}"
                       + (f", SDTMIG {sources['sdtmig_version']}" if sources.get("sdtmig_version") else "") + ")")
    else:
        countries = sorted({str(s.get("country", "")) for s in sites if isinstance(s, dict)} - {""})
        source_text = f"Site exports of {len(sites)} site(s) in {len(countries)} country(ies) ({', '.join(countries)})"
    conversions = checks[checks["check"] == CHECK_NON_ASCII] if len(checks) and "check" in checks.columns else checks
    conversion_rows = []
    if len(conversions):
        rules_used = conversions["action"].astype(str).str.extract(r"by (.*?) \(", expand=False).fillna("")
        grouped = conversions.assign(rule=rules_used).groupby(["standard", "dataset", "variable", "rule"], sort=True)
        conversion_rows = [{"standard": k[0], "dataset": k[1], "variable": k[2], "rule": k[3], "count": int(len(g)),
                            "example": str(g["value"].iloc[0])} for k, g in grouped]
    rule_sources = rules["check_source"].value_counts().sort_index().to_dict() if rules is not None and len(rules) \
        and "check_source" in rules.columns else {}
    issues = summarise_findings(findings) if findings is not None else []
    return {
        "studyid": str(study.get("studyid") or ctx.study),
        "title": " ".join(str(study.get("title") or "").split()),
        "study": {k: study.get(k) for k in ("registry_id", "eudract", "sponsor", "phase", "blinding", "control",
                                            "indication", "start_date", "completion_date", "planned_subjects")
                  if study.get(k)},
        "arms": [a for a in design.get("arms") or [] if isinstance(a, dict)],
        "epochs": list(design.get("epochs") or []),
        "visits": [v for v in design.get("visits") or [] if isinstance(v, dict)],
        "created": manifest.get("created", ""), "as_of": manifest.get("as_of", ""),
        "generator": manifest.get("generator", ""),
        "inventory": [(n, v) for n, v in inventory if v],
        "source_text": source_text,
        "trial_design": [d for d in sdtm if d["dataset"] in trial_design],
        "sdtm": [{**d, "origins": _origins(sdtm_meta, d["dataset"])} for d in sdtm],
        "adam": [{**d, "origins": _origins(adam_meta, d["dataset"]),
                  "derived": int(((adam_meta["dataset"] == d["dataset"]) & (adam_meta["origin"] == "Derived")).sum())}
                 for d in adam],
        "conversions": conversion_rows,
        "gate": str((design.get("validation") or {}).get("gate", "")),
        "rule_sources": rule_sources,
        "findings_available": findings is not None,
        "issues": issues,
        "open_count": sum(r["count"] for r in issues if r["status"] == "open"),
        "accepted_count": sum(r["count"] for r in issues if r["status"] == "accepted"),
    }


def render_csdrg_rtf(context: dict[str, Any]) -> str:
    r"""The same draft as RTF (Word opens it), from the same context as the HTML page.

    >>> text = render_csdrg_rtf({"studyid": "S1", "title": "T", "inventory": [("SDTMIG", "3.4")], "arms": [],
    ...                          "issues": [{"rule_id": "SD0001", "dataset": "AE", "severity": "error", "count": 2,
    ...                                      "status": "accepted", "reason": "collected as is"}]})
    >>> text.startswith("{\\rtf1") and "SD0001" in text and "collected as is" in text
    True
    """
    from pipeline.tlf.render_rtf import rtf_escape

    parts = [r"{\rtf1\ansi\deff0{\fonttbl{\f0 Arial;}}\fs20 "]

    def heading(text: str, level: int) -> None:
        parts.append(rf"\pard\sb240\sa80\b\fs{32 - 4 * level} {rtf_escape(text)}\b0\fs20\par ")

    def paragraph(text: str) -> None:
        parts.append(rf"\pard\sa80 {rtf_escape(text)}\par ")

    def table(header: list[str], rows: list, keys: tuple[str, ...] = ()) -> None:
        """One row per item of ``rows``: the values of ``keys`` of each dict, or the item itself."""
        rows = [[row.get(key) for key in keys] for row in rows] if keys else rows
        width = 9000 // max(len(header), 1)
        for index, row in enumerate([header, *rows]):
            cells = "".join(rf"\clbrdrt\brdrs\clbrdrb\brdrs\clbrdrl\brdrs\clbrdrr\brdrs\cellx{width * (i + 1)}"
                            for i in range(len(header)))
            bold = (r"\b ", r"\b0") if index == 0 else ("", "")
            text = "".join(rf"\pard\intbl {bold[0]}{rtf_escape(str(v if v is not None else ''))}{bold[1]}\cell "
                           for v in row)
            parts.append(rf"\trowd\trgaph60{cells}{text}\row ")
        parts.append(r"\pard\par ")

    studyid = str(context.get("studyid", ""))
    heading(f"Clinical Study Data Reviewer's Guide - {studyid} (draft)", 1)
    paragraph(f"Written by {context.get('generator', 'the pipeline')} from study.yaml, the dataset specifications, "
              f"the submission package and the validation findings. Package created {context.get('created', '')}"
              + (f"; data as of {context['as_of']}" if context.get("as_of") else "") + ".")
    heading("1 Introduction", 2)
    heading("1.2 Study Data Standards and Dictionary Inventory", 3)
    table(["Standard or dictionary", "Version"], context.get("inventory", []))
    if context.get("source_text"):
        heading("1.3 Source Data", 3)
        paragraph(f"{context['source_text']}.")
    heading("2 Protocol Description", 2)
    paragraph(f"Protocol {studyid}: {context.get('title', '')}")
    if context.get("study"):
        table(["Item", "Value"], [[k.replace("_", " "), v] for k, v in context["study"].items()])
    table(["Arm code", "Arm", "Planned subjects", "Ratio"], context.get("arms", []), ("armcd", "arm", "n", "ratio"))
    if context.get("trial_design"):
        heading("2.3 Trial Design Datasets", 3)
        table(["Dataset", "Label", "Records"], context["trial_design"], ("dataset", "label", "records"))
    heading("3 Subject Data Description", 2)
    table(["Dataset", "Label", "Records", "Variables", "Origins"], context.get("sdtm", []),
          ("dataset", "label", "records", "variables", "origins"))
    if context.get("conversions"):
        heading("3.3 Text converted for the XPT files", 3)
        table(["Standard", "Dataset", "Variable", "Rule", "Values", "Example"], context["conversions"],
              ("standard", "dataset", "variable", "rule", "count", "example"))
    heading("4 Analysis Datasets", 2)
    table(["Dataset", "Label", "Records", "Variables", "Derived variables", "Origins"], context.get("adam", []),
          ("dataset", "label", "records", "variables", "derived", "origins"))
    heading("5 Data Conformance Summary", 2)
    paragraph(f"Validation gate: {context.get('gate') or 'not set'}. {context.get('open_count', 0)} finding(s) open, "
              f"{context.get('accepted_count', 0)} accepted with the sponsor's reason.")
    table(["Rule", "Dataset", "Severity", "Count", "Status", "Explanation"],
          [[r.get("rule_id"), r.get("dataset"), r.get("severity"), r.get("count"), r.get("status"),
            r.get("reason") or "sponsor to explain"] for r in context.get("issues", [])])
    parts.append("}")
    return "".join(parts)


def write_csdrg(ctx: StudyContext, manifest: dict[str, Any], checks: pd.DataFrame) -> Path:
    """Render the draft from the package just written and the validation outputs, beside the SDTM define.xml."""
    from pipeline.common.io import read_spreadsheet_csv, write_text_atomic

    metadata = {}
    for standard, folder in (("SDTM", "sdtm"), ("ADaM", "adam")):
        path = ctx.submission_dir / folder / "metadata.csv"
        if path.exists():
            metadata[standard] = read_spreadsheet_csv(path)
    findings_path = ctx.validation_dir / "findings.parquet"
    findings = pd.read_parquet(findings_path) if findings_path.exists() else None
    rules_path = ctx.validation_dir / "rules.csv"
    rules = read_spreadsheet_csv(rules_path) if rules_path.exists() else None
    context = build_csdrg_context(ctx, manifest, metadata, checks, findings, rules)
    write_text_atomic(ctx.submission_dir / "sdtm" / CSDRG_RTF_FILE, render_csdrg_rtf(context))
    return write_text_atomic(ctx.submission_dir / "sdtm" / CSDRG_FILE, render_template("csdrg.html.j2", **context))
