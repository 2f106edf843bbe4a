import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_var_pop_flags import derive_var_pop_flags

RULES = {
    "RANDFL": "notna(RANDDT)",
    "SAFFL": "notna(TRTSDT)",
    "FASFL": "RANDFL == 'Y' and SAFFL == 'Y'",
    "PPROTFL": "FASFL == 'Y' and MAJDVFL != 'Y'",
}


def test_flags_are_y_or_n_never_missing_and_can_chain():
    adsl = pd.DataFrame({
        "RANDDT": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
        "TRTSDT": pd.to_datetime(["2024-01-03", None, None]),
        "MAJDVFL": [None, None, "Y"],
    })
    out = derive_var_pop_flags(adsl, RULES)
    assert out[list(RULES)].values.tolist() == [["Y", "Y", "Y", "Y"], ["Y", "N", "N", "N"], ["N", "N", "N", "N"]]


def test_rule_with_unknown_variable_is_named():
    with pytest.raises(DerivationError, match="rule SAFFL: expression 'notna\\(TRTSDTM\\)': unknown variable TRTSDTM"):
        derive_var_pop_flags(pd.DataFrame({"TRTSDT": [None]}), {"SAFFL": "notna(TRTSDTM)"})
