"""define.xml method texts generated from the adam.yaml steps that create each variable."""

import copy

import pandas as pd
import pytest
from lxml import etree

from pipeline.common.specfile import load_spec
from pipeline.common.study import StudyContext
from pipeline.submit.methods import build_adam_methods, combine_methods, describe_step, step_outputs

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}


@pytest.fixture(scope="module")
def flagship_spec():
    ctx = StudyContext.create("iscalimab-ln")
    return load_spec(ctx.specs_dir / "adam.yaml"), ctx.design


@pytest.mark.parametrize("verb, args, expected", [
    ("derive_vars_dtm", {"new_vars_prefix": "TRTS", "dtc": "EXSTDTC"}, ["TRTSDTM", "TRTSDTF", "TRTSTMF"]),
    ("derive_vars_dy", {"reference_date": "TRTSDT", "source_vars": ["ASTDT", "AENDT"]}, ["ASTDY", "AENDY"]),
    ("derive_var_crit", {"crit_nr": 2, "condition": "AVAL > 1", "description": "x"}, ["CRIT2", "CRIT2FL"]),
    ("derive_var_pop_flags", {"rules": {"SAFFL": "notna(TRTSDT)", "FASFL": "SAFFL == 'Y'"}}, ["SAFFL", "FASFL"]),
    ("derive_vars_merged", {"dataset_add": {"sdtm": "sv"}, "by_vars": ["USUBJID"], "new_vars": {"W24": "VISIT"},
                            "exist_flag": "COMPLFL"}, ["W24", "COMPLFL"]),
    ("derive_var_obs_number", {"by_vars": ["USUBJID"], "order": ["ADT"]}, ["ASEQ"]),
    ("derive_var_trtemfl", {"end_window": 30}, ["TRTEMFL"]),
    ("derive_param_computed", {"by_vars": ["USUBJID"], "parameters": ["UPCR"], "analysis_value": "log(AVAL_UPCR)",
                               "set_values_to": {"PARAMCD": "LUPCR"}}, ["AVAL", "PARAMCD"]),
    ("compute", {"BMIBL": "WEIGHTBL / (HEIGHTBL / 100) ** 2"}, ["BMIBL"]),
    ("filter", "notna(TRTP)", []),
])
def test_step_outputs_names_every_variable_a_step_creates(verb, args, expected):
    assert step_outputs(verb, args) == expected


def test_method_text_follows_the_spec_arguments_so_they_cannot_drift(flagship_spec):
    spec, design = flagship_spec
    methods = build_adam_methods(spec, design)
    assert methods[("ADSL", "DTHDT")] == "DTHDT = date part of DTHDTC (complete dates only)."
    assert "'<40' if AGE < 40" in methods[("ADSL", "AGEGR1")]
    cut = design["endpoints"]["crr"]["upcr_below"]
    assert f"AVAL < {cut} where PARAMCD == 'UPCR'" in methods[("ADLB", "CRIT1FL")]
    assert "TRTEDT + 343 days" in methods[("ADAE", "TRTEMFL")]
    changed = copy.deepcopy(spec)
    adae = next(d for d in changed["datasets"] if d["name"] == "ADAE")
    for step in adae["steps"]:
        if "derive_var_trtemfl" in step:
            step["derive_var_trtemfl"]["end_window"] = 28
    assert "TRTEDT + 28 days" in build_adam_methods(changed, design)[("ADAE", "TRTEMFL")]


def test_plain_copies_are_predecessors_and_hand_texts_become_notes(flagship_spec):
    spec, design = flagship_spec
    methods = combine_methods(build_adam_methods(spec, design), {("ADAE", "TRTA"): "ADSL.TRT01A",
                                                                 ("ADSL", "BMIBL"): "rounded to 1 decimal"})
    assert methods[("ADAE", "TRTSDT")] == "ADSL.TRTSDT"
    assert methods[("ADAE", "TRTA")] == "ADSL.TRT01A"
    assert methods[("ADSL", "BMIBL")] == ("BMIBL = WEIGHTBL / (HEIGHTBL / 100) ** 2; then BMIBL rounded to 1 decimal(s), "
                                         "half away from zero. Note: rounded to 1 decimal")


def test_describe_step_of_a_windowed_merge_names_source_filter_and_order():
    text = describe_step("derive_vars_joined", {
        "dataset_add": {"sdtm": "vs", "filter": "VSTESTCD == 'WEIGHT'"}, "by_vars": ["STUDYID", "USUBJID"],
        "filter_join": "VSDT <= TRTSDT", "order": ["VSDT", "VSSEQ"], "mode": "last", "new_vars": {"WEIGHTBL": "VSSTRESN"}},
        "WEIGHTBL")
    assert text == ("WEIGHTBL = VSSTRESN from SDTM VS records where VSTESTCD == 'WEIGHT' matched by STUDYID, USUBJID "
                    "and VSDT <= TRTSDT, the last record by VSDT, VSSEQ")


def test_every_derived_adam_variable_of_the_flagship_has_a_real_method(flagship_package):
    tree = etree.parse(str(flagship_package.submission_dir / "adam" / "define.xml"))
    methods = {m.get("OID"): m.find("odm:Description/odm:TranslatedText", NS).text
               for m in tree.findall(".//odm:MethodDef", NS)}
    metadata = pd.read_csv(flagship_package.submission_dir / "adam" / "metadata.csv", keep_default_na=False)
    derived = metadata[metadata["origin"] == "Derived"]
    assert len(derived) >= 100
    assert [f"{r.dataset}.{r.variable}" for r in derived.itertuples() if not r.method or
            r.method.startswith("Derived by the pipeline")] == []
    assert not [text for text in methods.values() if "Derived by the pipeline" in text]
    assert any(text.startswith("DTHDT = date part of DTHDTC") for text in methods.values())


def test_extreme_flag_method_without_mode_names_the_verbs_default():
    import inspect

    from pipeline.adam import derive_var_extreme_flag

    default = inspect.signature(derive_var_extreme_flag).parameters["mode"].default
    text = describe_step("derive_var_extreme_flag", {"new_var": "LASTFL", "by_vars": ["USUBJID"], "order": ["ADT"]})
    assert text == f"LASTFL = 'Y' on the {default} record within USUBJID by ADT"
