"""A stage's process imports only what that stage uses: every stage is its own process, so a heavy
library imported by the CLI or by a stage that does not need it is paid on every run (issue 10,
57 subjects end to end). Each check runs in a fresh interpreter, where ``sys.modules`` is clean."""

from __future__ import annotations

import subprocess
import sys

import pytest

# stage module -> libraries it must not import when loaded (each is imported where it is used:
# great_expectations inside validate, matplotlib when a figure is drawn, dask with --engine dask)
NOT_IMPORTED = {
    "pipeline.cli": ("great_expectations", "pandera", "dask", "distributed", "matplotlib", "scipy", "statsmodels"),
    "pipeline.sdtm.stage": ("great_expectations", "dask", "distributed", "matplotlib", "scipy", "statsmodels"),
    "pipeline.adam.stage": ("great_expectations", "pandera", "dask", "distributed", "matplotlib", "scipy",
                            "statsmodels"),
    "pipeline.tlf.stage": ("great_expectations", "pandera", "dask", "distributed", "matplotlib", "statsmodels"),
    "pipeline.submit.stage": ("great_expectations", "dask", "distributed", "matplotlib", "statsmodels"),
    "pipeline.validate.stage": ("great_expectations", "dask", "distributed", "matplotlib", "statsmodels"),
}


@pytest.mark.parametrize("module", sorted(NOT_IMPORTED))
def test_stage_imports_no_library_it_does_not_use(module):
    code = ("import importlib, sys; import pipeline.cli; importlib.import_module(sys.argv[1]); "
            "print(' '.join(sorted(m for m in sys.argv[2:] if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code, module, *NOT_IMPORTED[module]],
                            capture_output=True, text=True, check=True)
    assert result.stdout.split() == [], f"importing {module} loads {result.stdout.strip()}"


def test_the_check_sees_an_imported_library():
    """The probe itself works: a module that imports pandas is reported as loading it."""
    code = "import sys; import pipeline.cli; print('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"
