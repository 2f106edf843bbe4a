"""Infusion log (EX) and vital signs (VS) truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.simulate.config import SimulationInputs, rng_for


def build_ex_truth(subjects: pd.DataFrame, visits: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """One row per infusion given: date, start/end minutes, dosing weight (kg), dose (mg).

    >>> from pipeline.simulate.stage import example_truth
    >>> ex = example_truth()["ex"]
    >>> len(ex), int(ex.groupby("usubjid").size().max()), bool((ex["dose"] % 1 == 0).all())
    (388, 7, True)
    """
    rng = rng_for(inputs.seed, "ex")
    dosing = inputs.design["dosing"]
    days = set(dosing["infusion_days"])
    per_kg = {a["armcd"]: float(a["dose_per_kg"]) for a in inputs.design["arms"]}
    inf_visits = inputs.visits.loc[inputs.visits["day"].isin(days), "visitnum"]
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
    first = ex.groupby("usubjid")["visitnum"].transform("min")
    ex["protected"] = (ex["visitnum"] == first).to_numpy()
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
    sched = set(inputs.design["schedule"]["vs"])
    height_at = set(inputs.design["schedule"]["height_at"])
    baseline_visit = inputs.baseline_visit
    vs = visits[visits["visit"].isin(sched)].merge(
        subjects[["usubjid", "siteid", "height_cm", "weight_kg"]], on="usubjid")
    vs = vs.sort_values(["usubjid", "visitnum"], kind="mergesort").reset_index(drop=True)
    n = len(vs)
    codes, idx = np.unique(vs["usubjid"].to_numpy(), return_inverse=True)
    sbp_bl = rng.normal(130, 14, len(codes))[idx]
    dbp_bl = rng.normal(82, 9, len(codes))[idx]
    vs["height"] = np.where(vs["visit"].isin(height_at), vs["height_cm"], np.nan)
    weight = vs["weight_kg"].to_numpy() * np.exp(rng.normal(0, 0.012, n))
    vs["weight"] = np.where(vs["visit"] == baseline_visit, vs["weight_kg"], np.round(weight, 1))
    vs["sbp"] = np.rint(sbp_bl + rng.normal(0, 8, n))
    vs["dbp"] = np.rint(np.minimum(dbp_bl + rng.normal(0, 6, n), vs["sbp"] - 25))
    vs["pulse"] = np.rint(rng.normal(76, 10, n))
    temp = rng.normal(36.7, 0.25, n).clip(35.8, 37.6)
    fever_item = inputs.sim["sledai"].get("fever_item")  # the instrument's Fever item (simulation.yaml)
    if fever_item is not None and fever_item in sledai:
        fever = sledai[["usubjid", "visitnum", fever_item]]
        merged = vs[["usubjid", "visitnum"]].merge(fever, on=["usubjid", "visitnum"], how="left")
        has_fever = merged[fever_item].eq(True).to_numpy()
        temp = np.where(has_fever, float(inputs.sim["sledai"]["fever_temperature"]) + rng.normal(0, 0.2, n), temp)
    vs["temperature"] = np.round(temp, 1)
    vs["protected"] = False
    return vs[["usubjid", "siteid", "visitnum", "visit", "date", "height", "weight", "sbp", "dbp", "pulse",
               "temperature", "protected"]]
