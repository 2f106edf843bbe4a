"""A tiny hand-made study for validation tests: specs in a temporary project root, clean SDTM frames."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from pipeline.common.study import PROJECT_ROOT, StudyContext
from pipeline.standards.study import StudyMetadata, load_study_metadata

TINY_STUDY = """
study: {studyid: TINY01, slug: tiny, start_date: "2024-01-01", completion_date: "2024-12-31"}
arms:
  - {armcd: DRUG, arm: Drug, extrt: DRUGX}
  - {armcd: PBO, arm: Placebo, extrt: PLACEBO}
screen_failure: {armcd: SCRNFAIL, arm: Screen Failure}
epochs: [SCREENING, TREATMENT, FOLLOW-UP]
visits:
  - {visitnum: 1, visit: SCREENING}
  - {visitnum: 2, visit: DAY 1}
  - {visitnum: 3, visit: WEEK 4}
eligibility: {age: [18, 75], upcr_min_mg_mg: 0.5}
validation: {gate: error}
"""

TINY_DATASETS = """
standards: {sdtm: SDTMIG 3.4, ct: "2025-03-28"}
codelists:
  ARMCD: {extensible: false, from_study: [arms.armcd, screen_failure.armcd]}
  STUDYEPOCH: {extensible: false, from_study: [epochs]}
datasets:
  DM:
    include_standard: none
    variables:
      STUDYID: {}
      DOMAIN: {}
      USUBJID: {length: 12}
      SUBJID: {}
      RFSTDTC: {}
      RFXSTDTC: {}
      RFXENDTC: {}
      DTHDTC: {}
      SITEID: {}
      AGE: {}
      SEX: {}
      ARMCD: {codelist: ARMCD}
      COUNTRY: {}
  AE:
    include_standard: none
    variables:
      STUDYID: {}
      DOMAIN: {}
      USUBJID: {}
      AESEQ: {}
      AETERM: {}
      AEDECOD: {}
      AESEV: {}
      AESER: {}
      AESHOSP: {}
      EPOCH: {codelist: STUDYEPOCH}
      AESTDTC: {}
      AEENDTC: {}
      AESTDY: {}
      AEENDY: {}
  EX:
    include_standard: none
    variables:
      STUDYID: {}
      DOMAIN: {}
      USUBJID: {}
      EXSEQ: {}
      EXTRT: {}
      EPOCH: {codelist: STUDYEPOCH}
      EXSTDTC: {}
      EXSTDY: {}
  LB:
    include_standard: none
    keys: [STUDYID, USUBJID, LBTESTCD, VISITNUM]
    variables:
      STUDYID: {}
      DOMAIN: {}
      USUBJID: {}
      LBSEQ: {}
      LBTESTCD: {}
      LBTEST: {}
      LBORRES: {}
      LBORRESU: {}
      LBSTRESC: {}
      LBSTRESN: {}
      LBSTRESU: {}
      VISITNUM: {}
      VISIT: {}
      EPOCH: {codelist: STUDYEPOCH}
      LBDTC: {}
      LBDY: {}
"""

TINY_EXPECTATIONS = """
rules: {}
expectations:
  - id: ISL-0201
    title: Age within the inclusion range
    dataset: DM
    filter: {ARMCD: $study:arms.armcd}
    expectation: expect_column_values_to_be_between
    kwargs: {column: AGE, min_value: $study:eligibility.age.0, max_value: $study:eligibility.age.1}
    severity: error
    message: "AGE {value} is outside {min_value}-{max_value}"
