"""One controlled terminology: the mapping stage accepts every term the validator accepts."""
import pandas as pd

from pipeline.standards.terminology import codelist_from_ct, load_terminology, map_to_codelist


def test_mapping_and_validation_read_the_same_sdtm_terms():
    sdtm_terms = load_terminology()[["codelist", "submission_value"]]
    validation = load_terminology(adam=True)
    validation_terms = validation.loc[~validation["source_file"].str.startswith("adamct"), ["codelist", "submission_value"]]
    assert sdtm_terms.reset_index(drop=True).equals(validation_terms.reset_index(drop=True))
    assert len(sdtm_terms) > 9000  # the subset and the extra package, not a cut-down copy


def test_terms_outside_the_flagships_subset_are_mapped():
    route = codelist_from_ct(load_terminology(), "ROUTE")
    values, problems = map_to_codelist(pd.Series(["TRANSDERMAL", "Intravenous"]), route)
    assert values.tolist() == ["TRANSDERMAL", "INTRAVENOUS"] and problems.isna().all()
    frm = codelist_from_ct(load_terminology(), "FRM")
    assert map_to_codelist(pd.Series(["PATCH"]), frm)[0].tolist() == ["PATCH"]


def test_the_newest_package_date_wins(tmp_path):
    for name in ("ct-subset-2024-01-01.tsv", "ct-subset-2025-03-28.tsv"):
        version = name[10:20]
        (tmp_path / name).write_text("codelist_code\tcodelist\tcodelist_name\textensible\tterm_code\tsubmission_value\t"
                                     f"synonyms\tnci_preferred_term\nC1\tX\tX\tNo\tT1\tV{version}\t\t\n")
    ct = load_terminology(tmp_path)
    assert ct.attrs["version"] == "2025-03-28" and ct["submission_value"].tolist() == ["V2025-03-28"]
