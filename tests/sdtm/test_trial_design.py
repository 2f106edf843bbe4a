"""Trial design domains from study.yaml + trial_design.yaml, and subject elements (SE)."""

import copy

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError
from pipeline.common.study import StudyContext
from pipeline.sdtm.trial_design import build_se, build_trial_design, build_ts
from pipeline.standards.terminology import load_terminology


@pytest.fixture(scope="module")
def ctx():
    return StudyContext.create("iscalimab-ln")


@pytest.fixture(scope="module")
def domains(ctx):
    return build_trial_design(ctx.design, ctx.spec("trial_design"))


@pytest.fixture(scope="module")
def ts(domains):
    return domains["TS"]


def ts_values(ts, code):
    return ts.loc[ts["TSPARMCD"] == code, "TSVAL"].tolist()


@pytest.mark.parametrize(
    "code, values",
    [
        ("TPHASE", ["PHASE II TRIAL"]),
        ("TBLIND", ["DOUBLE BLIND"]),
        ("TCNTRL", ["PLACEBO"]),
        ("RANDOM", ["Y"]),
        ("RANDQT", ["0.67"]),
        ("NARMS", ["2"]),
        ("PLANSUB", ["60"]),
        ("ACTSUB", ["57"]),
        ("ADDON", ["Y"]),
        ("AGEMIN", ["P18Y"]),
        ("AGEMAX", ["P75Y"]),
        ("SEXPOP", ["BOTH"]),
        ("STYPE", ["INTERVENTIONAL"]),
        ("INTMODEL", ["PARALLEL"]),
        ("SSTDTC", ["2018-09-12"]),
        ("SENDTC", ["2023-06-29"]),
        ("REGID", ["NCT03610516", "2017-003230-93"]),
        ("SPONSOR", ["Novartis"]),
        ("TRT", ["ISCALIMAB"]),
        ("FCNTRY", ["DEU", "ESP", "FRA", "JPN", "USA"]),
        ("ROUTE", ["INTRAVENOUS"]),
        ("SDTIGVER", ["3.4"]),
    ],
)
def test_ts_parameter_values(ts, code, values):
    assert ts_values(ts, code) == values


def test_ts_codes_come_from_controlled_terminology(ts):
    row = ts.set_index("TSPARMCD").loc["TBLIND"]
    assert row[["TSPARM", "TSVALCD", "TSVCDREF", "TSVCDVER"]].tolist() == ["Trial Blinding Schema", "C15228", "CDISC CT", "2025-03-28"]


def test_ts_dates_and_durations_reference_iso8601(ts):
    refs = ts.set_index("TSPARMCD").loc[["SSTDTC", "AGEMIN", "LENGTH"], "TSVCDREF"].tolist()
    assert refs == ["ISO 8601"] * 3


def test_ts_registry_ids_name_their_registry(ts):
    regid = ts[ts["TSPARMCD"] == "REGID"]
    assert regid[["TSSEQ", "TSVALCD", "TSVCDREF"]].values.tolist() == [[1, "NCT03610516", "ClinicalTrials.gov"], [2, "2017-003230-93", "EudraCT"]]


def test_ts_long_title_continues_in_tsval1(ts, ctx):
    title = ts.set_index("TSPARMCD").loc["TITLE"]
    assert len(title["TSVAL"]) <= 200
    full = " ".join(ctx.design["study"]["title"].split())
    assert f"{title['TSVAL']} {title['TSVAL1']}" == full
    assert list(ts.columns[ts.columns.get_loc("TSVAL") : ts.columns.get_loc("TSVAL") + 2]) == ["TSVAL", "TSVAL1"]


def test_ts_missing_value_has_null_flavor(ts):
    row = ts.set_index("TSPARMCD").loc["STRATFCT"]
    assert row["TSVAL"] is None and row["TSVALNF"] == "UNK"


def test_ts_has_required_fda_parameters_and_unique_keys(ts):
    assert {"SSTDTC", "TITLE", "SPONSOR", "REGID", "TRT", "PLANSUB", "ACTSUB", "SDTMVER"} <= set(ts["TSPARMCD"])
    assert not ts.duplicated(["TSPARMCD", "TSSEQ"]).any()
    assert (ts["STUDYID"] == "CFZ533X2202").all() and (ts["DOMAIN"] == "TS").all()


