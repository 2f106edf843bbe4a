"""The one Codelist type: built from the CT package for mapping, validation and define.xml alike."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError
from pipeline.standards.tables import load_standard_origins, submission_datasets
from pipeline.standards.terminology import Codelist, build_codelists, codelist_from_ct, load_terminology


def test_a_codelist_from_the_package_knows_its_code_extensibility_and_spellings():
    ct = load_terminology()
    sex = codelist_from_ct(ct, "SEX")
    assert (sex.code, sex.extensible, sorted(sex.terms)) == ("C66731", False, ["F", "INTERSEX", "M", "U"])
    assert sex.lookup["FEMALE"] == "F" and sex.lookup["F"] == "F"
    assert codelist_from_ct(ct, "C66731").terms == sex.terms  # by C-code too
    with pytest.raises(ConfigError, match="unknown codelist 'NOSUCH'"):
        codelist_from_ct(ct, "NOSUCH")


def test_validation_and_mapping_build_the_same_terms():
    ct = load_terminology(adam=True)
    validation = build_codelists(ct)
    for name in ("ROUTE", "LBTESTCD", "UNIT", "PARAMTYP"):
        assert validation[name].terms == codelist_from_ct(ct, name).terms
        assert validation[name].code == codelist_from_ct(ct, name).code
    assert "TRANSDERMAL" in validation["ROUTE"].terms  # a term of ct-extra, not of the subset


def test_sponsor_codelists_extend_or_stand_alone():
    ct = pd.DataFrame({"codelist": ["FREQ", "FREQ"], "codelist_code": ["C71113"] * 2, "extensible": ["Yes"] * 2,
                       "submission_value": ["QD", "BID"]})
    out = build_codelists(ct, {"FREQ": {"terms": ["Q4W"]}, "PARAMCD": {"terms": ["UPCR", "EGFR"], "code": "X1"}})
    assert out["FREQ"] == Codelist.build("FREQ", ["QD", "BID", "Q4W"], {}, True, "C71113")
    assert not out["FREQ"].sponsor_defined and out["PARAMCD"].sponsor_defined
    assert (out["PARAMCD"].values, out["PARAMCD"].code, out["PARAMCD"].extensible) == (("UPCR", "EGFR"), "X1", False)


def test_equality_ignores_the_lookup_and_synonyms_never_shadow_a_value():
    cl = Codelist.build("NY", ["Y", "N"], {"n": "Y", "yes": "Y"}, False)
    assert cl.lookup["N"] == "N"  # a submission value wins over a synonym of the same spelling
    assert cl == Codelist.build("NY", ["Y", "N"], {}, False)


def test_standards_data_live_in_specs_standards():
    tables = submission_datasets()
    assert tables["sdtm"]["LB"]["keys"] == ["STUDYID", "USUBJID", "LBCAT", "LBTESTCD", "LBSPEC", "VISITNUM", "LBDTC"]
    assert tables["sdtm"]["SC"]["class"] == "FINDINGS"  # from datasets-supplement.yaml
    assert tables["sdtm"]["SUPP--"]["label"] == "Supplemental Qualifiers for --"
    assert load_standard_origins()["sdtm"]["USUBJID"]["origin"] == "Derived"


def test_term_codes_name_the_nci_code_of_each_submission_value():
    tsparmcd = codelist_from_ct(load_terminology(), "TSPARMCD")
    tsparm = codelist_from_ct(load_terminology(), "TSPARM")
    code = tsparmcd.term_codes["SEXPOP"]
    assert code.startswith("C") and {v for v, c in tsparm.term_codes.items() if c == code} == {"Sex of Participants"}
