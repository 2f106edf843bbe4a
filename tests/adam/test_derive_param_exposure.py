import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_param_exposure import derive_param_exposure


@pytest.fixture()
def adex():
    return pd.DataFrame({
        "USUBJID": ["1", "1", "1", "2"], "PARAMCD": ["DOSE"] * 4, "AVAL": [600.0, 600.0, 0.0, 700.0],
        "ASTDT": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-29", "2024-02-01"]),
        "AENDT": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-29", "2024-02-01"]),
    })


def test_total_dose_and_number_of_administrations(adex):
    out = derive_param_exposure(adex, ["USUBJID"], "DOSE", {"PARAMCD": "TOTDOSE"})
    out = derive_param_exposure(out, ["USUBJID"], "DOSE", {"PARAMCD": "NADM"}, summary_fun="count",
                                filter_add="AVAL > 0")
    tot = out[out["PARAMCD"] == "TOTDOSE"]
    assert tot["AVAL"].tolist() == [1200.0, 700.0]
    assert tot["ASTDT"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")]
    assert tot["AENDT"].tolist() == [pd.Timestamp("2024-01-29"), pd.Timestamp("2024-02-01")]
    assert out.loc[out["PARAMCD"] == "NADM", "AVAL"].tolist() == [2.0, 1.0]


def test_unknown_input_code(adex):
    with pytest.raises(DerivationError, match="no record with PARAMCD 'DOSEKG'"):
        derive_param_exposure(adex, ["USUBJID"], "DOSEKG", {"PARAMCD": "TOTDOSKG"})
