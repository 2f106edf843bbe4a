"""Each rule CORE runs that we implement fires on a small failing frame and passes on its fixed twin."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.validate.conformance import CONFORMANCE_RULES, ValidationData
from pipeline.validate.conformance_core import expected_order

U = "S-1"
SE = pd.DataFrame({"USUBJID": [U, U], "EPOCH": ["SCREENING", "TREATMENT"], "TAETORD": [1, 2],
                   "SESTDTC": ["2020-01-01", "2020-01-10T09:00"], "SEENDTC": ["2020-01-10T09:00", "2020-06-01"]})

CASES = [
    # (rule, failing datasets, passing datasets, failing records by dataset)
    ("CG0150",
     {"DM": pd.DataFrame({"USUBJID": ["S-101-1", "S-102-1"], "SUBJID": ["0001", "0001"]})},
     {"DM": pd.DataFrame({"USUBJID": ["S-101-1", "S-102-1"], "SUBJID": ["101-0001", "102-0001"]})},
     {"DM": 1}),
    ("FB5701",
     {"DM": pd.DataFrame({"USUBJID": ["A", "B"], "ETHNIC": ["NOT REPORTED", "HISPANIC OR LATINO"]})},
     {"DM": pd.DataFrame({"USUBJID": ["A", "B"], "ETHNIC": ["NOT HISPANIC OR LATINO", None]})},
     {"DM": 1}),
    ("FB3201",
     {"DM": pd.DataFrame({"USUBJID": [U], "DOMAIN": ["DM"], "DMDTC": ["2020-01-01"]})},
     {"DM": pd.DataFrame({"USUBJID": [U], "DOMAIN": ["DM"], "DMDTC": ["2020-01-01"], "DMDY": [1.0]})},
     {"DM": 1}),
    ("FB1601",
     {"DM": pd.DataFrame({"USUBJID": [U], "DOMAIN": ["DM"], "DMDTC": ["2020-01-01"]})},
     {"DM": pd.DataFrame({"USUBJID": [U], "DOMAIN": ["DM"], "DMDTC": ["2020-01"]})},
     {"DM": 1}),
    ("FB3202",
     {"MH": pd.DataFrame({"USUBJID": [U], "DOMAIN": ["MH"], "MHSTDTC": ["2019-05-01"]})},
     {"MH": pd.DataFrame({"USUBJID": [U], "DOMAIN": ["MH"], "MHSTDTC": ["2019-05-01"], "MHSTDY": [-245.0]})},
     {"MH": 1}),
    ("FB3203",
     {"MH": pd.DataFrame({"USUBJID": [U], "DOMAIN": ["MH"], "MHENDTC": ["2019-05-01"]})},
     {"MH": pd.DataFrame({"USUBJID": [U], "DOMAIN": ["MH"], "MHENDTC": ["2019-05-01"], "MHENDY": [-245.0]})},
     {"MH": 1}),
    ("FB2201",
     {"CM": pd.DataFrame({"USUBJID": [U, U], "DOMAIN": ["CM"] * 2, "EPOCH": [None, "TREATMENT"]})},
     {"CM": pd.DataFrame({"USUBJID": [U, U], "DOMAIN": ["CM"] * 2, "EPOCH": ["SCREENING", "TREATMENT"]}),
      "MH": pd.DataFrame({"USUBJID": [U], "DOMAIN": ["MH"]})},
     {"CM": 1}),
    ("FB3207",
     {"AE": pd.DataFrame({"USUBJID": [U, U], "DOMAIN": ["AE"] * 2, "AESTDY": [10.0, 3.0], "AEENDY": [5.0, 3.0]})},
     {"AE": pd.DataFrame({"USUBJID": [U, U], "DOMAIN": ["AE"] * 2, "AESTDY": [1.0, 3.0], "AEENDY": [5.0, None]})},
     {"AE": 1}),
    ("CG0218",
     {"SV": pd.DataFrame({"USUBJID": [U, U], "EPOCH": ["TREATMENT", "TREATMENT"], "SVSTDTC": ["2020-01-05", "2020-02-01"]}),
      "SE": SE},
     {"SV": pd.DataFrame({"USUBJID": [U, U], "EPOCH": ["SCREENING", "TREATMENT"], "SVSTDTC": ["2020-01-05", "2020-02-01"]}),
      "SE": SE},
     {"SV": 1}),
    ("CG0654",
     {"SV": pd.DataFrame({"USUBJID": [U, U], "SVPRESP": ["Y", None], "SVOCCUR": ["Y", "Y"]})},
     {"SV": pd.DataFrame({"USUBJID": [U, U], "SVPRESP": ["Y", None], "SVOCCUR": ["N", None]})},
     {"SV": 1}),
    ("CG0536",
     {"DS": pd.DataFrame({"USUBJID": [U, U], "DSCAT": ["DISPOSITION EVENT", "PROTOCOL MILESTONE"],
                          "DSSCAT": [None, None], "EPOCH": ["SCREENING", "SCREENING"]})},
     {"DS": pd.DataFrame({"USUBJID": [U, U], "DSCAT": ["DISPOSITION EVENT", "PROTOCOL MILESTONE"],
                          "DSSCAT": ["STUDY PARTICIPATION", None], "EPOCH": ["SCREENING", "SCREENING"]})},
     {"DS": 1}),
    ("CG0042",
     {"AE": pd.DataFrame({"USUBJID": [U, U], "AESER": ["Y", "N"], "AESHOSP": [None, None]})},
     {"AE": pd.DataFrame({"USUBJID": [U, U], "AESER": ["Y", "N"], "AESHOSP": ["Y", None]})},
     {"AE": 1}),
    ("CG0181",
     {"LB": pd.DataFrame({"USUBJID": [U, U], "LBORRES": ["<10", "12.5"], "LBORNRHI": ["30", "30"]})},
     {"LB": pd.DataFrame({"USUBJID": [U, U], "LBORRES": ["<10", "12.5"], "LBORNRHI": [None, "30"]})},
     {"LB": 1}),
    ("CG0183",
     {"LB": pd.DataFrame({"USUBJID": [U, U], "LBORRES": ["NEGATIVE", ".5"], "LBSTNRHI": [30.0, 30.0]})},
     {"LB": pd.DataFrame({"USUBJID": [U, U], "LBORRES": ["NEGATIVE", ".5"], "LBSTNRHI": [None, 30.0]})},
     {"LB": 1}),
    ("CG0265",
     {"TS": pd.DataFrame({"TSPARMCD": ["TCNTRL", "COMPTRT"], "TSVAL": ["PLACEBO", "PLACEBO"],
                          "TSVALCD": ["C49648", "C753"], "TSVCDREF": ["CDISC CT", "NCI"]})},
     {"TS": pd.DataFrame({"TSPARMCD": ["TCNTRL", "COMPTRT"], "TSVAL": ["PLACEBO", "Placebo"],
                          "TSVALCD": ["C49648", None], "TSVCDREF": ["CDISC CT", None]})},
     {"TS": 2}),
    ("FB0904",
     {"TS": pd.DataFrame({"TSPARMCD": ["A", "B"], "TSVAL": ["X", "Y"], "TSVALCD": ["C1", "C1"],
                          "TSVCDREF": ["CDISC CT", "CDISC CT"]})},
     {"TS": pd.DataFrame({"TSPARMCD": ["A", "B"], "TSVAL": ["X", "Y"], "TSVALCD": ["C1", "C2"],
                          "TSVCDREF": ["CDISC CT", "CDISC CT"]})},
     {"TS": 2}),
    ("FB1111",
     {"TS": pd.DataFrame({"TSPARMCD": ["STYPE", "INTMODEL", "INTTYPE"], "TSVAL": ["INTERVENTIONAL", "PARALLEL", None]})},
     {"TS": pd.DataFrame({"TSPARMCD": ["STYPE", "INTMODEL", "INTTYPE", "PCLAS"],
                          "TSVAL": ["INTERVENTIONAL", "PARALLEL", "DRUG", "Anti-CD40 Monoclonal Antibody"]})},
     {"TS": 2}),
    ("CG0330",
     {"EX": pd.DataFrame(columns=["STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXTRT", "EPOCH", "EXSTDTC", "VISIT",
                                  "VISITNUM"])},
     {"EX": pd.DataFrame(columns=["STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXTRT", "VISITNUM", "VISIT", "EPOCH",
                                  "EXSTDTC", "EXINTRP"])},
     {"EX": 1}),
]


@pytest.mark.parametrize("rule_id, failing, passing, expected", CASES, ids=[c[0] for c in CASES])
def test_rule_fires_on_the_failing_frame_and_passes_on_the_fixed_one(rule_id, failing, passing, expected) -> None:
    rule = CONFORMANCE_RULES[rule_id]
    assert rule.check(ValidationData(passing, {})).empty
    found = rule.check(ValidationData(failing, {}))
    assert found.groupby("dataset").size().to_dict() == expected
    assert set(found["rule_id"]) == {rule_id} and set(found["severity"]) == {rule.severity}


def test_every_core_rule_names_its_core_id_in_the_citation() -> None:
    ids = [c[0] for c in CASES]
    assert all("CORE-" in CONFORMANCE_RULES[r].citation for r in ids)


def test_expected_order_puts_model_timing_variables_where_the_model_does() -> None:
    order = expected_order("MH", ["MHSTDTC", "MHENDTC", "MHSTDY", "MHENDY"])
    assert [v for v in order if v in ("MHENDTC", "MHDY", "MHSTDY", "MHENDY", "MHENRF")] == \
        ["MHENDTC", "MHDY", "MHSTDY", "MHENDY", "MHENRF"]
