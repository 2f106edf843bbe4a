"""Session fixtures that run the default study once per test worker, stage by stage.

Each fixture builds on the previous one, so a test asks only for the stage it checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.common.study import StudyContext

DEFAULT_SEED_STUDY = "iscalimab-ln"


@pytest.fixture(scope="session")
def study_ctx(tmp_path_factory: pytest.TempPathFactory) -> StudyContext:
    """A context for the default study whose outputs live in a temporary folder."""
    outputs = tmp_path_factory.mktemp("outputs") / DEFAULT_SEED_STUDY
    return StudyContext.create(DEFAULT_SEED_STUDY, outputs=outputs)


@pytest.fixture(scope="session")
def simulated(study_ctx: StudyContext) -> StudyContext:
    """Raw exports of the default study, default seed and size."""
    from pipeline.simulate.stage import run

    run(study_ctx)
    return study_ctx


@pytest.fixture(scope="session")
def sdtm_built(simulated: StudyContext) -> StudyContext:
    """SDTM, lineage, quarantine and ledger of the default study."""
    from pipeline.sdtm.stage import run

    run(simulated)
    return simulated


@pytest.fixture(scope="session")
def validated(sdtm_built: StudyContext) -> StudyContext:
    """Validation findings for the default study (gate errors are not raised here)."""
    from pipeline.validate.stage import run

    run(sdtm_built, raise_on_gate=False)
    return sdtm_built


@pytest.fixture(scope="session")
def adam_built(sdtm_built: StudyContext) -> StudyContext:
    """ADaM datasets of the default study."""
    from pipeline.adam.stage import run

    run(sdtm_built)
    return sdtm_built


@pytest.fixture(scope="session")
def tables_built(adam_built: StudyContext) -> StudyContext:
    """ARD and rendered tables of the default study."""
    from pipeline.tlf.stage import run

    run(adam_built)
    return adam_built


@pytest.fixture()
def study_root(tmp_path: Path) -> Path:
    """A project root of its own holding a copy of the default study's specs, standards and mappings,
    for tests that edit a spec file (``StudyContext.create(..., root=study_root)``)."""
    import shutil

    from pipeline.common.study import PROJECT_ROOT

    root = tmp_path / "root"
    for folder in (f"specs/{DEFAULT_SEED_STUDY}", "specs/standards", f"mappings/{DEFAULT_SEED_STUDY}"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder)
    return root


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parents[1]
