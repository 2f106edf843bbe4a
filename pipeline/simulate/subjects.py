"""Subject-level truth: who is screened where, arm, demography, dates, disposition."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.simulate.config import SimulationInputs, compute_apportion, draw_by_share, rng_for

DAY = np.timedelta64(1, "D")


def compute_study_day_date(day1, study_day) -> np.ndarray:
    """Calendar date of a study day (no day 0: day -1 is the day before day 1).

    >>> d1 = np.array(["2024-01-10", "2024-01-10"], dtype="datetime64[D]")
    >>> compute_study_day_date(d1, np.array([1, -1])).astype(str).tolist()
    ['2024-01-10', '2024-01-09']
    """
    study_day = np.asarray(study_day, dtype=np.int64)
    offset = np.where(study_day > 0, study_day - 1, study_day)
    return np.asarray(day1, dtype="datetime64[D]") + offset * DAY


def _choose(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    k = int(min(k, len(pool)))
    return rng.choice(pool, size=k, replace=False) if k > 0 else pool[:0]


def build_subjects(inputs: SimulationInputs) -> pd.DataFrame:
    """One row per screened subject with arm, site, numbering, demography and key dates.

    >>> from pipeline.simulate.config import example_inputs
    >>> s = build_subjects(example_inputs())
    >>> s["armcd"].value_counts().to_dict(), s["usubjid"].iloc[0]
    ({'ISCAL10': 39, 'PBO': 18, 'SCRNFAIL': 14}, 'CFZ533X2202-101-0001')
    """
    sim, design = inputs.sim, inputs.design
    rng = rng_for(inputs.seed, "subjects")
    sites = inputs.sites
    weights = np.array([float(sim["site_weights"][str(s)]) for s in sites["siteid"]])
    arm_of_rand = np.concatenate([np.repeat(a["armcd"], inputs.n_by_arm[a["armcd"]]) for a in design["arms"]])
    rng.shuffle(arm_of_rand)
    n_rand, n_sf = len(arm_of_rand), inputs.n_screen_failures
    site_rand = np.repeat(sites["siteid"].to_numpy(), compute_apportion(n_rand, weights))
    site_sf = np.repeat(sites["siteid"].to_numpy(), compute_apportion(n_sf, weights))
    rng.shuffle(site_rand)
    rng.shuffle(site_sf)
    frame = pd.DataFrame({
        "siteid": np.concatenate([site_rand, site_sf]).astype(str),
        "armcd": np.concatenate([arm_of_rand, np.repeat(design["screen_failure"]["armcd"], n_sf)]),
        "randomised": np.r_[np.ones(n_rand, bool), np.zeros(n_sf, bool)],
    })
    n = len(frame)
    frame["screen_failure"] = ~frame["randomised"]
    frame = frame.merge(sites[["siteid", "country"]], on="siteid", how="left")
    enrol = sim["enrolment"]
    first = np.datetime64(str(enrol["first_consent"]), "D")
    span = int(enrol["months"] * 30.44)
    frame["consent_date"] = first + rng.integers(0, span, n) * DAY
    lo, hi = enrol["screening_window_days"]
    frame["screening_day"] = rng.integers(int(lo), int(hi) + 1, n)
    frame["day1_date"] = frame["consent_date"].to_numpy(dtype="datetime64[D]") - frame["screening_day"].to_numpy() * DAY
    frame["_tiebreak"] = rng.random(n)
    frame = frame.sort_values(["siteid", "consent_date", "_tiebreak"], kind="mergesort").reset_index(drop=True)
    frame["subject_number"] = frame.groupby("siteid").cumcount() + 1
    width = max(4, len(str(int(frame["subject_number"].max()))))
    frame["subjid"] = frame["subject_number"].astype(str).str.zfill(width)
    frame["usubjid"] = inputs.studyid + "-" + frame["siteid"] + "-" + frame["subjid"]
    frame = frame.drop(columns="_tiebreak")
    _add_demography(frame, inputs, rng)
    # randomisation numbers 1001, 1002, ... in order of consent
    rank = frame.loc[frame["randomised"], "consent_date"].rank(method="first")
    frame["rand_no"] = (1000 + rank).astype(int).astype(str).reindex(frame.index, fill_value="")
    return frame


def _add_demography(frame: pd.DataFrame, inputs: SimulationInputs, rng: np.random.Generator) -> None:
    demo, elig = inputs.sim["demography"], inputs.design["eligibility"]
    n = len(frame)
    age = np.clip(np.rint(rng.normal(demo["age"]["mean"], demo["age"]["sd"], n)), *elig["age"]).astype(int)
    female = rng.random(n) < float(demo["female_share"])
    frame["sex"] = np.where(female, "F", "M")
    consent = frame["consent_date"].to_numpy(dtype="datetime64[D]")
    # birth date: age completed years at consent, plus a random offset within that year
    frame["birth_date"] = consent - (age * 365.25 + rng.integers(1, 364, n)).astype(int) * DAY
    race = np.full(n, "NOT REPORTED", dtype=object)
    u = rng.random(n)
    for country, shares in demo["race_share"].items():
        m = (frame["country"] == country).to_numpy()
        names = list(shares)
        cum = np.cumsum([float(shares[k]) for k in names])
        cum = cum / cum[-1]
        race[m] = np.array(names, dtype=object)[np.searchsorted(cum, u[m], side="right").clip(0, len(names) - 1)]
    frame["race"] = race
    hisp_share = frame["country"].map(lambda c: demo["hispanic_share"].get(c, demo["hispanic_share"]["default"]))
    hispanic = rng.random(n) < hisp_share.to_numpy(dtype=float)
    frame["ethnicity"] = np.where(frame["country"].isin(demo.get("ethnicity_not_collected", [])), "NOT REPORTED",
                                  np.where(hispanic, "HISPANIC OR LATINO", "NOT HISPANIC OR LATINO"))
    frame["black"] = frame["race"].eq("BLACK OR AFRICAN AMERICAN").to_numpy()
    h = demo["height_cm"]
    height = np.where(female, rng.normal(h["F"][0], h["F"][1], n), rng.normal(h["M"][0], h["M"][1], n))
    bmi = np.clip(rng.normal(demo["bmi"]["mean"], demo["bmi"]["sd"], n), elig["bmi"][0] + 0.5, elig["bmi"][1] - 0.5)
    frame["height_cm"] = np.round(height, 0)
    frame["weight_kg"] = np.round(bmi * (frame["height_cm"].to_numpy() / 100) ** 2, 1)
    frame["age"] = age
    letters = np.array(list("ABCDEFGHIJKLMNOPRSTVW"), dtype=object)
    idx = rng.integers(0, len(letters), (n, 3))
    three = rng.random(n) < 0.2
    frame["initials"] = letters[idx[:, 0]] + letters[idx[:, 1]] + np.where(three, letters[idx[:, 2]], "")


def derive_vars_disposition(subjects: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Add treatment/study disposition and calibration roles per randomised subject.

    New columns: ``drug_withdrawn``, ``early_leaver`` (no primary-visit sample), ``completed_study``,
    ``last_visitnum``, ``last_infusion_visitnum``, ``study_reason``, ``crr_responder``, ``rescue``.

    >>> from pipeline.simulate.config import example_inputs
    >>> inputs = example_inputs()
    >>> s = derive_vars_disposition(build_subjects(inputs), inputs)
    >>> s[s["randomised"]].groupby("armcd")[["drug_withdrawn", "primary_sample", "completed_study"]].sum().to_dict("list")
    {'drug_withdrawn': [3, 1], 'primary_sample': [37, 18], 'completed_study': [21, 10]}
    """
    sim = inputs.sim
    rng = rng_for(inputs.seed, "disposition")
    visits = inputs.visits
    infusion_visits = visits[visits["day"].isin(inputs.design["dosing"]["infusion_days"])]
    visitnum_of = dict(zip(visits["visit"], visits["visitnum"]))
    primary = visitnum_of[inputs.design["endpoints"]["primary_visit"]]
    out = subjects.copy()
    out[["drug_withdrawn", "early_leaver", "completed_study", "crr_responder", "rescue"]] = False
    out["last_visitnum"] = np.where(out["randomised"], int(visits["visitnum"].max()), int(visits["visitnum"].min()))
    out["last_infusion_visitnum"] = np.where(out["randomised"], int(infusion_visits["visitnum"].max()), 0)
    out["study_reason"] = ""
    reasons = sim["dispositions"]["study_discontinuation_reasons"]
    early_last = [visitnum_of[v] for v in sim["dispositions"]["early_withdrawal_last_visit"]]
    fu_last = [visitnum_of[v] for v in sim["dispositions"]["last_visit_if_discontinued"]]
    mid_infusions = infusion_visits[(infusion_visits["visitnum"] > infusion_visits["visitnum"].min() + 1)
                                    & (infusion_visits["visitnum"] < infusion_visits["visitnum"].max())]["visitnum"].to_numpy()
    for armcd in inputs.n_by_arm:
        idx = out.index[(out["armcd"] == armcd).to_numpy()].to_numpy()
        dw = _choose(rng, idx, inputs.count("drug_withdrawn_subjects", armcd))
        out.loc[dw, "drug_withdrawn"] = True
        n_early = inputs.count("no_primary_sample", armcd)
        early = np.concatenate([dw[:n_early], _choose(rng, np.setdiff1d(idx, dw), n_early - min(n_early, len(dw)))])
        out.loc[early, "early_leaver"] = True
        out.loc[early, "last_visitnum"] = rng.choice(early_last, len(early))
        out.loc[early, "last_infusion_visitnum"] = out.loc[early, "last_visitnum"]
        out.loc[early, "study_reason"] = np.where(out.loc[early, "drug_withdrawn"], "ADVERSE EVENT", "WITHDRAWAL BY SUBJECT")
        other_dw = np.setdiff1d(dw, early)
        out.loc[other_dw, "last_infusion_visitnum"] = rng.choice(mid_infusions, len(other_dw))
        rest = np.setdiff1d(idx, early)
        completers = _choose(rng, rest, inputs.count("completed_study", armcd))
        out.loc[completers, "completed_study"] = True
        fu_leavers = np.setdiff1d(rest, completers)
        out.loc[fu_leavers, "last_visitnum"] = rng.choice(fu_last, len(fu_leavers))
        out.loc[fu_leavers, "study_reason"] = draw_by_share(rng, reasons, len(fu_leavers))
        evaluable = np.sort(np.setdiff1d(idx, early))
        responders = _choose(rng, evaluable, inputs.count("crr_responders", armcd))
        out.loc[responders, "crr_responder"] = True
        rescue = _choose(rng, np.setdiff1d(evaluable, responders), inputs.count("rescue_subjects", armcd))
        out.loc[rescue, "rescue"] = True
    out["primary_sample"] = out["randomised"] & (out["last_visitnum"] >= primary)
    out["completed_treatment"] = out["randomised"] & ~out["drug_withdrawn"] & ~out["early_leaver"]
    return out


