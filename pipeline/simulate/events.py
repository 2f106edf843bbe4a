"""Event and intervention truth: adverse events, medications, medical history, eligibility,
disposition, infusions (EX), vital signs (VS) and protocol deviations (DV)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.simulate.config import SimulationInputs, draw_by_share, rng_for
from pipeline.simulate.subjects import DAY


def derive_vars_key_dates(subjects: pd.DataFrame, visits: pd.DataFrame, ex: pd.DataFrame,
                          inputs: SimulationInputs) -> pd.DataFrame:
    """Add first/last infusion dates, last visit date, the drug-withdrawal AE date and end of study.

    >>> from pipeline.simulate.stage import example_truth
    >>> s = example_truth()["subjects"]
    >>> bool((s["eos_date"] >= s["last_visit_date"]).all()), int(s["dw_date"].notna().sum())
    (True, 4)
    """
    rng = rng_for(inputs.seed, "key_dates")
    out = subjects.copy()
    infusions = ex.groupby("usubjid")["date"].agg(["min", "max"])
    out["first_dose_date"] = out["usubjid"].map(infusions["min"])
    out["last_infusion_date"] = out["usubjid"].map(infusions["max"])
    out["last_visit_date"] = out["usubjid"].map(visits.groupby("usubjid")["date"].max())
    n = len(out)
    dw_date = out["last_infusion_date"].to_numpy(dtype="datetime64[D]") + rng.integers(2, 10, n) * DAY
    out["dw_date"] = np.where(out["drug_withdrawn"], dw_date, np.datetime64("NaT"))
    lv = out["last_visit_date"].to_numpy(dtype="datetime64[D]")
    eos = np.where(out["completed_study"] | out["screen_failure"], lv, lv + rng.integers(1, 15, n) * DAY)
    early_dw = (out["early_leaver"] & out["drug_withdrawn"]).to_numpy()
    out["eos_date"] = np.where(early_dw, np.maximum(lv, dw_date + rng.integers(7, 22, n) * DAY), eos)
    return out


SERIOUSNESS_COLUMNS = {"hospitalization": "sae_hosp", "life_threatening": "sae_life", "medically_important": "sae_mie"}


# which event keeps its start date when two share subject, preferred term and start (lower wins)
EVENT_KIND_PRIORITY = {"dw": 0, "sae": 1, "regular": 2, "pre": 3}


def _numbered(frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """``frame`` sorted by ``order`` (stable) with ``line``, the record's running number within its subject."""
    out = frame.sort_values(order, kind="mergesort").reset_index(drop=True)
    return out.assign(line=out.groupby("usubjid").cumcount() + 1)


def compute_distinct_event_starts(usubjid: np.ndarray, preferred_term: np.ndarray, kind: np.ndarray,
                                  start: np.ndarray) -> np.ndarray:
    """Start dates made unique per subject and preferred term (the AE natural key USUBJID, AEDECOD, AESTDTC).

    Of two events on one day the one of lower priority (``EVENT_KIND_PRIORITY``) moves a day later
    (a pre-treatment event earlier); no random draw, so a simulation without such pairs is unchanged.

    >>> day = np.datetime64("2024-01-10")
    >>> compute_distinct_event_starts(np.array(["A", "A", "A", "B"]), np.array(["Flu"] * 4),
    ...                               np.array(["regular", "sae", "regular", "regular"]),
    ...                               np.array([day, day, day, day])).astype(str).tolist()
    ['2024-01-11', '2024-01-10', '2024-01-12', '2024-01-10']
    """
    start = start.copy()
    rank = np.array([EVENT_KIND_PRIORITY.get(k, len(EVENT_KIND_PRIORITY)) for k in kind])
    order = np.lexsort((np.arange(len(start)), rank))   # priority first, then original order
    step = np.where(kind == "pre", -1, 1) * DAY
    for _ in range(len(start)):
        frame = pd.DataFrame({"u": usubjid[order], "t": preferred_term[order], "s": start[order]})
        moved = order[frame.duplicated(keep="first").to_numpy()]
        if not len(moved):
            break
        start[moved] = start[moved] + step[moved]
    return start


