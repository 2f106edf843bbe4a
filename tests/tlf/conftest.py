"""Example study (pipeline.analysis.examples) run through analysis, for rendering tests."""

import pandas as pd
import pytest

from pipeline.analysis.examples import EXAMPLE_DESIGN, example_adam, example_shell
from pipeline.analysis.stage import build_output_ard


@pytest.fixture(scope="session")
def example_shell_():
    return example_shell()


@pytest.fixture(scope="session")
def example_ards(example_shell_):
    adam = example_adam()
    return {output_id: build_output_ard(example_shell_, output_id, EXAMPLE_DESIGN, adam.__getitem__)
            for output_id in example_shell_.outputs}


@pytest.fixture(scope="session")
def long_soc_pt(example_shell_):
    """A SOC/PT table long enough for several pages: 30 body systems x 4 terms."""
    adam = example_adam()
    subjects = adam["adsl"]["USUBJID"].tolist()
    records = []
    for s in range(30):
        for p in range(4):
            for k, subject in enumerate(subjects[: 1 + (s + p) % len(subjects)]):
                records.append({"USUBJID": subject, "TRTEMFL": "Y", "AEBODSYS": f"Body system {s:02d}",
                                "AEDECOD": f"Term {s:02d}-{p}"})
    adam["adae"] = pd.DataFrame(records)
    ard = build_output_ard(example_shell_, "t_teae_soc_pt", EXAMPLE_DESIGN, adam.__getitem__)
    return ard
