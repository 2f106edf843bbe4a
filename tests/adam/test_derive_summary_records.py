import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_summary_records import derive_summary_records


@pytest.fixture()
def items():
    return pd.DataFrame({
        "USUBJID": ["1"] * 3 + ["2"] * 3 + ["3"] * 2,
        "AVISIT": ["BASELINE"] * 8,
        "PARAMCD": ["I1", "I2", "I3"] * 2 + ["I1", "I2"],
        "AVAL": [8.0, 0.0, 4.0, 4.0, None, 2.0, 4.0, 4.0],
    })


def test_total_is_missing_when_any_item_is_missing_or_absent(items):
    out = derive_summary_records(items, ["USUBJID", "AVISIT"], {"PARAMCD": "TOTAL", "PARAMTYP": "DERIVED"},
                                 expected_n=3)
    total = out[out["PARAMCD"] == "TOTAL"]
    assert total["AVAL"].fillna(-1).tolist() == [12.0, -1, -1]
    assert total["PARAMTYP"].unique().tolist() == ["DERIVED"]


def test_without_expected_n_missing_items_are_ignored(items):
    out = derive_summary_records(items, ["USUBJID"], {"PARAMCD": "TOTAL"})
    assert out.loc[out["PARAMCD"] == "TOTAL", "AVAL"].tolist() == [12.0, 6.0, 8.0]


def test_unknown_summary_function_is_named(items):
    with pytest.raises(DerivationError, match="summary function 'product'"):
        derive_summary_records(items, ["USUBJID"], {"PARAMCD": "T"}, summary_fun="product")
