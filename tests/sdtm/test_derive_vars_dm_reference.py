"""derive_vars_dm_reference: DM reference dates, death, planned and actual arms, age at consent."""

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError, InputError
from pipeline.sdtm.derive_vars_dm_reference import derive_vars_dm_reference

DESIGN = {
    "arms": [
        {"armcd": "ISCAL10", "arm": "Iscalimab 10 mg/kg", "extrt": "ISCALIMAB"},
        {"armcd": "PBO", "arm": "Placebo", "extrt": "PLACEBO"},
    ],
    "screen_failure": {"armcd": "SCRNFAIL", "arm": "Screen Failure"},
    "not_assigned": {"armcd": "NOTASSGN", "arm": "Not Assigned"},
}

# S1 treated as planned; S2 screen failure; S3 randomised never dosed; S4 got both treatments;
# S5 died; S6 consented, neither randomised nor screen-failed.
DM = pd.DataFrame(
    {
        "STUDYID": "X",
        "USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6"],
        "ARMCD": ["ISCAL10", None, "PBO", "PBO", "PBO", None],
        "BRTHDTC": ["1980-06-15", "1990-01-01", "1975", "1985-03-10", "1960-12-31", None],
    }
)
EX = pd.DataFrame(
    {
        "USUBJID": ["S1", "S1", "S1", "S4", "S4", "S5"],
        "EXTRT": ["ISCALIMAB", "ISCALIMAB", "ISCALIMAB", "PLACEBO", "ISCALIMAB", "PLACEBO"],
        "EXSTDTC": ["2019-01-24T09:00", "2019-01-10T09:00", "2019-02", "2019-03-01T10:00", "2019-03-15T10:00", "2019-04-01T08:00"],
        "EXENDTC": ["2019-01-24T10:00", "2019-01-10T10:00", None, "2019-03-01T11:00", "2019-03-15T11:00", "2019-04-01T09:00"],
    }
)
DS = pd.DataFrame(
    {
        "USUBJID": ["S1", "S1", "S1", "S2", "S2", "S3", "S3", "S3", "S4", "S4", "S5", "S5", "S6"],
        "DSDECOD": [
            "INFORMED CONSENT OBTAINED", "RANDOMIZED", "COMPLETED",
            "INFORMED CONSENT OBTAINED", "SCREEN FAILURE",
            "INFORMED CONSENT OBTAINED", "RANDOMIZED", "WITHDRAWAL BY SUBJECT",
            "INFORMED CONSENT OBTAINED", "RANDOMIZED",
            "INFORMED CONSENT OBTAINED", "DEATH",
            "INFORMED CONSENT OBTAINED",
        ],
        "DSSTDTC": [
            "2018-12-20", "2019-01-08", "2019-12-01",
            "2019-02-01", "2019-02-15",
            "2019-02-01", "2019-02-20", "2019-03-01",
            "2019-02-20", "2019-02-27",
            "2019-03-20", "2019-05-02",
            "2019-04-01",
        ],
    }
)


@pytest.fixture(scope="module")
def dm():
    return derive_vars_dm_reference(DM, EX, DS, DESIGN).set_index("USUBJID")


def test_reference_dates_of_a_treated_subject(dm):
    assert dm.loc["S1", ["RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC"]].tolist() == [
        "2019-01-10T09:00", "2019-01-24T10:00", "2019-01-10T09:00", "2019-01-24T10:00", "2018-12-20", "2019-12-01",
    ]


def test_screen_failure_gets_scrnfail_codes_and_no_reference_start(dm):
    assert dm.loc["S2", ["ARMCD", "ARM", "ACTARMCD", "ACTARM"]].tolist() == ["SCRNFAIL", "Screen Failure", "SCRNFAIL", "Screen Failure"]
    assert dm.loc["S2", "RFSTDTC"] is None and dm.loc["S2", "RFENDTC"] is None
    assert dm.loc["S2", "RFPENDTC"] == "2019-02-15"


def test_randomised_never_dosed_uses_randomisation_date_and_armnrs(dm):
    row = dm.loc["S3"]
    assert row[["RFSTDTC", "RFENDTC", "RFXSTDTC"]].tolist() == ["2019-02-20", "2019-03-01", None]
    assert row[["ARMCD", "ACTARMCD", "ACTARM", "ARMNRS"]].tolist() == ["PBO", None, None, "ASSIGNED, NOT TREATED"]


def test_subject_given_both_treatments_has_unplanned_actual_arm(dm):
    row = dm.loc["S4"]
    assert row[["ACTARMCD", "ARMNRS", "ACTARMUD"]].tolist() == [None, "UNPLANNED TREATMENT", "Iscalimab 10 mg/kg + Placebo"]


