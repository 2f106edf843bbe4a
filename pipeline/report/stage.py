"""Stage ``report``: one self-contained HTML data-quality review report for data managers.

Reads whatever the earlier stages left under the study outputs (ingest manifest, ledger,
quarantine, validation findings, GX Data Docs, ARD, submission manifest) and writes
``reports/dq_report.html``: no external assets, every data value escaped, no timestamp, so the
same inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.analysis.shell import load_shell
from pipeline.common.io import write_text_atomic
from pipeline.common.logs import get_logger
from pipeline.common.study import StudyContext
from pipeline.report.history import rotate_history
from pipeline.report.queries import write_queries_csv
from pipeline.report.review import (QUERIES_CSV, current_snapshot, load_review_inputs, section_changes,
                                     section_pictures, section_queries, section_site_quality)
from pipeline.report.sections import (Section, section_ard, section_findings, section_ledger, section_quarantine,
                                      section_run_summary, section_submission)

log = get_logger("report")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
REPORT_NAME = "dq_report.html"


def build_sections(ctx: StudyContext, previous: Path | None = None, keep_history: bool = False) -> list[Section]:
    """Every section of the report, in reading order.

    ``previous`` is a previous run's outputs (or history) folder to compare with; without it the
    report compares with the run it kept under ``reports/history/`` (``keep_history`` rotates that
    copy: the report stage does, a dry build does not).

    >>> import tempfile
    >>> ctx = StudyContext.create("iscalimab-ln", outputs=Path(tempfile.mkdtemp()))
    >>> [(s.key, s.status) for s in build_sections(ctx)][:4]
    [('run', 'ok'), ('ledger', 'not run'), ('sites', 'not run'), ('queries', 'not run')]
    """
    out = ctx.outputs_dir
    inputs = load_review_inputs(out)
    queries_section, queries = section_queries(inputs)
    if keep_history and (inputs.findings is not None or len(inputs.quarantine)):
        write_queries_csv(queries, ctx.reports_dir / QUERIES_CSV)
    kept = ctx.reports_dir / "history" / "previous"
    if keep_history and inputs.findings is not None:  # keep this run for the next comparison
        ledger_text = ctx.ledger_path.read_text(encoding="utf-8") if ctx.ledger_path.exists() else ""
        rotate_history(ctx.reports_dir, current_snapshot(inputs), ledger_text)
    baseline = previous if previous is not None else (kept if (kept / "findings.csv").exists() else None)
    where = str(previous) if previous is not None else "reports/history/previous/"
    shell = load_shell(ctx.specs_dir) if (ctx.specs_dir / "tlf.yaml").exists() else None
    return [
        section_run_summary(ctx.design, out, ctx.ingest_dir / "manifest.json"),
        section_ledger(ctx.ledger_path),
        section_site_quality(inputs),
        queries_section,
        section_changes(inputs.findings, inputs.ledger, baseline, where),
        section_pictures(out, inputs),
        section_quarantine(ctx.quarantine_dir),
        section_findings(ctx.validation_dir),
        section_ard(ctx.ard_dir, shell, ctx.tlf_dir),
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


def run(ctx: StudyContext, previous: Path | None = None) -> None:
    """Write ``reports/dq_report.html`` (and ``reports/queries.csv``) from the outputs present.

    ``previous`` (else the ``--previous DIR`` option): a previous run's outputs folder to compare with.
    """
    if previous is None and ctx.options.get("previous"):
        previous = Path(ctx.options["previous"])
    sections = build_sections(ctx, previous=previous, keep_history=True)
    study = ctx.design.get("study", {}) if isinstance(ctx.design, dict) else {}
    html = render_report(sections, str(study.get("studyid") or ctx.study), " ".join(str(study.get("title", "")).split()))
    path = write_text_atomic(ctx.reports_dir / REPORT_NAME, html)
    states = ", ".join(f"{s.key}: {s.status}" for s in sections)
    log.info("data-quality report %s (%s)", path, states)
