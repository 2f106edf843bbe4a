"""Unscheduled visits, missed visits and protocol deviations in the default simulation's raw exports.

Read back from the written files (tests/simulate/conftest.py readers) and the truth in _truth/.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from pipeline.common.errors import ConfigError
from pipeline.simulate.config import example_inputs
from pipeline.simulate.render import SiteDialect
from pipeline.simulate.visit_log import check_visit_log_spec


def _unscheduled_pattern(template: str) -> str:
    return "^" + re.escape(template).replace(re.escape("{k}"), r"\d+") + "$"


def _sv(raw) -> pd.DataFrame:
    frames = []
    for site in raw.sites:
        sv = raw.read(site, "sv")
        sv["usubjid"] = raw.usubjid(site, sv["subject"])
        sv["done_decoded"] = raw.decode(site, "yes_no", sv["visit_done"] if "visit_done" in sv else sv["done"])
        sv["unscheduled"] = sv["visit"].str.fullmatch(_unscheduled_pattern(raw.dialect(site)["unscheduled"]))
        sv["date_parsed"] = raw.parse_dates(sv["date"], site)
        frames.append(sv)
    return raw.clean(pd.concat(frames, ignore_index=True), "sv")


@pytest.fixture(scope="module")
def subjects(raw) -> pd.DataFrame:
    return pd.read_csv(raw.raw_dir / "_truth" / "subjects.csv", dtype=str, keep_default_na=False)


def test_every_site_writes_unscheduled_visits_in_its_own_dialect(raw):
    names = {}
    for site in raw.sites:
        pattern = _unscheduled_pattern(raw.dialect(site)["unscheduled"])
        for form in ("lab", "vs", "sv"):
            visits = raw.read(site, form)["visit"]
            hits = visits[visits.str.fullmatch(pattern)]
            if form == "sv":
                names[site] = sorted(hits.unique())
            assert not hits.empty or form == "vs", (site, form)
    assert names["201"][0] == "UNS 1" and names["301"] == ["Unsch."] and names["402"][0] == "Unscheduled Visit 1"
    assert names["101"] == ["UNSCHEDULED"] and names["102"] == ["Unscheduled"] and names["401"][0] == "UNSCH1"


def test_a_realistic_share_of_subjects_has_unscheduled_visits(subjects):
    rand = subjects[subjects["randomised"] == "Y"]
    share = (rand["unscheduled_visits"].astype(int) > 0).mean()
    assert 0.15 <= share <= 0.5
    assert set(rand["unscheduled_visits"].astype(int)) == {0, 1, 2}
    assert (subjects.loc[subjects["randomised"] == "N", "unscheduled_visits"] == "0").all()


def test_unscheduled_visits_fall_between_planned_visits_and_outside_endpoint_windows(raw):
    sv = _sv(raw)
    planned = sv[~sv["unscheduled"] & sv["date_parsed"].notna()]
    day = {v["visit"]: v["day"] for v in raw.design["visits"]}
    for _, row in sv[sv["unscheduled"] & sv["date_parsed"].notna()].iterrows():
        mine = planned[planned["usubjid"] == row["usubjid"]].sort_values("date_parsed")
        before = mine[mine["date_parsed"] < row["date_parsed"]]
        after = mine[mine["date_parsed"] > row["date_parsed"]]
        assert not before.empty and not after.empty, row["usubjid"]
        gap_before = (row["date_parsed"] - before["date_parsed"].iloc[-1]).days
        assert 5 <= gap_before <= 12, (row["usubjid"], gap_before)
        previous = raw.visit_names(row["_site"], before["visit"]).iloc[-1]
        assert previous in {"WEEK 4", "WEEK 8", "WEEK 12", "WEEK 16"}
        assert day[previous] < day["WEEK 24"]


def test_unscheduled_labs_are_repeat_safety_labs_without_endpoint_tests(raw):
    labs = raw.labs()
    unscheduled = pd.concat([labs[labs["_site"] == s]["visit"].str.fullmatch(_unscheduled_pattern(raw.dialect(s)["unscheduled"]))
                             for s in raw.sites]).reindex(labs.index)
    tests = set(labs.loc[unscheduled.fillna(False).astype(bool), "test_key"].dropna())
    assert tests == {"CREAT", "UPROT", "UCREAT", "PLAT", "WBC"}


def test_missed_visits_are_follow_up_visits_not_done_without_a_date(raw, subjects):
    sv = _sv(raw)
    not_done = sv[sv["done_decoded"] == "N"]
    assert len(not_done) == 4
    assert (not_done["date"] == "").all()
    names = set(pd.concat([raw.visit_names(s, g["visit"]) for s, g in not_done.groupby("_site")]))
    assert names <= {"WEEK 28", "WEEK 36"}
    truth = subjects.set_index("usubjid")
    assert sorted(truth.index[truth["missed_visit"] != ""]) == sorted(not_done["usubjid"])
    assert (truth.loc[not_done["usubjid"], "w24_sample"] == "Y").all()
    # no lab, vital signs or SLEDAI data at a missed visit
    labs = raw.labs()
    for usubjid, visit in zip(not_done["usubjid"], truth.loc[not_done["usubjid"], "missed_visit"]):
        assert labs[(labs["usubjid"] == usubjid) & (labs["visit_name"] == visit)].empty


def test_each_site_writes_a_deviation_log_with_a_handful_of_major_deviations(raw, subjects):
    frames = []
    for site in raw.sites:
        dv = raw.read(site, "dv")
        assert list(raw.column_map(site, "dv").values())[:3] == ["subject", "line", "term"]
        dv["usubjid"] = raw.usubjid(site, dv["subject"])
        dv["severity_decoded"] = raw.decode(site, "dv_severity", dv["severity"])
        dv["date_parsed"] = raw.parse_dates(dv["start_date"], site)
        frames.append(dv)
    dv = pd.concat(frames, ignore_index=True)
    assert set(dv["severity_decoded"]) == {"MAJOR", "MINOR"}
    assert dv["date_parsed"].notna().all() and (dv["term"] != "").all()
    major = sorted(dv.loc[dv["severity_decoded"] == "MAJOR", "usubjid"].unique())
    assert len(major) == 4
    assert major == sorted(subjects.loc[subjects["major_deviation"] == "Y", "usubjid"])
    # the French site writes its deviation terms in French
    assert dv.loc[dv["_site"] == "201", "term"].str.contains(r"[éèà]|Visite|Perfusion|Échantillon|Consentement|Vaccin|Signes",
                                                              regex=True).all()


def test_per_protocol_truth_is_full_analysis_set_without_major_deviation(subjects):
    rand = subjects[subjects["randomised"] == "Y"]
    expected = np.where(rand["major_deviation"] == "Y", "N", "Y")
    assert (rand["per_protocol"].to_numpy() == expected).all()
    assert int((rand["per_protocol"] == "Y").sum()) == 57 - 4


def test_unscheduled_rows_never_carry_defects_and_published_defects_stay(raw):
    defects = raw.defects()
    for site in raw.sites:
        pattern = _unscheduled_pattern(raw.dialect(site)["unscheduled"])
        for form in ("lab", "vs", "sv"):
            frame = raw.read(site, form)
            rows = set(frame.loc[frame["visit"].str.fullmatch(pattern), "_row"])
            hit = defects[(defects["file"].str.startswith(f"site_{site}/{form}.")) & defects["row"].astype(int).isin(rows)]
            # a duplicate's copy sits right after its original; only the original can be unscheduled
            assert hit[hit["defect_class"] != "duplicate_row"].empty, (site, form)


def test_dialect_names_unscheduled_visits_with_a_running_number():
    inputs = example_inputs()
    d = SiteDialect("401", inputs.sim["site_dialects"]["401"], inputs)
    assert d.visits(["WEEK 4", "UNSCHEDULED", "UNSCHEDULED"], [5, 5.01, 6.01], [0, 1, 2]).tolist() == ["V5", "UNSCH1", "UNSCH2"]
    d = SiteDialect("102", inputs.sim["site_dialects"]["102"], inputs)
    assert d.visits(["WEEK 4", "UNSCHEDULED"], [5, 5.01], [0, 1]).tolist() == ["Week 4", "Unscheduled"]


@pytest.mark.parametrize("change, message", [
    ({"missed_visits": {"subjects": 2, "visits": ["WEEK 24"]}}, "endpoint visit"),
    ({"missed_visits": {"subjects": 2, "visits": ["WEEK 8"]}}, "infusion visit"),
    ({"unscheduled_visits": {"subject_share": 0.3, "after": ["WEEK 4"], "days_after": [2, 5], "lab_tests": ["PLAT"]}},
     "twice visit_jitter_days"),
    ({"unscheduled_visits": {"subject_share": 0.3, "after": ["WEEK 2"], "days_after": [5, 8], "lab_tests": ["PLAT"]}},
     "not a lab and vital-signs visit"),
    ({"unscheduled_visits": {"subject_share": 0.3, "after": ["WEEK 4"], "days_after": [5, 40], "lab_tests": ["PLAT"]}},
     "can reach the next planned visit"),
])
def test_visit_log_spec_errors_name_the_key(change, message):
    inputs = example_inputs()
    bad = inputs.__class__(**{**inputs.__dict__, "sim": {**inputs.sim, **change}})
    with pytest.raises(ConfigError, match=message):
        check_visit_log_spec(bad)


def test_unscheduled_name_with_an_unknown_placeholder_is_a_config_error():
    from pipeline.common.specfile import load_spec
    from pipeline.simulate.config import _check_sim

    inputs = example_inputs()
    dialects = {**inputs.sim["site_dialects"], "301": {**inputs.sim["site_dialects"]["301"], "unscheduled": "UNS {n}"}}
    with pytest.raises(ConfigError, match=r"site_dialects.301.unscheduled 'UNS \{n\}' may only use"):
        _check_sim({**inputs.sim, "site_dialects": dialects}, inputs.sim_path, inputs.design,
                   load_spec(inputs.sim_path.parents[1] / "standards" / "instruments" / "selena-sledai.yaml"))


def test_visit_log_and_deviations_move_no_other_record_or_defect(tmp_path):
    """The same seed without unscheduled/missed visits and deviations: identical defects and endpoint truth."""
    from pipeline.simulate.stage import simulate

    inputs = example_inputs()
    plain_sim = {k: v for k, v in inputs.sim.items() if k not in ("unscheduled_visits", "missed_visits", "protocol_deviations")}
    plain = inputs.__class__(**{**inputs.__dict__, "sim": plain_sim})
    simulate(tmp_path / "with", inputs)
    simulate(tmp_path / "without", plain)
    keys = ["defect_class", "file", "column", "usubjid", "original_value", "injected_value"]
    with_d, without_d = (pd.read_csv(tmp_path / k / "_truth" / "defects.csv", dtype=str, keep_default_na=False)
                         for k in ("with", "without"))
    assert sorted(map(tuple, with_d[keys].to_numpy())) == sorted(map(tuple, without_d[keys].to_numpy()))
    with_s, without_s = (pd.read_csv(tmp_path / k / "_truth" / "subjects.csv", dtype=str, keep_default_na=False)
                         for k in ("with", "without"))
    shared = [c for c in without_s.columns if c not in ("major_deviation", "per_protocol", "unscheduled_visits", "missed_visit")]
    pd.testing.assert_frame_equal(with_s[shared], without_s[shared])
    assert (without_s["unscheduled_visits"] == "0").all() and (without_s["missed_visit"] == "").all()
    assert (without_s["major_deviation"] == "N").all()
    # files that no unscheduled/missed visit touches are byte-identical
    for name in ("ae.csv", "cm.csv", "ex.csv", "dm.csv"):
        assert (tmp_path / "with" / "site_101" / name).read_bytes() == (tmp_path / "without" / "site_101" / name).read_bytes()