"""


def write_project(root: Path, study: str = "tiny", study_yaml: str = TINY_STUDY, datasets_yaml: str = TINY_DATASETS,
                  expectations_yaml: str | None = TINY_EXPECTATIONS) -> Path:
    """A temporary project root: specs/standards links to the real standards, specs/<study>/ is given."""
    specs = root / "specs"
    (specs / study).mkdir(parents=True, exist_ok=True)
    standards = specs / "standards"
    if not standards.exists():
        os.symlink(PROJECT_ROOT / "specs" / "standards", standards)
    (specs / study / "study.yaml").write_text(textwrap.dedent(study_yaml), encoding="utf-8")
    (specs / study / "datasets.yaml").write_text(textwrap.dedent(datasets_yaml), encoding="utf-8")
    if expectations_yaml is not None:
        (specs / study / "expectations.yaml").write_text(textwrap.dedent(expectations_yaml), encoding="utf-8")
    return root


def clean_sdtm() -> dict[str, pd.DataFrame]:
    """Three subjects, conformant to the tiny spec (no finding expected)."""
    dm = pd.DataFrame({
        "STUDYID": ["TINY01"] * 3, "DOMAIN": ["DM"] * 3,
        "USUBJID": ["TINY01-001", "TINY01-002", "TINY01-003"], "SUBJID": ["001", "002", "003"],
        "RFSTDTC": ["2024-02-01", "2024-02-03", None], "RFXSTDTC": ["2024-02-01", "2024-02-03", None],
        "RFXENDTC": ["2024-03-01", "2024-03-03", None], "DTHDTC": [None, "2024-06-01", None],
        "SITEID": ["01", "01", "02"], "AGE": [34.0, 51.0, 80.0], "SEX": ["F", "M", "F"],
        "ARMCD": ["DRUG", "PBO", "SCRNFAIL"], "COUNTRY": ["DEU", "FRA", "USA"],
    })
    ae = pd.DataFrame({
        "STUDYID": ["TINY01"] * 3, "DOMAIN": ["AE"] * 3,
        "USUBJID": ["TINY01-001", "TINY01-001", "TINY01-002"], "AESEQ": [1.0, 2.0, 1.0],
        "AETERM": ["Headache", "Nausea", "Rash"], "AEDECOD": ["Headache", "Nausea", "Rash"],
        "AESEV": ["MILD", "MODERATE", "SEVERE"], "AESER": ["N", "N", "Y"], "AESHOSP": [None, None, "Y"],
        "EPOCH": ["TREATMENT", "TREATMENT", "TREATMENT"],
        "AESTDTC": ["2024-02-05", "2024-02", "2024-02-10T08:30"], "AEENDTC": ["2024-02-07", None, "2024-02-12"],
        "AESTDY": [5.0, None, 8.0], "AEENDY": [7.0, None, 10.0],
    })
    ex = pd.DataFrame({
        "STUDYID": ["TINY01"] * 4, "DOMAIN": ["EX"] * 4,
        "USUBJID": ["TINY01-001", "TINY01-001", "TINY01-002", "TINY01-002"], "EXSEQ": [1.0, 2.0, 1.0, 2.0],
        "EXTRT": ["DRUGX", "DRUGX", "PLACEBO", "PLACEBO"], "EPOCH": ["TREATMENT"] * 4,
        "EXSTDTC": ["2024-02-01", "2024-03-01", "2024-02-03", "2024-03-03"], "EXSTDY": [1.0, 30.0, 1.0, 30.0],
    })
    lb = pd.DataFrame({
        "STUDYID": ["TINY01"] * 4, "DOMAIN": ["LB"] * 4,
        "USUBJID": ["TINY01-001", "TINY01-001", "TINY01-002", "TINY01-002"], "LBSEQ": [1.0, 2.0, 1.0, 2.0],
        "LBTESTCD": ["PROTCRT"] * 4, "LBTEST": ["Protein/Creatinine"] * 4,
        "LBORRES": ["1.2", "0.8", "<0.1", "2.5"], "LBORRESU": ["g/g"] * 4,
        "LBSTRESC": ["1.2", "0.8", "<0.1", "2.5"], "LBSTRESN": [1.2, 0.8, None, 2.5], "LBSTRESU": ["g/g"] * 4,
        "VISITNUM": [1.0, 3.0, 1.0, 3.0], "VISIT": ["SCREENING", "WEEK 4", "SCREENING", "WEEK 4"],
        "EPOCH": ["SCREENING", "TREATMENT", "SCREENING", "TREATMENT"],
        "LBDTC": ["2024-01-20", "2024-02-29", "2024-01-22", "2024-03-02"], "LBDY": [-12.0, 29.0, -12.0, 29.0],
    })
    return {"DM": dm, "AE": ae, "EX": ex, "LB": lb}


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")


@pytest.fixture
def tiny_ctx(tiny_root: Path, tmp_path: Path) -> StudyContext:
    return StudyContext.create("tiny", outputs=tmp_path / "out", root=tiny_root, gx_docs=False)


@pytest.fixture(scope="session")
def tiny_meta(tmp_path_factory: pytest.TempPathFactory) -> StudyMetadata:
    root = write_project(tmp_path_factory.mktemp("tinymeta"))
    return load_study_metadata(root / "specs" / "tiny", root / "specs" / "standards")


def write_sdtm(ctx: StudyContext, datasets: dict[str, pd.DataFrame]) -> None:
    ctx.sdtm_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in datasets.items():
        frame.to_parquet(ctx.sdtm_dir / f"{name.lower()}.parquet", index=False)
