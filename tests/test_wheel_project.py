"""Installed from a wheel, the CLI runs a user's own project (--project DIR) with the standards inside the wheel.

The wheel is built from a copy of the sources, unpacked (what `pip install` does, without resolving
dependencies: they come from this interpreter's environment) and run from a working directory
outside the repository on a copy of tests/data/studies/drugx-edc that has no specs/standards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "data" / "studies" / "drugx-edc"


def test_wheel_runs_a_project_folder_with_its_bundled_standards(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    shutil.copytree(REPO / "pipeline", source / "pipeline", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "specs" / "standards", source / "specs" / "standards")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("cdisc_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "pipeline/standards/bundled/sdtmig-3.4-variables.tsv" in names
    assert "pipeline/standards/bundled/units.yaml" in names and "pipeline/sdtm/mapping/engine.py" in names
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)

    project = tmp_path / "my-project"
    for part in ("specs", "mappings", "raw"):
        shutil.copytree(FIXTURE / part, project / part)
    assert not (project / "specs" / "standards").exists()
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed), "COLUMNS": "300"}
    where = subprocess.run([sys.executable, "-c", "import pipeline, pipeline.standards as s; print(pipeline.__file__);"
                            "print(s.standards_home())"], cwd=cwd, env=env, capture_output=True, text=True)
    assert where.stdout.split() == [str(installed / "pipeline" / "__init__.py"),
                                    str(installed / "pipeline" / "standards" / "bundled")]
    for stage in (["sdtm", "--raw", str(project / "raw")], ["validate"]):
        done = subprocess.run([sys.executable, "-m", "pipeline", *stage, "--project", str(project), "--study", "drugx-edc"],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    outputs = project / "outputs" / "drugx-edc"
    dm = pd.read_parquet(outputs / "sdtm" / "dm.parquet")
    assert len(dm) == 16 and set(dm["SEX"]) == {"F", "M"}
    findings = pd.read_parquet(outputs / "validation" / "findings.parquet")
    # warnings only, each true of the fixture: no seriousness criteria or body system codes on the CRF,
    # subject 01-004 dosed in another arm than planned, one AE ending after the last dose
    assert set(findings["rule_id"]) == {"CG0042", "CG0082", "FB2501", "FB2502", "FB3407"}
    assert set(findings["severity"]) == {"warning"}
