"""Golden files: the example study's outputs rendered in every format, compared after normalising.

A change to a golden file is a reviewed change: regenerate with
``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/tlf/test_golden.py`` and read the diff.
"""

import os
import re
from pathlib import Path

import pytest

from pipeline.analysis.ard import write_ard
from pipeline.tlf.stage import FORMATS, render_output

GOLDEN = Path(__file__).resolve().parent / "golden"
OUTPUTS = ["table1", "table2", "t_teae_soc_pt", "t_demog", "l_sae"]


def normalise(text: str) -> str:
    """Line endings unified; any ISO timestamp replaced (our outputs carry none today)."""
    text = text.replace("\r\n", "\n")
    return re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(\.\d+)?Z?", "<TIMESTAMP>", text)


@pytest.fixture(scope="module")
def rendered(example_shell_, example_ards, tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    for output_id in OUTPUTS:
        write_ard(example_ards[output_id], root / "ard", output_id)
        render_output(example_shell_, output_id, root / "ard", root / "tlf")
    return root / "tlf"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("output_id", OUTPUTS)
def test_rendered_output_matches_golden_file(rendered, output_id, fmt):
    actual = normalise((rendered / f"{output_id}.{fmt}").read_text(encoding="utf-8"))
    golden = GOLDEN / f"{output_id}.{fmt}"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"{golden} missing: run with UPDATE_GOLDEN=1 once and review it"
    assert actual == normalise(golden.read_text(encoding="utf-8")), f"{output_id}.{fmt} differs from {golden}"
