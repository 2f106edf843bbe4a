"""All spec problems of a run come together, one `file:line: ...` line each (exit 2), not one per run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parents[1] / "data" / "studies" / "drugx-edc"
STUDY = "drugx-edc"


def broken_project(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    for relative, (old, new) in edits.items():
        path = root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, (relative, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return root


def line_number(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args, "--project", str(root), "--study", STUDY],
                          cwd=root, capture_output=True, text=True, timeout=120)


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    text = " ".join((done.stdout + done.stderr).split())   # the console wraps long lines
    return [part.strip() for part in text.split("error:")[1:]]


def test_specs_check_reports_problems_of_four_files_in_one_run(tmp_path):
    root = broken_project(tmp_path, {
        "specs/drugx-edc/study.yaml": ("treatment_epoch_tail_days: 7", "treatment_epoch_tail_days: seven"),
        "specs/drugx-edc/datasets.yaml": ("      AGE: {origin: Derived}", "      AGEX: {origin: Derived}"),
        "specs/drugx-edc/adam.yaml": ('filter: "notna(ARMCD)"', 'filter: "notna(ARMCD) and"'),
        "specs/drugx-edc/tlf.yaml": ("method: categorical_summary, variable: SEX", "method: tabulate, variable: SEX"),
    })
    specs = root / "specs" / STUDY
    done = run(root, "specs-check")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = error_lines(done)
    expected = [
        f"study.yaml:{line_number(specs / 'study.yaml', 'treatment_epoch_tail_days')}: treatment_epoch_tail_days: expected a whole number",
        f"datasets.yaml:{line_number(specs / 'datasets.yaml', 'AGEX')}: DM.AGEX: not a DM variable of the standard",
        f"adam.yaml:{line_number(specs / 'adam.yaml', 'notna(ARMCD) and')}: dataset ADSL: source filter:",
        f"tlf.yaml:{line_number(specs / 'tlf.yaml', 'method: tabulate')}: outputs.t_demog.rows[SEX]: unknown method 'tabulate'",
    ]
    for needle in expected:
        assert sum(needle in line for line in lines) == 1, (needle, lines)
    assert len(lines) == 4


def test_sdtm_reports_study_sites_and_mapping_problems_in_one_run(tmp_path):
    root = broken_project(tmp_path, {
        "specs/drugx-edc/study.yaml": ("quarantine_gate: {max_share: 0.05, min_rows: 5}", "quarantine_gate: 5%"),
        "mappings/drugx-edc/sites.yaml": ('"02": {date_formats: ["%d %b %Y"]}', '"02": {date_format: ["%d %b %Y"]}'),
        "mappings/drugx-edc/ae.yaml": ("AETERM: {assign: Reported Term}", "AETERM: {asign: Reported Term}"),
    })
    done = run(root, "sdtm", "--raw", str(root / "raw"))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = error_lines(done)
    assert any("study.yaml:" in line and "quarantine_gate" in line for line in lines), lines
    assert any("sites.yaml:" in line and "date_format" in line for line in lines), lines
    assert any("ae.yaml:" in line and "asign" in line for line in lines), lines
    assert len(lines) == 3
