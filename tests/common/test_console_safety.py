"""Data never becomes console markup or terminal control; every failure is one line with its exit code."""
from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
import typer

from pipeline.cli import _run_stage
from pipeline.common.errors import EXIT_BAD_INPUT, EXIT_INTERNAL_ERROR
from pipeline.common.io import write_csv_atomic
from pipeline.common.study import PROJECT_ROOT


def _cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *arguments], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, errors="surrogateescape", timeout=300)


@pytest.fixture(scope="module")
def raw_copy(tmp_path_factory, simulated):
    folder = tmp_path_factory.mktemp("raw") / "raw"
    shutil.copytree(simulated.raw_dir, folder)
    return folder


@pytest.mark.parametrize("header", ["[/x]subject_no", "subject\x1b[2J\x07_no", "[bold red]subject_no[/]"])
def test_a_hostile_raw_header_is_shown_as_text_in_one_line(raw_copy, tmp_path, header):
    raw = tmp_path / "raw"
    shutil.copytree(raw_copy, raw)
    export = raw / "site_402" / "ae.csv"
    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    first = lines[0].split(",")
    first[0] = header
    export.write_text(",".join(first) + "".join(lines[1:]), encoding="utf-8")
    done = _cli("sdtm", "--raw", str(raw), "--outputs", str(tmp_path / "out"))
    assert done.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in done.stderr and "\x1b" not in done.stderr + done.stdout and "\x07" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "site_402/ae.csv" in errors[0]
    logged = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out" / "logs").glob("*.log"))
    assert "\x1b" not in logged


def test_outputs_pointing_at_a_file_is_one_line(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    done = _cli("validate", "--outputs", str(target))
    assert done.returncode == EXIT_BAD_INPUT
    assert done.stderr.strip() == f"error: --outputs {target}: is a file, not a folder"


def test_a_bug_is_one_line_exit_3_with_the_traceback_in_the_log(tmp_path, monkeypatch, capsys):
    module = types.ModuleType("pipeline_test_boom")
    module.run = lambda ctx: {}["missing key"]
    monkeypatch.setitem(sys.modules, "pipeline_test_boom", module)
    with pytest.raises(typer.Exit) as stopped:
        _run_stage("boom", "pipeline_test_boom", "iscalimab-ln", None, tmp_path / "out", False)
    assert stopped.value.exit_code == EXIT_INTERNAL_ERROR
    shown = capsys.readouterr().err
    errors = [line for line in shown.splitlines() if line.startswith("internal error:")]
    assert len(errors) == 1 and errors[0].startswith("internal error: in stage boom: KeyError: 'missing key' (details: ")
    assert "Traceback" not in shown
    log = next((tmp_path / "out" / "logs").glob("*-boom.log")).read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and "KeyError: 'missing key'" in log


def test_every_csv_cell_that_a_spreadsheet_would_run_is_neutralised(tmp_path):
    frame = pd.DataFrame({"value": ["=HYPERLINK(\"http://x\")", "+1+1", "-P10D", "@SUM(A1)", "\tx", "-2.8", "ok"],
                          "n": [1, 2, 3, 4, 5, 6, 7]})
    text = write_csv_atomic(tmp_path / "checks.csv", frame).read_text(encoding="utf-8")
    cells = [line.split(",", 1)[0].strip('"') for line in text.splitlines()[1:]]
    assert cells == ["'=HYPERLINK(\"\"http://x\"\")", "'+1+1", "'-P10D", "'@SUM(A1)", "'\tx", "-2.8", "ok"]


def test_no_csv_of_a_run_starts_a_cell_with_a_formula(tables_built):
    """Every CSV the stages wrote (findings, rules, truth, ...) read back: no unneutralised formula cell."""
    risky = []
    for path in sorted(Path(tables_built.outputs_dir).rglob("*.csv")):
        if "raw" in path.relative_to(tables_built.outputs_dir).parts[:1] and "_truth" not in path.parts:
            continue  # simulated site exports imitate what sites send; they are inputs, not our outputs
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in frame.columns:
            bad = frame[column].str.match(r"^[=+@\t\r]|^-(?![0-9.])", na=False)
            risky += [f"{path.name}:{column}:{v}" for v in frame.loc[bad, column].head(2)]
    assert risky == []
