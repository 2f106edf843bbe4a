"""A variable whose codelist would have no value (the pilot's TV.ARMCD is always empty) gets no CodeListRef."""

import pandas as pd

from pipeline.submit.define import (CODELIST_COLUMNS, DefineContext, assign_codelist_oids, build_codelists,
                                    build_define_xml, check_define_references, render_define_html,
                                    validate_define_xml)
from pipeline.submit.metadata import DatasetMeta, build_variable_meta, load_standard_origins

CT = pd.DataFrame({
    "codelist_code": ["C66742", "C66742"], "codelist": ["NY", "NY"], "codelist_name": ["No Yes Response"] * 2,
    "extensible": ["No", "No"], "term_code": ["C49487", "C49488"], "submission_value": ["N", "Y"],
    "synonyms": [""] * 2, "nci_preferred_term": [""] * 2, "publishing_set": ["SDTM"] * 2,
})


def build_trial_visits():
    tv = pd.DataFrame({"STUDYID": ["S1", "S1"], "DOMAIN": ["TV", "TV"], "VISITNUM": [1.0, 2.0],
                       "VISIT": ["SCREENING", "WEEK 2"], "ARMCD": ["", ""]})
    meta = DatasetMeta("TV", "Trial Visits", "SDTM", "TRIAL DESIGN", "One record per planned Visit per Arm",
                       ("STUDYID", "VISITNUM", "ARMCD"))
    std = pd.DataFrame({"domain": ["TV"] * 5, "variable": ["STUDYID", "DOMAIN", "VISITNUM", "VISIT", "ARMCD"],
                        "order": ["1", "2", "3", "4", "5"],
                        "label": ["Study Identifier", "Domain Abbreviation", "Visit Number", "Visit Name",
                                  "Planned Arm Code"],
                        "type": ["Char", "Char", "Num", "Char", "Char"], "core": ["Req", "Req", "Req", "Perm", "Exp"],
                        "codelist": ["", "", "", "", "ARMCD"], "value_format": [""] * 5})
    variables = build_variable_meta(meta, tv, std, pd.DataFrame(), {}, load_standard_origins()["sdtm"])
    variables = assign_codelist_oids(variables, CT)
    codelists = build_codelists(variables, {"TV": tv}, CT)
    return meta, tv, variables, codelists if len(codelists) else pd.DataFrame(columns=CODELIST_COLUMNS)


def test_always_empty_codelist_variable_has_no_dangling_codelistref_and_define_validates():
    meta, _, variables, codelists = build_trial_visits()
    assert variables.set_index("variable").loc["ARMCD", "codelist_oid"] == "CL.TV.ARMCD"  # assigned, but no value
    assert "CL.TV.ARMCD" not in set(codelists["codelist_oid"])
    context = DefineContext("STDY.S1", "S1", "Small study", "S1", "2023-06-29T00:00:00", "2025-03-28", "SDTM")
    xml = build_define_xml(context, [meta], variables, codelists, pd.DataFrame(columns=["dataset"]))
    assert b"CL.TV.ARMCD" not in xml
    assert check_define_references(xml) == []
    assert validate_define_xml(xml) == []
    assert variables.set_index("variable").loc["ARMCD", "codelist_oid"] == "CL.TV.ARMCD"  # caller's frame untouched


def test_define_html_does_not_link_an_unwritten_codelist():
    meta, _, variables, codelists = build_trial_visits()
    context = DefineContext("STDY.S1", "S1", "Small study", "S1", "2023-06-29T00:00:00", "2025-03-28", "SDTM")
    html = render_define_html(context, [meta], variables, codelists, pd.DataFrame(columns=["dataset"]), {"TV": 2})
    assert "CL.TV.ARMCD" not in html and "Planned Arm Code" in html


def test_codelists_from_the_first_record_of_each_value_equal_those_from_the_whole_dataset():
    from pipeline.submit.define import select_codelist_rows

    lb = pd.DataFrame({"LBTESTCD": ["ALB", "ALB", None, "GLUC", "ALB", "GLUC"],
                       "LBTEST": ["Albumin", "Albumin (2)", "x", "Glucose", "y", "z"],
                       "LBFAST": [None, "Y", "N", "Y", "N", None], "LBORRES": ["1", "2", "3", "4", "5", "6"]})
    variables = pd.DataFrame({"dataset": "LB", "variable": list(lb.columns), "kind": "char",
                              "codelist": ["", "", "NY", ""], "value_format": ""})
    variables = assign_codelist_oids(variables, CT)
    selected = select_codelist_rows(lb, variables)
    assert selected.index.tolist() == [0, 1, 2, 3] and list(selected.columns) == ["LBTESTCD", "LBFAST", "LBTEST"]
    whole, small = build_codelists(variables, {"LB": lb}, CT), build_codelists(variables, {"LB": selected}, CT)
    pd.testing.assert_frame_equal(whole, small)
    assert whole[["codelist_oid", "coded_value", "decode"]].values.tolist() == [
        ["CL.LB.LBTESTCD", "ALB", "Albumin"], ["CL.LB.LBTESTCD", "GLUC", "Glucose"],
        ["CL.NY", "N", ""], ["CL.NY", "Y", ""]]
