"""Every defect class the simulator injects is quarantined by the SDTM stage or found by validation.

Uses the session fixture ``validated`` (simulate -> sdtm -> validate on the default study); skipped
while the simulator or the SDTM stage is not available.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.validate.traceability import findings_with_raw_source

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not (ROOT / "pipeline" / "sdtm" / "stage.py").exists() or not (ROOT / "pipeline" / "simulate" / "stage.py").exists(),
    reason="needs pipeline/simulate/stage.py and pipeline/sdtm/stage.py",
)


@pytest.fixture(scope="module")
def handled(validated) -> pd.DataFrame:
    ctx = validated
    defects = pd.read_csv(ctx.truth_dir / "defects.csv", dtype={"row": "Int64"})
    quarantine_files = sorted(ctx.quarantine_dir.glob("*.parquet"))
    quarantine = pd.concat([pd.read_parquet(p, columns=["file", "row"]) for p in quarantine_files]) \
        if quarantine_files else pd.DataFrame(columns=["file", "row"])
    quarantined = set(zip(quarantine["file"].astype(str), pd.to_numeric(quarantine["row"]).astype(int)))
    findings = pd.read_parquet(ctx.validation_dir / "findings.parquet")
    traced = findings_with_raw_source(findings, ctx.sdtm_dir, ctx.lineage_dir).dropna(subset=["source_file"])
    found = set(zip(traced["source_file"].astype(str), traced["source_row"].astype(int)))
    keys = list(zip(defects["file"].astype(str), defects["row"].astype(int)))
    return defects.assign(quarantined=[k in quarantined for k in keys], found=[k in found for k in keys])


def test_every_defect_class_is_quarantined_or_found(handled: pd.DataFrame) -> None:
    per_class = handled.assign(ok=handled["quarantined"] | handled["found"]).groupby("defect_class")["ok"].all()
    assert per_class[~per_class].index.tolist() == []


def test_defects_meant_to_be_flagged_are_found_by_validation(handled: pd.DataFrame) -> None:
    flagged = handled[handled["expected_handling"] == "flag"]
    assert len(flagged) > 0
    assert flagged.loc[~flagged["found"], ["defect_class", "file", "row"]].values.tolist() == []


def test_injected_ae_defects_are_reported_with_their_rules(validated) -> None:
    findings = pd.read_parquet(validated.validation_dir / "findings.parquet")
    ae = findings[findings["dataset"] == "AE"]
    assert (ae["rule_id"] == "FB3209").sum() == 2        # two AEs ending before they start
    assert ae.loc[ae["rule_id"] == "ISL-0002", "value"].tolist() == ["VERY BAD", "VERY BAD"]