def test_death_from_ds_sets_dthfl_and_dthdtc(dm):
    assert dm.loc["S5", ["DTHFL", "DTHDTC"]].tolist() == ["Y", "2019-05-02"]
    assert dm.loc["S1", "DTHFL"] is None


def test_consented_but_not_randomised_is_not_assigned(dm):
    assert dm.loc["S6", ["ARMCD", "ACTARMCD"]].tolist() == ["NOTASSGN", "NOTASSGN"]


@pytest.mark.parametrize(
    "usubjid, age",
    [("S1", 38), ("S2", 29), ("S3", None), ("S4", 33), ("S5", 58), ("S6", None)],
)
def test_age_in_completed_years_at_consent(dm, usubjid, age):
    value = dm.loc[usubjid, "AGE"]
    assert (pd.isna(value) and age is None) or value == age
    assert dm.loc[usubjid, "AGEU"] == (None if age is None else "YEARS")


def test_partial_birth_date_gives_age_when_unambiguous():
    dm = pd.DataFrame({"STUDYID": "X", "USUBJID": ["S1"], "ARMCD": ["PBO"], "BRTHDTC": ["1980-03"]})
    ds = pd.DataFrame({"USUBJID": ["S1"], "DSDECOD": ["INFORMED CONSENT OBTAINED"], "DSSTDTC": ["2019-06-15"]})
    out = derive_vars_dm_reference(dm, EX.iloc[0:0], ds, DESIGN)
    assert out["AGE"].tolist() == [39]


def test_collected_age_is_kept():
    out = derive_vars_dm_reference(DM.assign(AGE=[50, None, None, None, None, None]), EX, DS, DESIGN)
    assert out["AGE"].iloc[0] == 50 and out["AGE"].iloc[1] == 29


def test_armnrs_style_leaves_screen_failure_arms_null():
    out = derive_vars_dm_reference(DM, EX, DS, DESIGN, arm_null="armnrs").set_index("USUBJID")
    assert out.loc["S2", ["ARMCD", "ARM", "ACTARMCD", "ARMNRS"]].tolist() == [None, None, None, "SCREEN FAILURE"]
    assert out.loc["S6", "ARMNRS"] == "NOT ASSIGNED"


def test_rfendtc_from_end_of_participation():
    out = derive_vars_dm_reference(DM, EX, DS, DESIGN, rfendtc_from="end_of_participation").set_index("USUBJID")
    assert out.loc["S1", "RFENDTC"] == "2019-12-01"


def test_output_keeps_rows_index_and_input():
    copy = DM.copy()
    out = derive_vars_dm_reference(DM, EX, DS, DESIGN)
    assert out["USUBJID"].tolist() == DM["USUBJID"].tolist()
    pd.testing.assert_frame_equal(DM, copy)


@pytest.mark.parametrize(
    "dm, ex, error, message",
    [
        (DM.assign(ARMCD=["XYZ"] + [None] * 5), EX, InputError, "ARMCD not an arm.*USUBJID=S1, ARMCD=XYZ"),
        (DM, EX.assign(EXTRT="ASPIRIN"), InputError, "EXTRT not a treatment.*ASPIRIN"),
        (pd.concat([DM, DM.iloc[[0]]]), EX, InputError, "more than one record per subject"),
        (DM.drop(columns="ARMCD"), EX, InputError, "dataset dm: missing column"),
    ],
)
def test_bad_input_names_the_culprit(dm, ex, error, message):
    with pytest.raises(error, match=message):
        derive_vars_dm_reference(dm, ex, DS, DESIGN)


def test_bad_design_is_a_config_error():
    with pytest.raises(ConfigError, match="arms"):
        derive_vars_dm_reference(DM, EX, DS, {"arms": []})


def test_rfpendtc_takes_later_dates_from_dataset_add():
    visits = pd.DataFrame({"USUBJID": ["S1", "S2"], "DTC": ["2020-01-15T10:00", "2019-01-01"]})
    out = derive_vars_dm_reference(DM, EX, DS, DESIGN, dataset_add=visits).set_index("USUBJID")
    assert out.loc["S1", "RFPENDTC"] == "2020-01-15T10:00"
    assert out.loc["S2", "RFPENDTC"] == "2019-02-15"  # an earlier date does not move it


def test_collected_rficdtc_and_dthdtc_in_dm_win():
    dm = DM.assign(RFICDTC=["2018-12-19", None, None, None, None, None], DTHDTC=[None, None, None, None, "2019-05-01", None])
    out = derive_vars_dm_reference(dm, EX, DS, DESIGN).set_index("USUBJID")
    assert out.loc["S1", "RFICDTC"] == "2018-12-19" and out.loc["S3", "RFICDTC"] == "2019-02-01"
    assert out.loc["S5", ["DTHFL", "DTHDTC"]].tolist() == ["Y", "2019-05-01"]