def test_ts_actsub_counts_randomised_subjects_when_dm_is_given(ctx):
    dm = pd.DataFrame({"USUBJID": ["A", "B", "C"], "ARMCD": ["ISCAL10", "PBO", "SCRNFAIL"]})
    ts = build_ts(ctx.design, ctx.spec("trial_design"), load_terminology(), dm=dm)
    assert ts_values(ts, "ACTSUB") == ["2"]


def test_ts_value_outside_non_extensible_codelist_is_a_config_error(ctx):
    spec = {"ts_parameters": [{"tsparmcd": "SEXPOP", "values": ["ALL"]}]}
    with pytest.raises(ConfigError, match="SEXPOP.*'ALL'.*non-extensible"):
        build_ts(ctx.design, spec, load_terminology())


def test_ts_unknown_parameter_needs_a_tsparm(ctx):
    with pytest.raises(ConfigError, match="NOPE.*give tsparm"):
        build_ts(ctx.design, {"ts_parameters": [{"tsparmcd": "NOPE", "values": ["x"]}]}, load_terminology())


def test_ta_lists_each_arm_elements_in_order(domains):
    ta = domains["TA"]
    assert ta[["ARMCD", "TAETORD", "ETCD", "EPOCH"]].values.tolist() == [
        ["ISCAL10", 1, "SCRN", "SCREENING"],
        ["ISCAL10", 2, "ISCAL", "TREATMENT"],
        ["ISCAL10", 3, "FU", "FOLLOW-UP"],
        ["PBO", 1, "SCRN", "SCREENING"],
        ["PBO", 2, "PBO", "TREATMENT"],
        ["PBO", 3, "FU", "FOLLOW-UP"],
    ]
    assert ta["TABRANCH"].tolist()[0] == "Randomized to Iscalimab 10 mg/kg"


def test_te_has_rules_for_every_element(domains):
    te = domains["TE"].set_index("ETCD")
    assert sorted(te.index) == ["FU", "ISCAL", "PBO", "SCRN"]
    assert te["TESTRL"].notna().all()
    assert te.loc["ISCAL", "TEDUR"] == "P24W"


def test_tv_has_one_row_per_planned_visit(domains, ctx):
    tv = domains["TV"]
    assert tv["VISITNUM"].tolist() == [float(v["visitnum"]) for v in ctx.design["visits"]]
    assert tv.set_index("VISIT").loc["WEEK 24", "VISITDY"] == 169
    assert tv["TVSTRL"].notna().all()


def test_ti_lists_inclusion_then_exclusion_criteria(domains):
    ti = domains["TI"]
    assert ti["IECAT"].unique().tolist() == ["INCLUSION", "EXCLUSION"]
    assert ti["IETESTCD"].str.len().max() <= 8
    assert ti["IETEST"].str.len().max() <= 200
    assert ti["IETESTCD"].is_unique


def test_trial_design_missing_arm_elements_is_a_config_error(ctx):
    spec = copy.deepcopy(ctx.spec("trial_design"))
    del spec["arm_elements"]["PBO"]
    with pytest.raises(ConfigError, match="no element list for arm PBO"):
        build_trial_design(ctx.design, spec)


# ---- SE ---------------------------------------------------------------------------------------

SE_DM = pd.DataFrame(
    {
        "STUDYID": "X",
        "USUBJID": ["S1", "S2", "S3", "S4"],
        "ACTARMCD": ["ISCAL10", "SCRNFAIL", "PBO", "PBO"],
        "RFSTDTC": ["2019-01-10T09:00", None, "2019-02-01T10:00", "2019-03-01"],
        "RFICDTC": ["2018-12-20", "2019-01-05", "2019-01-15", "2019-02-10"],
        "RFXSTDTC": ["2019-01-10T09:00", None, "2019-02-01T10:00", "2019-03-01"],
        "RFXENDTC": ["2019-05-30T10:00", None, "2019-02-01T11:00", "2019-08-01"],
        "RFPENDTC": ["2019-12-01", "2019-01-20", "2019-02-15", None],
    }
)


@pytest.fixture(scope="module")
def se(ctx):
    return build_se(SE_DM, None, None, ctx.design, ctx.spec("trial_design"))


def elements_of(se, usubjid):
    return se.loc[se["USUBJID"] == usubjid, ["ETCD", "SESTDTC", "SEENDTC"]].values.tolist()


def test_se_treated_subject_has_screening_treatment_follow_up(se):
    assert elements_of(se, "S1") == [
        ["SCRN", "2018-12-20", "2019-01-10T09:00"],
        ["ISCAL", "2019-01-10T09:00", "2019-06-27"],  # last dose + 28 days
        ["FU", "2019-06-27", "2019-12-01"],
    ]


