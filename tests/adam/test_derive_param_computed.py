import numpy as np
import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_param_computed import derive_param_computed


def test_ratio_of_two_parameters_only_where_both_exist():
    lb = pd.DataFrame({"USUBJID": ["1", "1", "1"], "ADT": ["d1", "d1", "d2"],
                       "PARAMCD": ["UPROT", "UCREAT", "UPROT"], "AVAL": [150.0, 100.0, 80.0]})
    out = derive_param_computed(lb, ["USUBJID", "ADT"], ["UPROT", "UCREAT"], "AVAL_UPROT / AVAL_UCREAT",
                                {"PARAMCD": "UPCR", "PARAM": "UPCR (g/g)"})
    new = out[out["PARAMCD"] == "UPCR"]
    assert new[["ADT", "AVAL", "PARAM"]].values.tolist() == [["d1", 1.5, "UPCR (g/g)"]]


def test_log_transform_of_one_parameter_keeps_record_identity():
    lb = pd.DataFrame({"USUBJID": ["1", "1"], "SRCSEQ": [1, 2], "PARAMCD": ["UPCR", "UPCR"], "AVAL": [np.e, 1.0]})
    out = derive_param_computed(lb, ["USUBJID", "SRCSEQ"], ["UPCR"], "log(AVAL_UPCR)", {"PARAMCD": "LUPCR"})
    assert out.loc[out["PARAMCD"] == "LUPCR", ["SRCSEQ", "AVAL"]].values.tolist() == [[1, 1.0], [2, 0.0]]


def test_duplicate_sources_are_named():
    lb = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["UPCR", "UPCR"], "AVAL": [1.0, 2.0]})
    with pytest.raises(DerivationError, match="more than one source record for"):
        derive_param_computed(lb, ["USUBJID"], ["UPCR"], "log(AVAL_UPCR)", {"PARAMCD": "LUPCR"})
