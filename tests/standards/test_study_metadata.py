"""Standard and study metadata: the tables specs/standards hold and what the study specs resolve to."""

from __future__ import annotations

import pytest

from pipeline.common.study import StudyContext
from pipeline.standards.study import load_study_metadata
from pipeline.standards.tables import load_standard_variables, parse_codelist_reference
from pipeline.standards.terminology import load_terminology


@pytest.mark.parametrize("text, codelists, subset, fmt, dictionary", [
    ("SEX", ("SEX",), (), None, None),
    ("NY (Y or null)", ("NY",), ("Y",), None, None),
    ("NY (Y or N)", ("NY",), ("Y", "N"), None, None),
    ("RELTYPE (ONE, MANY)", ("RELTYPE",), ("ONE", "MANY"), None, None),
    ("QSCAT (extensible)", ("QSCAT",), (), None, None),
    ("NCOMPLT / PROTMLST / OTHEVENT", ("NCOMPLT", "PROTMLST", "OTHEVENT"), (), None, None),
    ("ISO 8601", (), (), "iso8601", None),
    ("ISO 8601 duration", (), (), "iso8601_duration", None),
    ("ISO 3166-1 alpha-3", (), (), "iso3166_alpha3", None),
    ("MedDRA PT", (), (), None, "MedDRA PT"),
    ("sponsor codelist (see sledai.md)", (), (), None, None),
    ("DATE9.", (), (), "DATE9.", None),
])
def test_codelist_reference_parsing(text, codelists, subset, fmt, dictionary) -> None:
    ref = parse_codelist_reference(text)
    assert (ref.codelists, ref.subset, ref.format, ref.dictionary) == (codelists, subset, fmt, dictionary)


def test_standard_tables_cover_every_domain_and_adam_class_of_the_study() -> None:
    std = load_standard_variables(StudyContext.create().standards_dir)
    domains = set(std["domain"])
    assert {"DM", "DS", "EX", "AE", "LB", "RS", "VS", "CM", "MH", "SV", "SUPPQUAL", "RELREC", "TS", "TA", "TE",
            "TV", "TI", "SE", "ADSL", "BDS", "OCCDS"} <= domains
    rs = std[std["domain"] == "RS"].set_index("variable")
    assert rs.loc["RSTESTCD", "core"] == "Req" and rs.loc["RSSTRESN", "type"] == "Num"
    assert std.duplicated(["domain", "variable"]).sum() == 0


def test_ct_subset_codelists_have_codes_and_extensibility() -> None:
    ct = load_terminology(StudyContext.create().standards_dir, adam=True)
    sex = ct[ct["codelist"] == "SEX"]
    assert set(sex["codelist_code"]) == {"C66731"} and set(sex["extensible"]) == {"No"}


def test_flagship_metadata_resolves_keys_codelists_and_sponsor_variables() -> None:
    ctx = StudyContext.create("iscalimab-ln")
    meta = load_study_metadata(ctx.specs_dir, ctx.standards_dir)
    assert meta.datasets["LB"].keys == ("STUDYID", "USUBJID", "LBCAT", "LBTESTCD", "LBSPEC", "VISITNUM", "LBDTC")
    assert meta.datasets["SUPPDM"].standard_domain == "SUPPQUAL"
    assert meta.datasets["ADLB"].standard_domain == "BDS"
    assert sorted(meta.codelists["ARMCD"].terms) == ["ISCAL10", "NOTASSGN", "PBO", "SCRNFAIL"]
    assert len(meta.codelists["SSLDTC"].terms) == 26
    rs = meta.dataset_variables("RS").set_index("variable")
    assert rs.loc["RSTESTCD", "codelist"] == "SSLDTC"
    adsl = meta.dataset_variables("ADSL").set_index("variable")
    assert bool(adsl.loc["BUPCR", "sponsor_defined"]) and adsl.loc["BUPCR", "type"] == "Num"


def test_resolved_metadata_tables_for_other_stages() -> None:
    ctx = StudyContext.create("iscalimab-ln")
    meta = load_study_metadata(ctx.specs_dir, ctx.standards_dir)
    variables = meta.variables
    assert {"dataset", "variable", "label", "type", "length", "core", "codelist", "order", "key_sequence"} <= set(
        variables.columns)
    assert meta.datasets["AE"].keys == ("STUDYID", "USUBJID", "AEDECOD", "AESTDTC")
    assert meta.datasets["ADSL"].is_adam
    dm = variables[variables["dataset"] == "DM"]
    assert dm["order"].is_monotonic_increasing


