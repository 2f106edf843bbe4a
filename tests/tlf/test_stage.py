"""The tables stage end to end on the example ADaM: files, determinism, CLI exit codes."""

import json
import os
import subprocess
import sys

import pytest

from pipeline.analysis.examples import EXAMPLE_DESIGN, example_adam
from pipeline.common.io import write_parquet_atomic
from pipeline.common.study import StudyContext

CONTRACT_OUTPUTS = ["table1", "table2", "t_demog", "t_teae_soc_pt", "l_sae"]


@pytest.fixture()
def example_ctx(tmp_path, monkeypatch):
    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / "out")
    for name, frame in example_adam().items():
        write_parquet_atomic(ctx.adam_dir / f"{name}.parquet", frame)
    monkeypatch.setitem(ctx.__dict__, "design", EXAMPLE_DESIGN)  # arms of the example study
    return ctx


def test_stage_writes_ard_and_three_formats_per_output(example_ctx):
    from pipeline.tlf.stage import run

    run(example_ctx)
    analyses = json.loads((example_ctx.ard_dir / "analyses.json").read_text())
    assert [entry["output_id"] for entry in analyses] == ["table1", "table2", "table2_study", "t_upcr_mmrm",
                                                         "t_teae_soc_pt", "t_demog", "l_sae", "l_anlexcl"]
    assert analyses[0]["analyses"][0]["where"]["PARAMCD"] == "LUPCR"
    for output_id in CONTRACT_OUTPUTS:
        assert (example_ctx.ard_dir / f"{output_id}.parquet").exists()
        assert (example_ctx.ard_dir / f"{output_id}.json").exists()
        assert f'href="{output_id}.rtf"' in (example_ctx.tlf_dir / "index.html").read_text()
        for fmt in ("html", "rtf", "txt"):
            assert (example_ctx.tlf_dir / f"{output_id}.{fmt}").stat().st_size > 0


def test_stage_reruns_are_byte_identical(example_ctx):
    from pipeline.tlf.stage import run

    run(example_ctx)
    files = sorted(p for p in example_ctx.outputs_dir.rglob("*") if p.is_file() and "logs" not in p.parts)
    first = {p: p.read_bytes() for p in files}
    run(example_ctx)
    assert {p: p.read_bytes() for p in files} == first


def test_cli_tables_without_adam_exits_2_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline", "tables", "--outputs", str(tmp_path / "out")],
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "400"})
    assert result.returncode == 2
    assert "adsl.parquet" in result.stderr and "not found" in result.stderr
    assert "Traceback" not in result.stderr
