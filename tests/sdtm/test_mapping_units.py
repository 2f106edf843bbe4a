"""Unit conversion against hand-computed values (factors and molar masses from specs/standards/units.yaml)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.standards.terminology import load_terminology
from pipeline.sdtm.mapping.units import UnitTable, convert_values

STANDARDS = Path(__file__).resolve().parents[2] / "specs" / "standards"


@pytest.fixture(scope="module")
def units() -> UnitTable:
    return UnitTable.load(STANDARDS / "units.yaml", load_terminology(STANDARDS))


@pytest.mark.parametrize(("value", "unit", "target", "analyte", "expected"), [
    (1.0, "mg/dL", "umol/L", "CREAT", 1 / 113.12 * 1e4),          # 88.40 umol/L (M = 113.12 g/mol)
    (88.4017, "µmol/L", "mg/dL", "CREAT", 88.4017 * 113.12 / 1e4),  # 1.0000 mg/dL
    (95.2, "mg/dL", "mmol/L", "CREAT", 95.2 / 11.312),             # urine creatinine 8.4158 mmol/L
    (8.42, "mmol/L", "mg/dL", "CREAT", 8.42 * 11.312),
    (180.5, "mg/dL", "g/L", "PROT", 1.805),
    (1805, "mg/L", "g/L", "PROT", 1.805),
    (56.56, "mg/mmol", "g/g", "PROTCRT", 0.5),                     # UPCR 0.5 mg/mg = 56.56 mg/mmol
    (512, "mg/g", "g/g", "PROTCRT", 0.512),
    (1.0, "mg/mg", "g/mol", "PROTCRT", 113.12),
    (72, "mg/dL", "g/L", "C3", 0.72),
    (250, "10^3/uL", "10^9/L", "PLAT", 250),
    (250, "G/L", "10^9/L", "PLAT", 250),
    (35, "UI/mL", "IU/mL", "DDNAIGAB", 35),
    (98.6, "F", "C", "TEMP", 37.0),
    (154.3, "LB", "kg", "WEIGHT", 154.3 * 0.45359237),
    (65.0, "in", "cm", "HEIGHT", 165.1),
    (80, "mL/min/1,73 m2", "mL/min/1.73 m2", "GFREI", 80),
])
def test_conversion_matches_hand_computed_value(units, value, unit, target, analyte, expected):
    out, reason = convert_values(pd.Series([value]), pd.Series([unit]), pd.Series([target]), units, pd.Series([analyte]))
    assert reason.tolist() == [None]
    assert out.iloc[0] == pytest.approx(expected, rel=1e-9)


def test_unknown_unit_and_impossible_conversion_get_reasons(units):
    out, reason = convert_values(pd.Series([1.0, 2.0, 3.0]), pd.Series(["mg/dl?", "mg/dL", "mg/dL"]),
                                 pd.Series(["g/L", "mmol/L", "kg"]), units, pd.Series(["PROT", "PROT", "PROT"]))
    assert out.isna().all()
    assert reason.tolist() == ["unknown unit 'mg/dl?'", "cannot convert 'mg/dL' to 'mmol/L' for PROT",
                               "cannot convert 'mg/dL' to 'kg' for PROT"]


def test_unit_spellings_normalise_to_cdisc_submission_values(units):
    assert [units.normalise(u) for u in ["µmol/L", "umol/l", "mg/mmol", "G/L", "g/l", "bpm", "mL/min/1.73m2", "furlong"]] == \
        ["umol/L", "umol/L", "g/mol", "10^9/L", "g/L", "beats/min", "mL/min/1.73 m2", None]
