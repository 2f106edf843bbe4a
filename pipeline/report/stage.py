"""Stage ``report``: one self-contained HTML data-quality review report for data managers.

Reads whatever the earlier stages left under the study outputs (ingest manifest, ledger,
quarantine, validation findings, GX Data Docs, ARD, submission manifest) and writes
``reports/dq_report.html``: no external assets, every data value escaped, no timestamp, so the
same inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.common.errors import ConfigError
from pipeline.common.io import write_text_atomic
from pipeline.common.logs import get_logger
from pipeline.common.study import StudyContext
from pipeline.report.sections import (Section, section_ard, section_findings, section_ledger, section_quarantine,
                                      section_run_summary, section_submission)

log = get_logger("report")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
REPORT_NAME = "dq_report.html"


def load_tlf_shell(ctx: StudyContext) -> dict[str, Any] | None:
    """The study's ``tlf.yaml`` (output ids, numbers and titles), or None when the study has none.

    >>> "table1" in load_tlf_shell(StudyContext.create("iscalimab-ln"))["outputs"]
    True
    """
    if not (ctx.specs_dir / "tlf.yaml").exists():
        return None
    shell = ctx.spec("tlf")
    if not isinstance(shell, dict):
        raise ConfigError(f"{ctx.specs_dir / 'tlf.yaml'}: expected a mapping at the top level")
    return shell


def build_sections(ctx: StudyContext) -> list[Section]:
    """Every section of the report, in reading order.

    >>> import tempfile
    >>> ctx = StudyContext.create("iscalimab-ln", outputs=Path(tempfile.mkdtemp()))
    >>> [(s.key, s.status) for s in build_sections(ctx)][:3]
    [('run', 'ok'), ('ledger', 'not run'), ('quarantine', 'not run')]
    """
    out = ctx.outputs_dir
    return [
        section_run_summary(ctx.design, out, ctx.ingest_dir / "manifest.json"),
        section_ledger(ctx.ledger_path),
        section_quarantine(ctx.quarantine_dir),
        section_findings(ctx.validation_dir),
        section_ard(ctx.ard_dir, load_tlf_shell(ctx), ctx.tlf_dir),
        section_submission(ctx.submission_dir),
    ]


def render_report(sections: list[Section], study_id: str, study_title: str) -> str:
    """The report HTML (jinja2 with autoescape on, so data values can never inject markup).

    >>> from pipeline.report.sections import Section
    >>> html = render_report([Section("x", "X", "ok", "f", summary=[("Value", "<b>")])], "S1", "T")
    >>> "&lt;b&gt;" in html and "<b>" not in html
    True
    """
    environment = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                              undefined=StrictUndefined, keep_trailing_newline=True)
    template = environment.get_template("dq_report.html.j2")
    return template.render(sections=sections, study_id=study_id, study_title=study_title)


def run(ctx: StudyContext) -> None:
    """Write ``reports/dq_report.html`` from the outputs present (missing ones say "not run")."""
    sections = build_sections(ctx)
    study = ctx.design.get("study", {}) if isinstance(ctx.design, dict) else {}
    html = render_report(sections, str(study.get("studyid") or ctx.study), " ".join(str(study.get("title", "")).split()))
    path = write_text_atomic(ctx.reports_dir / REPORT_NAME, html)
    states = ", ".join(f"{s.key}: {s.status}" for s in sections)
    log.info("data-quality report %s (%s)", path, states)
