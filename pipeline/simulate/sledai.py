"""SELENA-SLEDAI truth: lab-driven items from the same visit's labs, clinical items drawn, and the
Week-24 change calibrated exactly by toggling adjustable clinical items."""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.simulate.config import SimulationInputs, rng_for
from pipeline.simulate.labs import compute_time_fraction, compute_toggles_for_sum

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def compute_lab_item_flags(lab_wide: pd.DataFrame, conditions: list) -> np.ndarray:
    """True where any ``[test, op, threshold]`` condition holds (missing values never hold).

    >>> w = pd.DataFrame({"C3": [0.8, 1.0, np.nan], "C4": [0.2, 0.05, 0.2]})
    >>> compute_lab_item_flags(w, [["C3", "<", 0.9], ["C4", "<", 0.1]]).tolist()
    [True, True, False]
    """
    flags = np.zeros(len(lab_wide), dtype=bool)
    for test, op, threshold in conditions:
        if op not in _OPS:
            raise ConfigError(f"sledai.lab_items: unknown operator '{op}' (known: {', '.join(_OPS)})")
        if test not in lab_wide:
            continue
        values = lab_wide[test].to_numpy(dtype=float)
        flags |= np.where(np.isfinite(values), _OPS[op](np.nan_to_num(values, nan=0.0), float(threshold)), False)
    return flags


def build_sledai_truth(subjects: pd.DataFrame, visits: pd.DataFrame, labs: pd.DataFrame,
                       inputs: SimulationInputs) -> pd.DataFrame:
    """One row per randomised subject and SLEDAI visit: item flags (by test code) and total.

    >>> from pipeline.simulate.stage import example_truth
    >>> t = example_truth()
    >>> w = t["sledai"].pivot_table(index="usubjid", columns="visit", values="total")
    >>> arm = t["subjects"].set_index("usubjid")["armcd"]
    >>> (w["WEEK 24"] - w["BASELINE"]).dropna().groupby(arm).sum().to_dict()
    {'ISCAL10': -104.0, 'PBO': -20.0}
    """
    spec = inputs.sim["sledai"]
    items = inputs.instrument["items"]
    testcds = [it["testcd"] for it in items]
    weights = {it["testcd"]: int(it["weight"]) for it in items}
    rng = rng_for(inputs.seed, "sledai")
    primary_visit = inputs.design["endpoints"]["primary_visit"]
    primary_day = int(inputs.visits.set_index("visit").loc[primary_visit, "day"])
    sv = visits[visits["visit"].isin(inputs.design["schedule"]["sledai"])].merge(
        subjects.loc[subjects["randomised"], ["usubjid", "siteid", "armcd", "primary_sample"]], on="usubjid")
    sv = sv.sort_values(["usubjid", "visitnum"], kind="mergesort").reset_index(drop=True)
    wide = labs.pivot_table(index=["usubjid", "visitnum"], columns="test", values="reported", aggfunc="first")
    wide["UPCR"] = wide["UPROT"] / wide["UCREAT"]
    wide = sv[["usubjid", "visitnum"]].merge(wide.reset_index(), on=["usubjid", "visitnum"], how="left")
    flags = pd.DataFrame(False, index=sv.index, columns=testcds)
    for testcd, conditions in spec["lab_items"].items():
        flags[testcd] = compute_lab_item_flags(wide, conditions)
    factor = sv["armcd"].map(spec["week24_factor"]).to_numpy(dtype=float)
    scale = 1 - compute_time_fraction(sv["study_day"], primary_day, 1.0) * (1 - factor)
    for testcd, p in spec["baseline_prevalence"].items():
        flags[testcd] = rng.random(len(sv)) < float(p) * scale
    is_bl = (sv["visit"] == inputs.baseline_visit).to_numpy()
    is_pr = (sv["visit"] == primary_visit).to_numpy()
    w = np.array([weights[t] for t in testcds])
    total = flags.to_numpy() @ w
    # exact Week 24 change per arm among subjects with both visits
    in_both = (is_bl | is_pr) & sv["usubjid"].map(sv[is_bl | is_pr].groupby("usubjid").size()).eq(2).to_numpy()
    for armcd in inputs.n_by_arm:
        target = inputs.count("sledai_change_sum", armcd) if inputs.n_by_arm == inputs.n_default_by_arm else None
        arm_rows = in_both & (sv["armcd"] == armcd).to_numpy()
        if not arm_rows.any():
            continue
        current = int(total[arm_rows & is_pr].sum() - total[arm_rows & is_bl].sum())
        if target is None:  # scaled run: mean change per subject as in the default design
            n_both = int((arm_rows & is_pr).sum())
            default_mean = inputs.sim["calibration"]["sledai_change_sum"][armcd] / (
                inputs.n_default_by_arm[armcd] - inputs.sim["calibration"]["no_primary_sample"][armcd])
            target = int(round(default_mean * n_both))
        deficit = target - current
        if deficit == 0:
            continue
        rows = np.flatnonzero(arm_rows)
        # switching an item on at the primary visit (or off at baseline) raises the change
        cand = pd.concat([pd.DataFrame({"row": rows, "testcd": testcd, "weight": weights[testcd],
                                        "sign": np.where(is_pr[rows] == flags[testcd].to_numpy()[rows], -1, 1)})
                          for testcd in spec["adjustable"]], ignore_index=True)
        chosen = compute_toggles_for_sum(deficit, cand, rng)
        for testcd, part in chosen.groupby("testcd"):
            col = flags.columns.get_loc(testcd)
            flags.iloc[part["row"].to_numpy(), col] = ~flags.iloc[part["row"].to_numpy(), col].to_numpy()
        total = flags.to_numpy() @ w
    out = pd.concat([sv[["usubjid", "siteid", "visitnum", "visit", "study_day", "date"]], flags], axis=1)
    out["total"] = total
    out["protected"] = is_bl | is_pr
    return out