def build_ae_truth(subjects: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Adverse events with calibrated serious and drug-withdrawn events (one row per event).

    >>> from pipeline.simulate.stage import example_truth
    >>> t = example_truth()
    >>> ae = t["ae"].join(t["subjects"].set_index("usubjid")["armcd"], on="usubjid")
    >>> ae[ae["serious"] == "Y"].groupby("armcd")["usubjid"].agg(["nunique", "size"]).values.tolist()
    [[6, 7], [3, 4]]
    """
    spec = inputs.sim["adverse_events"]
    cal = inputs.sim["calibration"]
    rng = rng_for(inputs.seed, "ae")
    catalogue = pd.DataFrame(spec["catalogue"]).reindex(columns=["llt", "weight", "serious", "arms"])
    catalogue["serious"] = catalogue["serious"].eq(True)
    regular_pool = catalogue[catalogue["weight"] > 0]
    p = regular_pool["weight"].to_numpy(dtype=float)
    wterms = [t for t in spec["withdrawal_terms"] if t in set(regular_pool["llt"])]
    rand = subjects[subjects["randomised"]].reset_index(drop=True)
    rate = float(inputs.design["endpoints"].get("any_ae_rate_target", 0.9))
    events = []
    any_teae = np.zeros(len(rand), dtype=bool)
    for armcd in inputs.n_by_arm:
        idx = np.flatnonzero((rand["armcd"] == armcd).to_numpy())
        n_sae_subj = inputs.count("sae_subjects", armcd)
        n_sae_ev = max(inputs.count("sae_events", armcd), n_sae_subj)
        sae_subj = rng.choice(idx, size=min(n_sae_subj, len(idx)), replace=False) if n_sae_subj else idx[:0]
        owners = np.concatenate([sae_subj, rng.choice(sae_subj, n_sae_ev - len(sae_subj))]) if len(sae_subj) else idx[:0]
        allowed = catalogue[catalogue["serious"] & catalogue["arms"].apply(lambda a: not isinstance(a, list) or armcd in a)]
        terms = rng.choice(allowed["llt"].to_numpy(), len(owners))
        special = allowed.loc[allowed["weight"] == 0, "llt"].to_numpy()
        if len(special) and len(owners):   # terms reserved for this arm (e.g. MAS) occur once
            terms = np.where(np.isin(terms, special), rng.choice(allowed.loc[allowed["weight"] > 0, "llt"].to_numpy(), len(owners)), terms)
            terms[0] = special[0]
        events.append(pd.DataFrame({"subj": owners, "llt": terms, "kind": "sae"}))
        dw = idx[rand.loc[idx, "drug_withdrawn"].to_numpy()]
        events.append(pd.DataFrame({"subj": dw, "llt": rng.choice(wterms, len(dw)), "kind": "dw"}))
        must = np.union1d(sae_subj, dw)
        n_any = max(int(round(rate * len(idx))), len(must))
        others = rng.choice(np.setdiff1d(idx, must), size=n_any - len(must), replace=False)
        any_teae[np.union1d(must, others)] = True
    has_calib = np.isin(np.arange(len(rand)), np.concatenate([e["subj"].to_numpy() for e in events]))
    k = np.where(any_teae, rng.poisson(cal["teae_mean_extra_events"], len(rand)) + np.where(has_calib, 0, 1), 0)
    reg_subj = np.repeat(np.arange(len(rand)), k)
    events.append(pd.DataFrame({"subj": reg_subj, "llt": rng.choice(regular_pool["llt"].to_numpy(), len(reg_subj), p=p / p.sum()),
                                "kind": "regular"}))
    # a few pre-treatment events in subjects who also have treatment-emergent ones
    pre = np.flatnonzero(any_teae & (rng.random(len(rand)) < float(cal["pretreatment_ae_rate"])))
    events.append(pd.DataFrame({"subj": pre, "llt": rng.choice(regular_pool["llt"].to_numpy(), len(pre), p=p / p.sum()),
                                "kind": "pre"}))
    dates = ["consent_date", "first_dose_date", "last_infusion_date", "eos_date", "dw_date"]
    ae = pd.concat(events, ignore_index=True).join(rand[["usubjid", "siteid", *dates]], on="subj")
    m = len(ae)
    consent, d1, last_inf, eos, dw_date = (ae[c].to_numpy(dtype="datetime64[D]") for c in dates)
    span = np.maximum((eos - d1).astype(int), 1)
    kind = ae["kind"].to_numpy()
    # calibrated SAEs start within calibration.key_events_within_days after first dose, so the published
    # counts (those of the Week 24 table) hold for that period and for the whole study
    within = cal.get("key_events_within_days")
    if within is not None:
        span = np.where(kind == "sae", np.maximum(np.minimum(span, int(within) + 1), 1), span)
    start = d1 + np.floor(rng.random(m) * span).astype(int) * DAY
    start = np.where(kind == "dw", dw_date, start)
    pre_span = np.maximum((d1 - consent).astype(int), 1)
    start = np.where(kind == "pre", consent + np.floor(rng.random(m) * pre_span).astype(int) * DAY, start)
    coding = inputs.meddra.drop_duplicates("llt_name").set_index("llt_name")
    start = compute_distinct_event_starts(ae["usubjid"].to_numpy(), ae["llt"].map(coding["pt_name"]).to_numpy(),
                                          kind, start)
    duration = np.maximum(1, np.rint(np.exp(rng.normal(np.log(spec["duration_days"]["median"]),
                                                       spec["duration_days"]["log_sd"], m)))).astype(int)
    end = start + duration * DAY
    ongoing = (end > eos) | ((rng.random(m) < float(spec["ongoing_share"])) & (kind == "regular"))
    ae["start_date"] = start
    ae["end_date"] = np.where(ongoing, np.datetime64("NaT"), end)
    ae["ongoing"] = np.where(ongoing, "Y", "N")
    ae["serious"] = np.where(kind == "sae", "Y", "N")
    # seriousness criteria of the serious events, fixed per term (no random draw: the other draws stay as they were)
    criteria = {e["llt"]: set(e.get("seriousness") or ["hospitalization"]) for e in spec["catalogue"] if e.get("serious")}
    for criterion, column in SERIOUSNESS_COLUMNS.items():
        has = ae["llt"].map(lambda t, c=criterion: c in criteria.get(t, set())).to_numpy(dtype=bool)
        ae[column] = np.where(kind == "sae", np.where(has, "Y", "N"), None)
    severity = draw_by_share(rng, spec["severity_share"], m)
    severity = np.where(kind == "sae", rng.choice(["MODERATE", "SEVERE"], m, p=[0.4, 0.6]), severity)
    ae["severity"] = np.where(kind == "dw", rng.choice(["MODERATE", "SEVERE"], m, p=[0.6, 0.4]), severity)
    related = rng.random(m) < float(spec["related_share"])
    ae["relationship"] = np.where(related | (kind == "dw"), "RELATED", "NOT RELATED")
    on_treatment = (start >= d1) & (start <= last_inf)
    action = np.where(on_treatment, np.where(rng.random(m) < float(spec["interrupted_share"]), "DRUG INTERRUPTED",
                                             "DOSE NOT CHANGED"), "NOT APPLICABLE")
    ae["action"] = np.where(kind == "dw", "DRUG WITHDRAWN", np.where(kind == "pre", "NOT APPLICABLE", action))
    sequelae = rng.random(m) < 0.03
    ae["outcome"] = np.where(ongoing, np.where(rng.random(m) < 0.5, "NOT RECOVERED/NOT RESOLVED", "RECOVERING/RESOLVING"),
                             np.where(sequelae, "RECOVERED/RESOLVED WITH SEQUELAE", "RECOVERED/RESOLVED"))
    ae["treatment_emergent"] = start >= d1
    ae = _numbered(ae, ["usubjid", "start_date", "kind", "llt"])
    te = ae["treatment_emergent"]
    is_first_te = te & ~ae["usubjid"].where(te).duplicated()
    ae["protected"] = (ae["kind"].isin(["sae", "dw"]) | is_first_te).to_numpy()
    # partial start dates on a few non-key events whose month is after the first-dose month
    start_month = ae["start_date"].to_numpy(dtype="datetime64[M]")
    later_month = start_month > ae["first_dose_date"].to_numpy(dtype="datetime64[M]")
    partial = later_month & ~ae["protected"].to_numpy() & (rng.random(len(ae)) < float(spec["partial_start_share"]))
    # a month-only start must stay unique among the subject's events of the same preferred term
    same_month = ae.assign(pt=ae["llt"].map(coding["pt_name"]), ym=start_month)
    partial &= ~same_month.duplicated(["usubjid", "pt", "ym"], keep=False).to_numpy()
    ae["start_precision"] = np.where(partial, "M", "D")
    ae = ae.join(coding, on="llt")
    return ae.drop(columns=["subj", "consent_date", "dw_date"])


def _course(who: pd.DataFrame, meds: list[dict], start: np.ndarray, days: int, indication, kind: str) -> pd.DataFrame:
    """One ended con-med record per row of ``who``: its medication's first verbatim and dose, ``days`` long."""
    return pd.DataFrame({
        "usubjid": who["usubjid"].to_numpy(), "siteid": who["siteid"].to_numpy(), "drug": [m["drug"] for m in meds],
        "medication": [m["verbatim"][0] for m in meds], "dose": [float(m["dose"][0]) for m in meds],
        "dose_unit": [m["unit"] for m in meds], "route": [m["route"] for m in meds],
        "frequency": [m["frequency"] for m in meds], "start_date": start, "start_precision": "D",
        "end_date": start + days * DAY, "ongoing": "N", "indication": indication, "kind": kind})


def build_cm_truth(subjects: pd.DataFrame, ae: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Background standard of care, rescue therapy (non-responders only) and AE treatments.

    >>> from pipeline.simulate.stage import example_truth
    >>> cm = example_truth()["cm"]
    >>> sorted(cm.loc[cm["kind"] == "rescue", "drug"].unique()) <= ["CYCLOPHOSPHAMIDE", "RITUXIMAB"]
    True
    """
    spec = inputs.sim["concomitant_medications"]
    rng = rng_for(inputs.seed, "cm")
    rand = subjects[subjects["randomised"]].reset_index(drop=True)
    frames = []
    lo, hi = spec["start_years_before_consent"]
    for med in spec["standard_of_care"]:
        take = rand[rng.random(len(rand)) < float(med["share"])]
        n = len(take)
        if not n:
            continue
        start = take["consent_date"].to_numpy(dtype="datetime64[D]") - np.rint(rng.uniform(lo, hi, n) * 365.25).astype(int) * DAY
        ongoing = rng.random(n) < 0.85
        end = np.minimum(take["first_dose_date"].to_numpy(dtype="datetime64[D]") + rng.integers(30, 300, n) * DAY,
                         take["eos_date"].to_numpy(dtype="datetime64[D]"))
        frames.append(pd.DataFrame({
            "usubjid": take["usubjid"].to_numpy(), "siteid": take["siteid"].to_numpy(), "drug": med["drug"],
            "medication": rng.choice(med["verbatim"], n), "dose": rng.choice(np.asarray(med["dose"], dtype=float), n),
            "dose_unit": med["unit"], "route": med["route"], "frequency": med["frequency"], "start_date": start,
            "start_precision": np.where(rng.random(n) < float(spec["partial_start_share"]),
                                        np.where(rng.random(n) < 0.2, "Y", "M"), "D"),
            "end_date": np.where(ongoing, np.datetime64("NaT"), end), "ongoing": np.where(ongoing, "Y", "N"),
            "indication": med["indication"], "kind": "soc"}))
    rescue = rand[rand["rescue"]]
    if len(rescue):
        meds = [spec["rescue"][i] for i in rng.integers(0, len(spec["rescue"]), len(rescue))]
        start = rescue["first_dose_date"].to_numpy(dtype="datetime64[D]") + rng.integers(85, 150, len(rescue)) * DAY
        frames.append(_course(rescue, meds, start, 14, [m["indication"] for m in meds], "rescue"))
    treat = ae[(ae["kind"] == "regular") & (ae["start_precision"] == "D")]
    treat = treat[rng.random(len(treat)) < 0.25]
    if len(treat):  # the second ae_treatment medication (if any) treats infections
        meds = spec["ae_treatment"]
        chosen = [meds[min(int(inf), len(meds) - 1)] for inf in treat["soc_name"] == "Infections and infestations"]
        start = treat["start_date"].to_numpy(dtype="datetime64[D]")
        # two AEs treated with the same drug from the same day share one con-med record
        frames.append(_course(treat, chosen, start, 5, "AE", "ae").drop_duplicates(["usubjid", "drug", "start_date"]))
    cm = _numbered(pd.concat(frames, ignore_index=True), ["usubjid", "start_date", "drug"])
    cm["atc_code"] = cm["drug"].map(inputs.whodrug.set_index("drug_name")["atc_code"])
    cm["protected"] = (cm["kind"] == "rescue").to_numpy()
    return cm


def build_mh_truth(subjects: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """SLE diagnosis, renal biopsy with ISN/RPS class, and other conditions per screened subject.

    >>> from pipeline.simulate.stage import example_truth
    >>> t = example_truth()
    >>> mh = t["mh"].join(t["subjects"].set_index("usubjid")["randomised"], on="usubjid")
    >>> sorted(mh.loc[(mh["category"] == "BIOPSY") & mh["randomised"], "biopsy_class"].unique())
    ['III', 'III+V', 'IV', 'IV+V']
    """
    spec = inputs.sim["medical_history"]
    rng = rng_for(inputs.seed, "mh")
    n = len(subjects)
    consent = subjects["consent_date"].to_numpy(dtype="datetime64[D]")
    lo, hi = spec["sle_years_before_consent"]
    ongoing = {"usubjid": subjects["usubjid"], "siteid": subjects["siteid"], "ongoing": "Y",
               "end_date": np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"), "biopsy_class": ""}
    frames = [pd.DataFrame({**ongoing, "category": "SLE", "term_key": "sle", "order": 0,
                            "start_date": consent - np.rint(rng.uniform(lo, hi, n) * 365.25).astype(int) * DAY,
                            "start_precision": np.where(rng.random(n) < 0.2, "M", "D")})]
    blo, bhi = spec["biopsy_days_before_consent"]
    frames.append(pd.DataFrame({**ongoing, "category": "BIOPSY", "term_key": "biopsy", "order": 1,
                                "start_date": consent - rng.integers(blo, bhi + 1, n) * DAY, "start_precision": "D",
                                "biopsy_class": draw_by_share(rng, spec["biopsy_class_share"], n)}))
    # screen failures on the biopsy criterion: pure class V, or a biopsy older than allowed
    bx_ids = {c["id"] for c in inputs.sim["ie_criteria"] if c.get("mh") == "biopsy"}
    bx_fail = subjects["ie_failed"].isin(bx_ids).to_numpy() if "ie_failed" in subjects else np.zeros(n, bool)
    if bx_fail.any():
        k = int(bx_fail.sum())
        limit_days = int(float(inputs.design["eligibility"]["biopsy_within_years"]) * 365.25)
        pure_v = rng.random(k) < 0.5
        frames[-1].loc[bx_fail, "biopsy_class"] = np.where(pure_v, "V", frames[-1].loc[bx_fail, "biopsy_class"])
        old_date = consent[bx_fail] - (limit_days + rng.integers(200, 1500, k)) * DAY
        frames[-1].loc[bx_fail, "start_date"] = np.where(pure_v, frames[-1].loc[bx_fail, "start_date"].to_numpy(), old_date)
    for i, cond in enumerate(spec["conditions"]):
        take = rng.random(n) < float(cond["share"])
        k = int(take.sum())
        ylo, yhi = cond["years"]
        start = consent[take] - np.rint(rng.uniform(ylo, yhi, k) * 365.25 + 30).astype(int) * DAY
        u = rng.random(k)
        share = float(spec["partial_start_date_share"])
        precision = np.where(u < share * 0.25, "Y", np.where(u < share, "M", "D"))
        ended = rng.random(k) < float(spec.get("resolved_share", 0.0))
        end = start + np.floor(rng.uniform(0.2, 0.9, k) * (consent[take] - start).astype(int)).astype(int) * DAY
        frames.append(pd.DataFrame({"usubjid": subjects["usubjid"].to_numpy()[take], "siteid": subjects["siteid"].to_numpy()[take],
                                    "category": "GENERAL", "term_key": f"condition:{i}", "start_date": start,
                                    "start_precision": precision, "ongoing": np.where(ended, "N", "Y"),
                                    "end_date": np.where(ended, end, np.datetime64("NaT")).astype("datetime64[ns]"), "biopsy_class": "",
                                    "order": 2 + i}))
    return _numbered(pd.concat(frames, ignore_index=True), ["usubjid", "order"]).assign(protected=False)


def build_ds_truth(subjects: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Disposition milestones per subject (see docs/raw-exports.md, ds).

    >>> from pipeline.simulate.stage import example_truth
    >>> ds = example_truth()["ds"]
    >>> ds.loc[ds["milestone"] == "END OF STUDY", "status"].value_counts().to_dict()
    {'COMPLETED': 31, 'DISCONTINUED': 26}
    """
    sf, rand = subjects[subjects["screen_failure"]], subjects[subjects["randomised"]]
    trt_reason = np.where(rand["drug_withdrawn"], "ADVERSE EVENT", rand["study_reason"])
    milestones = [  # (who, milestone, status, reason, date), in the order a subject reaches them
        (sf, "SCREENING", "SCREEN FAILURE", "FAILURE TO MEET INCLUSION/EXCLUSION CRITERIA", sf["consent_date"]),
        (rand, "RANDOMISATION", "RANDOMIZED", "", rand["rand_date"]),
        (rand, "END OF TREATMENT", np.where(rand["completed_treatment"], "COMPLETED", "DISCONTINUED"),
         np.where(rand["completed_treatment"], "", trt_reason),
         rand["dw_date"].where(rand["drug_withdrawn"], rand["last_infusion_date"])),
        (rand, "END OF STUDY", np.where(rand["completed_study"], "COMPLETED", "DISCONTINUED"),
         np.where(rand["completed_study"], "", rand["study_reason"]), rand["eos_date"])]
    ds = pd.concat([pd.DataFrame({"usubjid": who["usubjid"], "siteid": who["siteid"], "milestone": milestone,
                                  "status": status, "reason": reason, "date": date, "order": order})
                    for order, (who, milestone, status, reason, date) in enumerate(milestones)], ignore_index=True)
    ds = ds.sort_values(["usubjid", "order"], kind="mergesort").reset_index(drop=True)
    ds["protected"] = ds["usubjid"].isin(rand["usubjid"]).to_numpy()
    return ds


def build_ie_truth(subjects: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """One row per screen failure: the criterion that failed.

    >>> from pipeline.simulate.stage import example_truth
    >>> ie = example_truth()["ie"]
    >>> len(ie), set(ie["met"]) <= {"Y", "N"}
    (14, True)
    """
    crit = pd.DataFrame(inputs.sim["ie_criteria"]).set_index("id")[["category", "text"]]
    sf = subjects[subjects["screen_failure"]]
    ie = pd.DataFrame({"usubjid": sf["usubjid"], "siteid": sf["siteid"], "date": sf["consent_date"],
                       "criterion": sf["ie_failed"]}).join(crit, on="criterion")
    ie["met"] = np.where(ie["category"] == "INCLUSION", "N", "Y")
    ie["protected"] = False
    return ie.reset_index(drop=True)


def build_ex_truth(subjects: pd.DataFrame, visits: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """One row per infusion given: date, start/end minutes, dosing weight (kg), dose (mg).

    >>> from pipeline.simulate.stage import example_truth
    >>> ex = example_truth()["ex"]
    >>> len(ex), int(ex.groupby("usubjid").size().max()), bool((ex["dose"] % 1 == 0).all())
    (388, 7, True)
    """
    rng = rng_for(inputs.seed, "ex")
    dosing = inputs.design["dosing"]
    per_kg = {a["armcd"]: float(a["dose_per_kg"]) for a in inputs.design["arms"]}
    inf_visits = inputs.visits.loc[inputs.visits["day"].isin(dosing["infusion_days"]), "visitnum"]
    rand = subjects[subjects["randomised"]]
    ex = visits[visits["visitnum"].isin(inf_visits)].merge(
        rand[["usubjid", "siteid", "armcd", "weight_kg", "last_infusion_visitnum"]], on="usubjid")
    ex = ex[ex["visitnum"] <= ex["last_infusion_visitnum"]]
    ex = ex.sort_values(["usubjid", "visitnum"], kind="mergesort").reset_index(drop=True)
    n = len(ex)
    start = 8 * 60 + 5 * rng.integers(0, 73, n)
    interrupted = rng.random(n) < 0.03
    duration = int(dosing["infusion_minutes"]) + rng.integers(0, 11, n) + np.where(interrupted, rng.integers(20, 46, n), 0)
    ex["start_min"] = start
    ex["end_min"] = start + duration
    ex["interrupted"] = np.where(interrupted, "Y", "N")
    ex["dosing_weight"] = ex["weight_kg"].round(1)
    ex["dose"] = np.round(ex["armcd"].map(per_kg).to_numpy(dtype=float) * ex["dosing_weight"].to_numpy(), 1)
    ex["protected"] = (ex["visitnum"] == ex.groupby("usubjid")["visitnum"].transform("min")).to_numpy()
    return ex[["usubjid", "siteid", "visitnum", "visit", "date", "start_min", "end_min", "dosing_weight",
               "dose", "interrupted", "protected"]]


def build_vs_truth(subjects: pd.DataFrame, visits: pd.DataFrame, sledai: pd.DataFrame,
                   inputs: SimulationInputs) -> pd.DataFrame:
    """One row per subject and vital-signs visit (wide), weight in kg, height in cm, temperature in C.

    >>> from pipeline.simulate.stage import example_truth
    >>> vs = example_truth()["vs"]
    >>> int(vs["height"].notna().sum()), bool(vs["temperature"].between(35, 40).all())
    (71, True)
    """
    rng = rng_for(inputs.seed, "vs")
    schedule = inputs.design["schedule"]
    vs = visits[visits["visit"].isin(schedule["vs"])].merge(
        subjects[["usubjid", "siteid", "height_cm", "weight_kg"]], on="usubjid")
    vs = vs.sort_values(["usubjid", "visitnum"], kind="mergesort").reset_index(drop=True)
    n = len(vs)
    codes, idx = np.unique(vs["usubjid"].to_numpy(), return_inverse=True)
    sbp_bl = rng.normal(130, 14, len(codes))[idx]
    dbp_bl = rng.normal(82, 9, len(codes))[idx]
    vs["height"] = np.where(vs["visit"].isin(schedule["height_at"]), vs["height_cm"], np.nan)
    weight = vs["weight_kg"].to_numpy() * np.exp(rng.normal(0, 0.012, n))
    vs["weight"] = np.where(vs["visit"] == inputs.baseline_visit, vs["weight_kg"], np.round(weight, 1))
    vs["sbp"] = np.rint(sbp_bl + rng.normal(0, 8, n))
    vs["dbp"] = np.rint(np.minimum(dbp_bl + rng.normal(0, 6, n), vs["sbp"] - 25))
    vs["pulse"] = np.rint(rng.normal(76, 10, n))
    temp = rng.normal(36.7, 0.25, n).clip(35.8, 37.6)
    fever_item = inputs.sim["sledai"].get("fever_item")  # the instrument's Fever item (simulation.yaml)
    if fever_item is not None and fever_item in sledai:
        keys = ["usubjid", "visitnum"]
        has_fever = vs[keys].merge(sledai[[*keys, fever_item]], on=keys, how="left")[fever_item].eq(True).to_numpy()
        temp = np.where(has_fever, float(inputs.sim["sledai"]["fever_temperature"]) + rng.normal(0, 0.2, n), temp)
    vs["temperature"] = np.round(temp, 1)
    vs["protected"] = False
    return vs[["usubjid", "siteid", "visitnum", "visit", "date", "height", "weight", "sbp", "dbp", "pulse",
               "temperature", "protected"]]


DV_COLUMNS = ["usubjid", "siteid", "line", "term_key", "category", "severity", "start_date", "protected"]


def _catalogue(inputs: SimulationInputs) -> pd.DataFrame:
    entries = inputs.sim["protocol_deviations"]["catalogue"]
    for i, entry in enumerate(entries):
        for key in ("term", "category", "severity"):
            if key not in entry:
                raise ConfigError(f"{inputs.sim_path}: protocol_deviations.catalogue[{i}] misses {key}")
        if entry["severity"] not in ("MAJOR", "MINOR"):
            raise ConfigError(f"{inputs.sim_path}: protocol_deviations.catalogue[{i}].severity must be MAJOR or MINOR")
    return pd.DataFrame([{"term_key": f"dv:{i}", "category": e["category"], "severity": e["severity"],
                          "weight": float(e.get("weight", 1)), "at": e.get("at", "treatment")}
                         for i, e in enumerate(entries)])


def build_dv_truth(subjects: pd.DataFrame, visits: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """One row per protocol deviation: subject, line, catalogue term, category, MAJOR/MINOR, start date
    (docs/raw-exports.md, dv); own random stream, so nothing else of the simulation moves.

    >>> from pipeline.simulate.stage import example_truth
    >>> from pipeline.simulate.config import example_inputs
    >>> t = example_truth()
    >>> dv = build_dv_truth(t["subjects"], t["visits"], example_inputs())
    >>> int(dv.loc[dv["severity"] == "MAJOR", "usubjid"].nunique()), bool((dv["severity"] == "MINOR").sum() > 5)
    (4, True)
    """
    if "protocol_deviations" not in inputs.sim:
        return pd.DataFrame(columns=DV_COLUMNS)
    spec = inputs.sim["protocol_deviations"]
    cat = _catalogue(inputs)
    rng = rng_for(inputs.seed, "protocol_deviations")
    randomised = subjects[subjects["randomised"]].sort_values("usubjid").reset_index(drop=True)
    ids = randomised["usubjid"].to_numpy()
    k = int(min(int(spec.get("major_subjects", 0)), len(ids)))
    major_ids = np.sort(rng.choice(ids, size=k, replace=False)) if k else ids[:0]
    minor_mask = rng.random(len(ids)) < float(spec.get("minor_share", 0.0))
    n_minor = np.where(minor_mask, 1 + rng.poisson(float(spec.get("minor_extra_mean", 0.0)), len(ids)), 0)
    major = cat[cat["severity"] == "MAJOR"].reset_index(drop=True)
    minor = cat[cat["severity"] == "MINOR"].reset_index(drop=True)
    if (k and major.empty) or (n_minor.sum() and minor.empty):
        raise ConfigError(f"{inputs.sim_path}: protocol_deviations.catalogue needs MAJOR and MINOR terms")

    def owned_terms(terms: pd.DataFrame, owners: np.ndarray) -> pd.DataFrame:  # one term per owner, by weight
        p = terms["weight"] / terms["weight"].sum()
        return terms.iloc[rng.choice(len(terms), size=len(owners), p=p) if len(owners) else []].assign(usubjid=owners)
    rows = pd.concat([owned_terms(major, major_ids), owned_terms(minor, np.repeat(ids, n_minor))], ignore_index=True)
    # dates: eligibility deviations on the randomisation date, others between first dose and last visit
    info = randomised.set_index("usubjid")
    rand_date = pd.to_datetime(rows["usubjid"].map(info["rand_date"]))
    first = pd.to_datetime(rows["usubjid"].map(info["first_dose_date"])).fillna(rand_date)
    last = pd.to_datetime(rows["usubjid"].map(visits.groupby("usubjid")["date"].max()))
    span = np.maximum((last - first).dt.days.fillna(0).to_numpy(dtype=int), 0)
    offset = np.floor(rng.random(len(rows)) * (span + 1)).astype(int)
    start = first + pd.to_timedelta(offset, unit="D")
    rows["start_date"] = np.where((rows["at"] == "randomisation").to_numpy(), rand_date, start).astype("datetime64[ns]")
    rows["siteid"] = rows["usubjid"].map(info["siteid"])
    rows = _numbered(rows, ["usubjid", "start_date", "term_key"])
    rows["protected"] = True                      # deviations are not damaged by the defect injector
    return rows[DV_COLUMNS]
