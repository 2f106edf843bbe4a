"""The same subject written in five site dialects maps to the same SDTM values; a new dialect needs YAML only."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from dialects import write_site  # noqa: E402
from mini import make_ctx  # noqa: E402
from records import SUBJECT  # noqa: E402

from pipeline.sdtm.stage import run  # noqa: E402

SITES = ["101", "102", "201", "301", "401", "402", "501"]
# as collected, so legitimately different per dialect; everything else must be identical
AS_COLLECTED = {"USUBJID", "SUBJID", "SITEID", "COUNTRY", "LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "VSORRES", "VSORRESU"}


@pytest.fixture(scope="module")
def mapped(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("dialects")
    ctx = make_ctx(tmp, copy_study_mappings=True)
    for site in SITES:
        write_site(ctx.raw_dir, site, SUBJECT)
    run(ctx)
    return ctx.outputs_dir


def per_site(outputs: Path, domain: str) -> dict[str, pd.DataFrame]:
    data = pd.read_parquet(outputs / "sdtm" / f"{domain}.parquet")
    site = data["USUBJID"].str.split("-").str[1]
    return {s: data[site == s].drop(columns=[c for c in data.columns if c in AS_COLLECTED]).reset_index(drop=True)
            for s in SITES}


@pytest.mark.parametrize("domain", ["dm", "ae", "ds", "vs", "rs", "ex"])
def test_every_dialect_maps_to_identical_records(mapped, domain):
    frames = per_site(mapped, domain)
    reference = frames["402"]
    assert len(reference) > 0
    for site in SITES:
        pd.testing.assert_frame_equal(frames[site], reference, check_dtype=False, obj=f"{domain} of site {site}")


def test_lab_results_agree_across_unit_systems_within_the_labs_rounding(mapped):
    frames = per_site(mapped, "lb")
    reference = frames["402"].set_index(["LBTESTCD", "LBSPEC"])
    for site in SITES:
        frame = frames[site].set_index(["LBTESTCD", "LBSPEC"])
        assert frame.index.tolist() == reference.index.tolist()
        assert frame["LBSTRESU"].tolist() == reference["LBSTRESU"].tolist()
        assert frame["LBNRIND"].tolist() == reference["LBNRIND"].tolist()
        pd.testing.assert_series_equal(frame["LBSTRESN"], reference["LBSTRESN"], rtol=5e-3, obj=f"LBSTRESN of site {site}")


def test_sledai_items_and_totals_from_every_dialect(mapped):
    rs = pd.read_parquet(mapped / "sdtm" / "rs.parquet")
    assert len(rs) == len(SITES) * 2 * 25
    total = rs[rs["RSTESTCD"] == "SSLD0125"].groupby("VISIT")["RSSTRESN"].agg(set).to_dict()
    assert total == {"BASELINE": {16.0}, "WEEK 24": {6.0}}
    proteinuria = rs[(rs["RSTESTCD"] == "SSLD0113") & (rs["VISIT"] == "BASELINE")]
    assert set(proteinuria["RSORRES"]) == {"PRESENT"} and set(proteinuria["RSSTRESN"]) == {4.0}


def test_dialect_values_spot_checks(mapped):
    dm = pd.read_parquet(mapped / "sdtm" / "dm.parquet").set_index("SITEID")
    assert dm.loc["201", "SUBJID"] == "201-0012" and dm.loc["401", "SUBJID"] == "401-0012"   # unique in the study
    assert dm.loc["101", "BRTHDTC"] == "1985" and dm.loc["101", "AGE"] == 33
    assert set(dm["SEX"]) == {"F"} and set(dm["ARMCD"]) == {"ISCAL10"}
    ae = pd.read_parquet(mapped / "sdtm" / "ae.parquet")
    shingles = ae[ae["AETERM"] == "Shingles"]
    assert set(shingles["AESTDTC"]) == {"2019-05"}          # partial date kept at month precision
    assert set(shingles["AEACN"]) == {"DRUG WITHDRAWN"} and set(shingles["AESER"]) == {"Y"}
    vs = pd.read_parquet(mapped / "sdtm" / "vs.parquet")
    weights = vs[(vs["VSTESTCD"] == "WEIGHT") & (vs["VISIT"] == "SCREENING")]
    assert sorted(weights["VSORRESU"].unique()) == ["LB", "kg"]
    assert set(weights["VSSTRESN"]) == {64.3}


NEW_SITE = {"siteid": "601", "country": "ITA", "region": "EUROPE"}
NEW_DIALECT = {"format": "csv", "delimiter": "|", "decimal": ",", "encoding": "cp1252", "date": "DD-MON-YYYY",
               "columns": "camel", "codes": "title", "subject": "IT-{n:05d}", "visit": "upper", "lab": "si_de",
               "names": "de", "vs_units": "metric"}


def test_new_site_dialect_is_added_with_yaml_alone(tmp_path):
    """Onboarding site 601: one sites.yaml entry (reader, dates) plus the column renames of each form."""
    ctx = make_ctx(tmp_path, copy_study_mappings=True, extra_sites=[NEW_SITE])
    records = {"dm": SUBJECT["dm"], "ae": SUBJECT["ae"]}
    write_site(ctx.raw_dir, "402", records)
    write_site(ctx.raw_dir, "601", records, NEW_DIALECT)
    camel = {"dm": {"SubjectNumber": "subject_no", "DateOfBirth": "birth_date", "Sex": "sex", "Race": "race",
                    "Ethnicity": "ethnicity", "InformedConsentDate": "consent_date"},
             "ae": {"SubjectNumber": "subject_no", "AENumber": "ae_no", "AdverseEventTerm": "ae_term",
                    "StartDate": "start_date", "EndDate": "end_date", "Ongoing": "ongoing", "Serious": "serious",
                    "Hospitalization": "hospitalized", "LifeThreatening": "life_threatening",
                    "MedicallyImportant": "medically_important",
                    "Severity": "severity", "Causality": "relationship", "ActionTaken": "action_taken",
                    "Outcome": "outcome", "LowestLevelTerm": "llt_name", "LLTCode": "llt_code",
                    "PreferredTerm": "preferred_term", "PTCode": "pt_code", "SystemOrganClass": "system_organ_class",
                    "SOCCode": "soc_code"}}
    sites_yaml = ctx.mappings_dir / "sites.yaml"
    dialect = {"601": {"reader": {"delimiter": "|", "decimal": ",", "encoding": "cp1252"}, "date_formats": ["%d-%b-%Y"]}}
    entry = yaml.safe_dump(dialect, default_flow_style=False, width=10_000)
    sites_yaml.write_text(sites_yaml.read_text() + "".join(f"  {line}\n" for line in entry.splitlines()))
    for name, form in (("dm.yaml", "dm"), ("ae.yaml", "ae"), ("ds.yaml", "dm")):
        path = ctx.mappings_dir / name
        text = path.read_text()
        rename = yaml.safe_dump({"601": {"rename": camel[form]}}, default_flow_style=True, width=10_000).strip()[1:-1]
        assert "reader" not in rename and "date_formats" not in rename
        # the new site's renames become the first entry of the first source's `sites:` block of this form
        marker = f'files: "site_*/{form}.csv"'
        head, tail = text.split(marker, 1)
        tail = tail.replace("    sites:\n", f"    sites:\n      {rename}\n", 1)
        path.write_text(head + marker + tail)
    run(ctx)
    dm = pd.read_parquet(ctx.outputs_dir / "sdtm" / "dm.parquet").set_index("SITEID")
    assert dm.loc["601", "USUBJID"] == "CFZ533X2202-601-0012"
    assert dm.loc["601", "COUNTRY"] == "ITA"
    columns = ["BRTHDTC", "AGE", "SEX", "RACE", "ETHNIC", "RFICDTC"]
    assert dm.loc["601", columns].tolist() == dm.loc["402", columns].tolist()
    ae = pd.read_parquet(ctx.outputs_dir / "sdtm" / "ae.parquet")
    by_site = {s: ae[ae["USUBJID"].str.contains(f"-{s}-")].drop(columns=["USUBJID"]).reset_index(drop=True)
               for s in ("402", "601")}
    pd.testing.assert_frame_equal(by_site["601"], by_site["402"], check_dtype=False)


MERGE_MAPPING = """\
domain: AE
sources:
  - form: ae
    files: "site_*/ae.csv"
    subject: subj
    reader: {delimiter: ","}
    date_formats: ["%Y-%m-%d"]
    values: {serious: {"S": "Y"}}
    sites:
      "702":
        reader: {decimal: "."}
        date_formats: ["%d/%m/%Y"]
        values: {severity: {"3": SEVERE}}
        rename: {Subj: subj}