def build_visits(subjects: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """One row per subject and planned visit attended, with its study day and date.

    >>> from pipeline.simulate.config import example_inputs
    >>> inputs = example_inputs()
    >>> v = build_visits(derive_vars_disposition(build_subjects(inputs), inputs), inputs)
    >>> v.groupby("visit")["study_day"].agg(["min", "max"]).loc[["DAY 1", "WEEK 24"]].values.tolist()
    [[1, 1], [167, 171]]
    """
    rng = rng_for(inputs.seed, "visits")
    visits = inputs.visits
    jitter = int(inputs.sim["visit_jitter_days"])
    first_visitnum = int(visits["visitnum"].min())
    grid = subjects[["usubjid", "day1_date", "screening_day", "last_visitnum", "randomised"]].merge(
        visits[["visitnum", "visit", "day", "window_lo", "window_hi", "epoch"]], how="cross")
    grid = grid[grid["visitnum"] <= grid["last_visitnum"]].reset_index(drop=True)
    actual = np.clip(grid["day"].to_numpy() + rng.integers(-jitter, jitter + 1, len(grid)),
                     grid["window_lo"].to_numpy(), grid["window_hi"].to_numpy())
    actual = np.where(grid["visitnum"].to_numpy() == first_visitnum, grid["screening_day"].to_numpy(), actual)
    grid["study_day"] = actual
    grid["date"] = compute_study_day_date(grid["day1_date"].to_numpy(dtype="datetime64[D]"), actual)
    return grid[["usubjid", "visitnum", "visit", "epoch", "day", "study_day", "date"]]


def derive_var_ie_failed(subjects: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Add ``ie_failed``: the criterion id each screen failure failed ('' for randomised subjects).

    >>> from pipeline.simulate.config import example_inputs
    >>> s = derive_var_ie_failed(build_subjects(example_inputs()), example_inputs())
    >>> int((s["ie_failed"] != "").sum())
    14
    """
    rng = rng_for(inputs.seed, "ie")
    criteria = inputs.sim["ie_criteria"]
    out = subjects.copy()
    sf = out["screen_failure"].to_numpy()
    failed = np.full(len(out), "", dtype=object)
    failed[sf] = draw_by_share(rng, {c["id"]: c.get("weight", 1) for c in criteria}, int(sf.sum()))
    out["ie_failed"] = failed
    # keep the data consistent with the failed criterion: BMI above the eligibility range
    above = out["ie_failed"].isin({c["id"] for c in criteria if c.get("vs") == "bmi_above"}).to_numpy()
    if above.any():
        bmi = float(inputs.design["eligibility"]["bmi"][1]) + rng.uniform(1, 4, int(above.sum()))
        out.loc[above, "weight_kg"] = np.round(bmi * (out.loc[above, "height_cm"].to_numpy() / 100) ** 2, 1)
    return out