TWO_DOSES = {**DESIGN, "arms": [
    {"armcd": "X54", "arm": "Drug 54 mg", "extrt": "DRUG", "exdose": 54},
    {"armcd": "X81", "arm": "Drug 81 mg", "extrt": "DRUG", "exdose": 81},
    {"armcd": "PBO", "arm": "Placebo", "extrt": "PLACEBO"},
]}


def test_two_dose_arms_of_one_drug_are_told_apart_by_exdose():
    dm = pd.DataFrame({"STUDYID": "X", "USUBJID": ["A", "B", "C"], "ARMCD": ["X54", "X81", "X54"]})
    ex = pd.DataFrame({"USUBJID": ["A", "B", "C", "C"], "EXTRT": ["DRUG", "DRUG", "DRUG", "DRUG"],
                       "EXDOSE": [54, 81, 54, 81], "EXSTDTC": ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-17"]})
    ds = pd.DataFrame(columns=["USUBJID", "DSDECOD", "DSSTDTC"])
    out = derive_vars_dm_reference(dm, ex, ds, TWO_DOSES).set_index("USUBJID")
    assert out[["ACTARMCD", "ACTARM", "ARMNRS"]].values.tolist() == [
        ["X54", "Drug 54 mg", None], ["X81", "Drug 81 mg", None], [None, None, "UNPLANNED TREATMENT"]]
    assert out.loc["C", "ACTARMUD"] == "Drug 54 mg + Drug 81 mg"


@pytest.mark.parametrize("arms, message", [
    ([{"armcd": "A", "arm": "a", "extrt": "DRUG"}, {"armcd": "B", "arm": "b", "extrt": "DRUG"}],
     "arms A, B share extrt DRUG: give each a different exdose"),
    ([{"armcd": "A", "arm": "a", "extrt": "DRUG", "exdose": "high"}], r"arms\[0\]\.exdose must be a number"),
])
def test_arms_that_exposure_cannot_tell_apart_are_a_config_error(arms, message):
    with pytest.raises(ConfigError, match=message):
        derive_vars_dm_reference(DM, EX, DS, {**DESIGN, "arms": arms})


def test_a_dose_of_no_arm_is_named():
    dm = pd.DataFrame({"STUDYID": "X", "USUBJID": ["A"], "ARMCD": ["X54"]})
    ex = pd.DataFrame({"USUBJID": ["A"], "EXTRT": ["DRUG"], "EXDOSE": [60], "EXSTDTC": ["2020-01-01"]})
    with pytest.raises(InputError, match=r"EXDOSE matches no arm's exdose \(X54=54, X81=81\).*USUBJID=A"):
        derive_vars_dm_reference(dm, ex, pd.DataFrame(columns=["USUBJID", "DSDECOD", "DSSTDTC"]), TWO_DOSES)


def test_mapped_actual_arm_reference_dates_and_death_flag_win_over_the_derivation():
    dm = DM.assign(ACTARMCD=[None, None, None, "PBO", None, None], RFENDTC=["2019-06-30", None, None, None, None, None],
                   DTHFL=[None, None, None, None, None, "Y"])
    out = derive_vars_dm_reference(dm, EX, DS, DESIGN).set_index("USUBJID")
    assert out.loc["S4", ["ACTARMCD", "ACTARM", "ARMNRS", "ACTARMUD"]].tolist() == ["PBO", "Placebo", None, None]
    assert out.loc["S1", "RFENDTC"] == "2019-06-30"
    assert out.loc["S6", "DTHFL"] == "Y"
    derived = derive_vars_dm_reference(DM, EX, DS, DESIGN).set_index("USUBJID")
    assert out.loc["S3", "RFENDTC"] == derived.loc["S3", "RFENDTC"]  # not given: derived as before


@pytest.mark.parametrize("rfstdtc_from, rfendtc_from, expected", [
    ("randomisation", "disposition", ["2019-01-08", "2019-12-01"]),
    ("consent", "last_dose", ["2018-12-20", "2019-01-24T10:00"]),
    ("first_dose", "end_of_participation", ["2019-01-10T09:00", "2019-12-01"]),
])
def test_reference_start_and_end_follow_the_declared_rule(rfstdtc_from, rfendtc_from, expected):
    out = derive_vars_dm_reference(DM, EX, DS, DESIGN, rfstdtc_from=rfstdtc_from, rfendtc_from=rfendtc_from)
    assert out.set_index("USUBJID").loc["S1", ["RFSTDTC", "RFENDTC"]].tolist() == expected
