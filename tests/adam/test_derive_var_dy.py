import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_var_dy import derive_var_dy
from pipeline.adam.derive_var_dy import derive_vars_dy
from pipeline.common.dates import compute_study_day


@pytest.mark.parametrize("date, expected", [
    ("2024-01-08", -2.0), ("2024-01-09", -1.0), ("2024-01-10", 1.0), ("2024-01-11", 2.0), (None, None),
])
def test_no_day_zero(date, expected):
    out = compute_study_day(pd.to_datetime(pd.Series([date])), pd.to_datetime(pd.Series(["2024-01-10"])))
    assert (pd.isna(out[0]) and expected is None) or out[0] == expected


def test_missing_reference_gives_missing_day():
    out = compute_study_day(pd.to_datetime(pd.Series(["2024-01-10"])), pd.to_datetime(pd.Series([None])))
    assert out.isna().all()


def test_names_follow_source_variables():
    df = pd.DataFrame({"TRTSDT": pd.to_datetime(["2024-01-10"]), "ASTDT": pd.to_datetime(["2024-01-12"]),
                       "ADT": pd.to_datetime(["2024-01-01"])})
    out = derive_vars_dy(df, "TRTSDT", ["ASTDT", "ADT"])
    assert out[["ASTDY", "ADY"]].values.tolist() == [[3.0, -9.0]]
    assert derive_vars_dy(df, "TRTSDT", {"MYDY": "ADT"})["MYDY"].tolist() == [-9.0]


def test_unnamed_day_needs_new_var():
    df = pd.DataFrame({"TRTSDT": pd.to_datetime(["2024-01-10"]), "WHEN": pd.to_datetime(["2024-01-12"])})
    with pytest.raises(DerivationError, match="give new_var"):
        derive_var_dy(df, "TRTSDT", "WHEN")


def test_one_study_day_formula_serves_every_stage():
    """SDTM --DY, ADaM *DY and the conformance check all call pipeline.common.dates.compute_study_day."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "pipeline"
    formulas = [str(p.relative_to(root)) for p in root.rglob("*.py")
                if re.search(r"def (compute_study_day|compute_dy)\b", p.read_text(encoding="utf-8"))]
    assert formulas == ["common/dates.py"]
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if "compute_study_day(" in p.read_text(encoding="utf-8") and p.name != "dates.py")
    assert users == ["adam/derive_var_dy.py", "sdtm/derive_var_dy.py", "validate/conformance.py"]