def test_submission_and_validation_share_the_resolved_metadata() -> None:
    """The package's dataset keys, labels and sponsor codelists are the StudyMetadata validation uses."""
    from pipeline.submit.metadata import load_study_specs

    ctx = StudyContext.create("iscalimab-ln")
    meta = load_study_metadata(ctx.specs_dir, ctx.standards_dir)
    specs = load_study_specs(ctx.specs_dir, ctx.standards_dir)
    assert {name: tuple(d["keys"]) for name, d in specs.datasets.items()} == {n: d.keys for n, d in meta.datasets.items()}
    sponsor = {n for n, c in meta.codelists.items() if c.sponsor_defined}
    assert set(specs.codelists["codelist"]) == sponsor and "SSLDTC" in sponsor
    ssldtc = specs.codelists[specs.codelists["codelist"] == "SSLDTC"]
    assert sorted(ssldtc["submission_value"]) == sorted(meta.codelists["SSLDTC"].terms)


def test_pilot_split_domains_resolve_from_their_standard_domain() -> None:
    ctx = StudyContext.create("cdiscpilot01")
    meta = load_study_metadata(ctx.specs_dir, ctx.standards_dir)
    assert meta.datasets["LBCH"].standard_domain == "LB" and meta.datasets["QSCO"].domain == "QS"
    assert meta.spec_for_file("supplbch", "LB").name == "SUPPLBCH"
    lbch = meta.dataset_variables("LBCH").set_index("variable")
    assert lbch.loc["LBTESTCD", "codelist"] == "LBTESTCD" and lbch.loc["LBDTC", "format"] == "iso8601"
    # the whole CT package: a lab test code of the extra package is a term the validator accepts
    assert {"ALB", "BILI", "URATE"} <= meta.codelists["LBTESTCD"].terms


def test_a_spec_that_is_not_a_mapping_of_datasets_names_file_and_line(tmp_path) -> None:
    from pipeline.common.errors import ConfigError
    from pipeline.standards.study import resolve_study_metadata

    path = tmp_path / "datasets.yaml"
    path.write_text("datasets:\n  DM:\n    variables: [AGE]\n")
    with pytest.raises(ConfigError, match=r"datasets.yaml:line 3: dataset DM: 'variables' must be a mapping"):
        resolve_study_metadata(path, StudyContext.create().standards_dir)


def test_each_resolution_is_the_callers_own_copy() -> None:
    """Resolution is kept per process; a caller that changes its result never changes the next caller's."""
    ctx = StudyContext.create("iscalimab-ln")
    first = load_study_metadata(ctx.specs_dir, ctx.standards_dir)
    first.variables.loc[first.variables["variable"] == "USUBJID", "label"] = "changed"
    first.datasets["DM"].options["label"] = "changed"
    first.spec["datasets"].clear()
    second = load_study_metadata(ctx.specs_dir, ctx.standards_dir)
    assert set(second.variables.loc[second.variables["variable"] == "USUBJID", "label"]) == {"Unique Subject Identifier"}
    assert second.datasets["DM"].options.get("label") != "changed"
    assert "DM" in second.spec["datasets"] and second.spec.lines["datasets"] == first.spec.lines["datasets"]


def test_a_changed_adam_spec_is_resolved_again(tmp_path) -> None:
    """The kept result is keyed on the content of the files read: an edit of adam.yaml is seen at once."""
    import shutil

    from pipeline.common.study import PROJECT_ROOT

    study = tmp_path / "drugx-edc"
    shutil.copytree(PROJECT_ROOT / "tests" / "data" / "studies" / "drugx-edc" / "specs" / "drugx-edc", study)
    standards = StudyContext.create().standards_dir
    before = load_study_metadata(study, standards)
    adam = study / "adam.yaml"
    adam.write_text(adam.read_text().replace("label: Subject-Level Analysis Dataset", "label: Subjects", 1))
    after = load_study_metadata(study, standards)
    assert before.datasets["ADSL"].label == "Subject-Level Analysis Dataset"
    assert after.datasets["ADSL"].label == "Subjects"
