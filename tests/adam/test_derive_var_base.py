import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_var_base import derive_var_base


def test_base_copied_to_every_record_of_the_group_and_missing_without_baseline():
    lb = pd.DataFrame({"USUBJID": ["1", "1", "1", "2"], "PARAMCD": ["UPCR", "UPCR", "EGFR", "UPCR"],
                       "AVAL": [2.0, 1.0, 80.0, 3.0], "ABLFL": ["Y", None, "Y", None]})
    out = derive_var_base(lb, ["USUBJID", "PARAMCD"])
    assert out["BASE"].fillna(-1).tolist() == [2.0, 2.0, 80.0, -1]


def test_basec_from_character_value():
    lb = pd.DataFrame({"USUBJID": ["1", "1"], "AVALC": ["NEG", "POS"], "ABLFL": ["Y", None]})
    assert derive_var_base(lb, ["USUBJID"], source_var="AVALC", new_var="BASEC")["BASEC"].tolist() == ["NEG", "NEG"]


def test_two_baselines_in_a_group_is_an_error():
    lb = pd.DataFrame({"USUBJID": ["1", "1"], "AVAL": [1.0, 2.0], "ABLFL": ["Y", "Y"]})
    with pytest.raises(DerivationError, match=r"more than one baseline record \(ABLFL == 'Y'\) for \{'USUBJID': '1'\}"):
        derive_var_base(lb, ["USUBJID"])
