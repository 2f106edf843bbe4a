"""A stage that dies leaves the previous outputs (or none), never a mix that looks finished.

Each case copies one complete run of the flagship (default size, built once per module), kills a
stage in a subprocess with SIGKILL (deterministically through PIPELINE_FAULT_AFTER_WRITES, read by
the atomic writers of pipeline/common/io.py, and once on a timer), and checks that every file
outside the staging area has the same bytes as before, that no ``.tmp`` orphan is visible, that the
stage's marker and the later ones are gone, and that a rerun rebuilds byte-identical outputs.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.common.io import FAULT_ENV
from pipeline.common.staging import MARKER_ORDER, OWNED, marker_path, owned_paths, staged_run, write_marker
from pipeline.common.study import StudyContext

SKIP = {"logs", ".done", ".lock", ".staging"}
SENTINEL = "zz-previous-run.txt"


def snapshot(out: Path) -> dict[str, str]:
    """sha256 of every output file, leaving out logs and the crash-consistency bookkeeping."""
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.relative_to(out).parts[0] not in SKIP}


def visible_temporaries(out: Path) -> list[str]:
    return [p.relative_to(out).as_posix() for p in out.rglob("*.tmp") if ".staging" not in p.relative_to(out).parts]


def cli(stage: str, out: Path, *extra: str, fault: int | None = None) -> subprocess.Popen:
    """The stage in its own process group (so a kill reaches the validate stage's GX worker too)."""
    env = {**os.environ, "COLUMNS": "1000"}
    env.pop(FAULT_ENV, None)
    if fault is not None:
        env[FAULT_ENV] = str(fault)
    return subprocess.Popen([sys.executable, "-m", "pipeline", stage, "--outputs", str(out), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def finish(proc: subprocess.Popen, kill_after: float | None = None) -> str:
    """Wait for the stage (or SIGKILL its group after ``kill_after`` s), reap any worker left, return stderr."""
    try:
        _, stderr = proc.communicate(timeout=kill_after if kill_after is not None else 600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # a worker outliving a killed stage
    except ProcessLookupError:
        pass
    return stderr


@pytest.fixture(scope="module")
def reference(tables_built: StudyContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete run with every completion marker: the session's flagship plus validate, submission, report."""
    from pipeline.report.stage import run as report
    from pipeline.submit.stage import run as submission
    from pipeline.validate.stage import run as validate

    out = tmp_path_factory.mktemp("crash") / "reference"
    shutil.copytree(tables_built.outputs_dir, out, symlinks=True)
    ctx = StudyContext.create(tables_built.study, outputs=out)
    for marker, stage in (("simulate", "simulate"), ("sdtm", "sdtm"), ("validate-sdtm", "validate"), ("adam", "adam")):
        write_marker(out, marker, list(owned_paths(ctx, stage).values()))
    with staged_run(ctx, "validate") as staged:  # the pass after adam, as make runs it
        validate(staged)
    write_marker(out, "tables", list(owned_paths(ctx, "tables").values()))
    for name, run in (("submission", submission), ("report", report)):
        with staged_run(ctx, name) as staged:
            run(staged)
    assert all(marker_path(out, m).exists() for m in MARKER_ORDER)
    return out


def copy_reference(reference: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(reference, out, symlinks=True)
    return out


# stage, deterministic kill points (kill once the N-th file is written), seconds for a timer kill, and
# whether to rerun it and compare with the reference (skipped for the slowest stages to keep the file
# short; `make all OUT=DIR` twice is checked by hand, see the README)
CASES = [
    ("simulate", [2], None, True),
    ("sdtm", [1], 4.0, False),
    ("validate", [2], 6.0, False),
    ("adam", [1, 3], None, True),
    ("tables", [2, 7], None, True),
    ("submission", [3], None, False),
    ("report", [1], None, True),
]


@pytest.mark.parametrize(("stage", "kill_points", "timer", "rebuild"), CASES, ids=[c[0] for c in CASES])
def test_killed_stage_leaves_previous_outputs_then_rebuilds_identically(reference, tmp_path, stage, kill_points,
                                                                        timer, rebuild):
    out = copy_reference(reference, tmp_path)
    ctx = StudyContext.create("iscalimab-ln", outputs=out)
    for path in owned_paths(ctx, stage).values():  # a file this run will not write: must stay until the swap
        if path.is_dir():
            (path / SENTINEL).write_text("previous run\n")
    before = snapshot(out)
    marker = "validate-adam" if stage == "validate" else stage
    kills = [("fault", n) for n in kill_points] + ([("timer", timer)] if timer else [])
    for kind, value in kills:
        if kind == "fault":
            proc = cli(stage, out, fault=value)
            finish(proc)
        else:
            proc = cli(stage, out)
            finish(proc, kill_after=value)
        assert proc.returncode == -signal.SIGKILL, f"{stage} {kind} {value} was not killed"
        assert snapshot(out) == before, f"{stage} killed ({kind} {value}) changed the visible outputs"
        assert visible_temporaries(out) == []
        position = MARKER_ORDER.index(marker)
        assert [m for m in MARKER_ORDER if marker_path(out, m).exists()] == list(MARKER_ORDER[:position])
    if not rebuild:
        return
    proc = cli(stage, out)
    stderr = finish(proc)
    assert proc.returncode == 0, stderr
    assert snapshot(out) == snapshot(reference)  # sentinels gone, every other file byte-identical
    assert visible_temporaries(out) == [] and not (out / ".staging" / stage).exists()
    assert marker_path(out, marker).exists()


def test_killed_first_simulation_leaves_no_raw_folder(tmp_path):
    out = tmp_path / "out"
    proc = cli("simulate", out, "--subjects", "12", fault=3)
    finish(proc)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "raw").exists() and not marker_path(out, "simulate").exists()
    assert visible_temporaries(out) == []


def test_rerun_without_a_site_leaves_nothing_of_it_in_quarantine(reference, tmp_path):
    out = copy_reference(reference, tmp_path)
    flagged = pd.concat([pd.read_parquet(p) for p in sorted((out / "quarantine" / "flagged").glob("*.parquet"))])
    site = flagged["file"].astype(str).str.split("/").str[0].value_counts().index[0]
    shutil.rmtree(out / "raw" / site)
    before = snapshot(out)

    proc = cli("sdtm", out, fault=5)  # the new run differs from the old one: a mix would show
    finish(proc)
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(out) == before and visible_temporaries(out) == []

    proc = cli("sdtm", out)
    stderr = finish(proc)
    assert proc.returncode == 0, stderr
    for path in (out / "quarantine").rglob("*.parquet"):
        files = pd.read_parquet(path)["file"].astype(str) if path.stat().st_size else pd.Series(dtype=str)
        assert not files.str.startswith(f"{site}/").any(), f"{path} still holds rows of {site}"
    assert marker_path(out, "sdtm").exists() and not marker_path(out, "validate-sdtm").exists()


def test_second_run_on_the_same_outputs_is_refused_naming_folder_and_pid(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write("4242\n")
        handle.flush()
        proc = cli("report", out)
        stderr = finish(proc)
    assert proc.returncode == 2
    lines = [line for line in stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and str(out) in lines[0] and "pid 4242" in lines[0] and "Traceback" not in stderr


def test_stage_refuses_when_a_stage_it_reads_has_not_completed(tmp_path):
    out = tmp_path / "out"
    (out / ".done").mkdir(parents=True)
    proc = cli("tables", out)
    stderr = finish(proc)
    assert proc.returncode == 2
    assert "stage tables needs stage adam to have completed: run make adam" in stderr
    assert "Traceback" not in stderr


def test_every_stage_owns_paths_of_the_context():
    ctx = StudyContext.create("iscalimab-ln")
    owned = [getattr(ctx, attribute) for attributes in OWNED.values() for attribute in attributes]
    assert len(owned) == len(set(owned))
