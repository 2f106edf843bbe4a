"""Golden define.xml built from hand-made metadata only (no study spec), so a change is a reviewed change.

Regenerate after an intended change: ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/submit/test_define_golden.py``.
"""

import os
from pathlib import Path

import pandas as pd

from pipeline.submit.define import (CODELIST_COLUMNS, DefineContext, assign_codelist_oids, build_codelists,
                                    build_define_xml, build_value_level_meta, check_define_references,
                                    validate_define_xml)
from pipeline.submit.metadata import DatasetMeta, build_variable_meta, load_standard_origins

GOLDEN = Path(__file__).parent / "golden" / "define_small.xml"
CT = pd.DataFrame({
    "codelist_code": ["C66731", "C66731", "C66742", "C66742", "C65047", "C65047"],
    "codelist": ["SEX", "SEX", "NY", "NY", "LBTESTCD", "LBTESTCD"],
    "codelist_name": ["Sex", "Sex", "No Yes Response", "No Yes Response", "Laboratory Test Code", "Laboratory Test Code"],
    "extensible": ["No", "No", "No", "No", "Yes", "Yes"],
    "term_code": ["C16576", "C20197", "C49487", "C49488", "C64431", "C64547"],
    "submission_value": ["F", "M", "N", "Y", "ALB", "CREAT"],
    "synonyms": [""] * 6, "nci_preferred_term": [""] * 6, "publishing_set": ["SDTM"] * 6,
})


def build() -> bytes:
    dm = pd.DataFrame({"STUDYID": ["S1", "S1"], "USUBJID": ["S1-01", "S1-02"], "SEX": ["F", "M"], "AGE": [34.0, 61.0]})
    lb = pd.DataFrame({"STUDYID": ["S1"] * 3, "USUBJID": ["S1-01"] * 3, "LBSEQ": [1.0, 2.0, 3.0],
                       "LBTESTCD": ["ALB", "CREAT", "UPCR"], "LBTEST": ["Albumin", "Creatinine", "UPCR"],
                       "LBSTRESN": [40.0, 71.5, 1.25], "LBDTC": ["2020-01-02", "2020-01-02T08:00", "2020-01"]})
    metas = [DatasetMeta("DM", "Demographics", "SDTM", "SPECIAL PURPOSE", "One record per subject", ("STUDYID", "USUBJID")),
             DatasetMeta("LB", "Laboratory Test Results", "SDTM", "FINDINGS", "One record per lab test per visit per subject",
                         ("STUDYID", "USUBJID", "LBTESTCD", "LBDTC"))]
    std = pd.DataFrame({"domain": ["DM", "DM", "LB", "LB", "LB"], "variable": ["SEX", "AGE", "LBTESTCD", "LBTEST", "LBDTC"],
                        "order": ["1"] * 5, "label": ["Sex", "Age", "Lab Test or Examination Short Name",
                                                     "Lab Test or Examination Name", "Date/Time of Specimen Collection"],
                        "type": ["Char", "Num", "Char", "Char", "Char"], "core": ["Req", "Exp", "Req", "Req", "Exp"],
                        "codelist": ["SEX", "", "LBTESTCD", "", ""], "value_format": ["", "", "", "", "ISO 8601"]})
    frames = {"DM": dm, "LB": lb}
    variables = pd.concat([build_variable_meta(m, frames[m.name], std, pd.DataFrame(), {}, load_standard_origins()["sdtm"])
                           for m in metas], ignore_index=True)
    variables = assign_codelist_oids(variables, CT)
    codelists = build_codelists(variables, frames, CT)
    value_level = pd.concat([t for t in (build_value_level_meta(m, frames[m.name], variables[variables["dataset"] == m.name])
                                         for m in metas) if len(t)], ignore_index=True)
    context = DefineContext("STDY.S1", "S1", "Small study", "S1", "2023-06-29T00:00:00", "2025-03-28", "SDTM")
    return build_define_xml(context, metas, variables, codelists if len(codelists) else pd.DataFrame(columns=CODELIST_COLUMNS),
                            value_level)


def test_small_define_matches_the_golden_file_and_the_schema():
    xml = build()
    assert validate_define_xml(xml) == []
    assert check_define_references(xml) == []
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(xml)
    assert xml.decode() == GOLDEN.read_text(encoding="utf-8")
