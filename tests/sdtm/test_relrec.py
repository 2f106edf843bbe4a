"""RELREC: record-level links (AE drug withdrawn <-> DS discontinuation) and dataset-level links."""

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError
from pipeline.sdtm.relrec import RELREC_COLUMNS, build_relrec

AE = pd.DataFrame(
    {
        "STUDYID": "X",
        "USUBJID": ["S1", "S1", "S1", "S2", "S3"],
        "AESEQ": [1, 2, 3, 1, 1],
        "AEACN": ["DOSE NOT CHANGED", "DRUG WITHDRAWN", "DRUG WITHDRAWN", "DRUG WITHDRAWN", "DRUG WITHDRAWN"],
    }
)
DS = pd.DataFrame(
    {
        "STUDYID": "X",
        "USUBJID": ["S1", "S1", "S2", "S4"],
        "DSSEQ": [1, 2, 2, 1],
        "DSSCAT": ["STUDY TREATMENT", "STUDY PARTICIPATION", "STUDY TREATMENT", "STUDY TREATMENT"],
        "DSDECOD": ["ADVERSE EVENT", "COMPLETED", "ADVERSE EVENT", "ADVERSE EVENT"],
    }
)
AE_FILTER = "AEACN == 'DRUG WITHDRAWN'"
DS_FILTER = "DSSCAT == 'STUDY TREATMENT' and DSDECOD == 'ADVERSE EVENT'"


def test_relrec_links_withdrawn_aes_to_ds_discontinuation_with_common_relid():
    relrec = build_relrec(AE, DS, "AE", "DS", filter_dataset=AE_FILTER, filter_add=DS_FILTER)
    assert list(relrec.columns) == RELREC_COLUMNS
    assert relrec[["USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", "RELID"]].values.tolist() == [
        ["S1", "AE", "AESEQ", "2", "AEDS1"],
        ["S1", "AE", "AESEQ", "3", "AEDS1"],
        ["S1", "DS", "DSSEQ", "1", "AEDS1"],
        ["S2", "AE", "AESEQ", "1", "AEDS1"],
        ["S2", "DS", "DSSEQ", "2", "AEDS1"],
    ]
    assert relrec["RELTYPE"].isna().all()


def test_relrec_leaves_out_subjects_with_one_side_only():
    relrec = build_relrec(AE, DS, "AE", "DS", filter_dataset=AE_FILTER, filter_add=DS_FILTER)
    assert not {"S3", "S4"} & set(relrec["USUBJID"])


def test_relrec_filters_accept_callables_and_masks():
    by_query = build_relrec(AE, DS, "AE", "DS", filter_dataset=AE_FILTER, filter_add=DS_FILTER)
    by_callable = build_relrec(
        AE, DS, "AE", "DS",
        filter_dataset=lambda d: d["AEACN"] == "DRUG WITHDRAWN",
        filter_add=(DS["DSSCAT"] == "STUDY TREATMENT") & (DS["DSDECOD"] == "ADVERSE EVENT"),
    )
    pd.testing.assert_frame_equal(by_query, by_callable)


def test_relrec_is_empty_with_standard_columns_when_nothing_links():
    relrec = build_relrec(AE, DS, "AE", "DS", filter_dataset="AEACN == 'DOSE REDUCED'")
    assert relrec.empty and list(relrec.columns) == RELREC_COLUMNS


def test_relrec_bad_filter_is_a_config_error():
    with pytest.raises(ConfigError, match="filter_dataset"):
        build_relrec(AE, DS, "AE", "DS", filter_dataset="NOPE == 1")
