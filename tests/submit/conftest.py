"""Fixtures of the submission tests."""

import pytest


@pytest.fixture(scope="session")
def flagship_package(adam_built):
    """The submission package of the flagship study (default seed), SDTM and ADaM."""
    from pipeline.submit.stage import run as run_submission

    run_submission(adam_built)
    return adam_built