required: [USUBJID]
variables:
  STUDYID: {hardcode: {design: study.studyid}}
  DOMAIN: {hardcode: AE}
  USUBJID: {concat: {columns: [STUDYID, _site, subj], sep: "-"}}
  AETERM: {assign: term}
  AESER: {assign: serious}
  AESEV: {assign: severity}
  AESTDTC: {iso8601: start}
"""
MERGE_SITES = """\
sites:
  "701":
    reader: {delimiter: ";", decimal: ","}
    date_formats: ["%d.%m.%Y"]
    values: {serious: {"1": "Y"}, severity: {"1": MILD}}
  "702":
    reader: {delimiter: ";", decimal: ","}
    date_formats: ["%d.%m.%Y"]
    values: {serious: {"1": "Y"}, severity: {"1": MILD}}
    rename: {Term: term}
  "799":   # a site without data is fine
    date_formats: ["%m-%d-%Y"]
"""


def test_site_defaults_merge_order_source_then_sites_yaml_then_domain_block(tmp_path):
    from pipeline.sdtm.mapping.spec import load_mapping, load_site_defaults

    defaults = load_site_defaults(write_text(tmp_path / "sites.yaml", MERGE_SITES))
    source = load_mapping(write_text(tmp_path / "ae.yaml", MERGE_MAPPING), site_defaults=defaults).sources[0]
    only_sites_yaml = source.for_site("701")
    assert only_sites_yaml.reader == {"delimiter": ";", "decimal": ","}
    assert only_sites_yaml.date_formats == ("%d.%m.%Y",)
    assert only_sites_yaml.values == {"serious": {"1": "Y"}, "severity": {"1": "MILD"}}
    both = source.for_site("702")
    assert both.reader == {"delimiter": ";", "decimal": "."}               # dicts merge, the domain block wins
    assert both.date_formats == ("%d/%m/%Y",)                               # lists: the domain block replaces
    assert both.values == {"serious": {"1": "Y"}, "severity": {"3": "SEVERE"}}  # a column's map replaced whole
    assert both.rename == {"Term": "term", "Subj": "subj"}
    neither = source.for_site("703")                                         # no entry anywhere: source defaults
    assert neither.reader == {"delimiter": ","} and neither.date_formats == ("%Y-%m-%d",)
    assert neither.values == {"serious": {"S": "Y"}}
    assert source.for_site("799").date_formats == ("%m-%d-%Y",)


def test_site_defaults_reach_the_sdtm_records_through_the_stage(tmp_path):
    ctx = make_ctx(tmp_path, {"ae.yaml": MERGE_MAPPING, "sites.yaml": MERGE_SITES})
    for site, text in {"701": "subj;term;serious;severity;start\n1;Headache;1;1;02.03.2020\n",
                       "702": "Subj;Term;serious;severity;start\n2;Nausea;1;3;04/05/2020\n",
                       "703": "subj,term,serious,severity,start\n3,Rash,S,MILD,2020-06-07\n"}.items():
        write_text(ctx.raw_dir / f"site_{site}" / "ae.csv", text)
    run(ctx)
    ae = pd.read_parquet(ctx.outputs_dir / "sdtm" / "ae.parquet")
    rows = ae[["USUBJID", "AETERM", "AESER", "AESEV", "AESTDTC"]].sort_values("USUBJID").values.tolist()
    assert rows == [["CFZ533X2202-701-1", "Headache", "Y", "MILD", "2020-03-02"],
                    ["CFZ533X2202-702-2", "Nausea", "Y", "SEVERE", "2020-05-04"],
                    ["CFZ533X2202-703-3", "Rash", "Y", "MILD", "2020-06-07"]]


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