def test_se_screen_failure_has_screening_until_end_of_participation(se):
    assert elements_of(se, "SF") == [] and elements_of(se, "S2") == [["SCRN", "2019-01-05", "2019-01-20"]]


def test_se_treatment_end_is_capped_at_end_of_study_and_follow_up_dropped(se):
    assert elements_of(se, "S3") == [["SCRN", "2019-01-15", "2019-02-01T10:00"], ["PBO", "2019-02-01T10:00", "2019-02-15"]]


def test_se_one_day_screen_failure_keeps_its_screening_element(ctx):
    dm = SE_DM.iloc[[1]].assign(RFPENDTC="2019-01-05")
    se = build_se(dm, None, None, ctx.design, ctx.spec("trial_design"))
    assert se[["ETCD", "SESTDTC", "SEENDTC", "EPOCH"]].values.tolist() == [["SCRN", "2019-01-05", "2019-01-05", "SCREENING"]]


def test_se_dosed_subject_without_actual_arm_follows_planned_arm(ctx):
    dm = SE_DM.iloc[[0]].assign(ACTARMCD=None, ARMCD="ISCAL10")
    se = build_se(dm, None, None, ctx.design, ctx.spec("trial_design"))
    assert se["ETCD"].tolist() == ["SCRN", "ISCAL", "FU"]


def test_se_ongoing_subject_has_open_follow_up(se):
    assert elements_of(se, "S4")[-1] == ["FU", "2019-08-29", None]


def test_se_sequence_and_study_days(se):
    s1 = se[se["USUBJID"] == "S1"]
    assert s1["SESEQ"].tolist() == [1, 2, 3]
    assert s1["SESTDY"].tolist() == [-21, 1, 169]
    assert s1["EPOCH"].tolist() == ["SCREENING", "TREATMENT", "FOLLOW-UP"]


def test_se_falls_back_to_ex_for_dose_dates(ctx):
    dm = SE_DM.iloc[[0]].drop(columns=["RFXSTDTC", "RFXENDTC"])
    ex = pd.DataFrame({"USUBJID": ["S1", "S1"], "EXSTDTC": ["2019-01-10T09:00", "2019-02-07T09:00"]})
    se = build_se(dm, ex, None, ctx.design, ctx.spec("trial_design"))
    assert se["SEENDTC"].tolist()[1] == "2019-03-07"


def test_arm_paths_inferred_from_study_yaml_match_trial_design_yaml(ctx):
    from pipeline.sdtm.trial_design import default_arm_paths

    inferred = default_arm_paths(ctx.design)
    spec = ctx.spec("trial_design")
    assert inferred["arm_elements"] == spec["arm_elements"]
    assert inferred["element_anchors"] == spec["element_anchors"]


def test_se_without_trial_design_uses_inferred_paths(ctx, se):
    pd.testing.assert_frame_equal(build_se(SE_DM, None, None, ctx.design), se)


@pytest.mark.parametrize("domain", ["TS", "TA", "TE", "TV", "TI"])
def test_trial_design_columns_follow_sdtmig_order(domains, project_root, domain):
    meta = pd.read_csv(project_root / "specs/standards/sdtmig-3.4-variables.tsv", sep="\t", dtype=str)
    order = meta.loc[meta["domain"] == domain].sort_values("order", key=lambda s: s.astype(int))["variable"].tolist()
    columns = [c for c in domains[domain].columns if not (domain == "TS" and c.startswith("TSVAL") and c[5:].isdigit())]
    assert columns == [c for c in order if c in columns]
    required = meta.loc[(meta["domain"] == domain) & (meta["core"] == "Req"), "variable"]
    assert domains[domain][list(required)].notna().all().all()


def test_ts_value_over_400_characters_uses_tsval1_and_tsval2(ctx):
    spec = {"ts_parameters": [{"tsparmcd": "OBJPRIM", "values": [" ".join(["objective"] * 50)]}]}
    ts = build_ts(ctx.design, spec, load_terminology())
    row = ts.set_index("TSPARMCD").loc["OBJPRIM"]
    assert " ".join(row[["TSVAL", "TSVAL1", "TSVAL2"]]) == " ".join(["objective"] * 50)
    assert max(len(row[c]) for c in ["TSVAL", "TSVAL1", "TSVAL2"]) <= 200
