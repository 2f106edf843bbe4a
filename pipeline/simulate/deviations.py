"""Protocol deviations of the flagship simulation (the site's `dv` export, SDTM DV).

A handful of randomised subjects get one MAJOR deviation (they leave the per-protocol set); a
share of subjects get MINOR ones. Terms come from ``simulation.yaml: protocol_deviations``; the
start date falls between the subject's first dose and last visit (eligibility deviations: the
randomisation date). Own random stream, so nothing else of the simulation moves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.simulate.config import SimulationInputs, rng_for

DV_COLUMNS = ["usubjid", "siteid", "line", "term_key", "category", "severity", "start_date", "protected"]


def _catalogue(inputs: SimulationInputs) -> pd.DataFrame:
    spec = inputs.sim["protocol_deviations"]
    rows = []
    for i, entry in enumerate(spec["catalogue"]):
        for key in ("term", "category", "severity"):
            if key not in entry:
                raise ConfigError(f"{inputs.sim_path}: protocol_deviations.catalogue[{i}] misses {key}")
        if entry["severity"] not in ("MAJOR", "MINOR"):
            raise ConfigError(f"{inputs.sim_path}: protocol_deviations.catalogue[{i}].severity must be MAJOR or MINOR")
        rows.append({"term_key": f"dv:{i}", "category": entry["category"], "severity": entry["severity"],
                     "weight": float(entry.get("weight", 1)), "at": entry.get("at", "treatment")})
    return pd.DataFrame(rows)


def build_dv_truth(subjects: pd.DataFrame, visits: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """One row per protocol deviation: subject, line, catalogue term, category, MAJOR/MINOR, start date.

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
    pick_major = rng.choice(len(major), size=k, p=major["weight"] / major["weight"].sum()) if k else np.array([], int)
    minor_owner = np.repeat(ids, n_minor)
    pick_minor = (rng.choice(len(minor), size=len(minor_owner), p=minor["weight"] / minor["weight"].sum())
                  if len(minor_owner) else np.array([], int))
    rows = pd.concat([major.iloc[pick_major].assign(usubjid=major_ids),
                      minor.iloc[pick_minor].assign(usubjid=minor_owner)], ignore_index=True)
    # dates: eligibility deviations on the randomisation date, others between first dose and last visit
    info = randomised.set_index("usubjid")
    first = pd.to_datetime(rows["usubjid"].map(info["first_dose_date"])).fillna(pd.to_datetime(rows["usubjid"].map(info["rand_date"])))
    last_visit = visits.groupby("usubjid")["date"].max()
    last = pd.to_datetime(rows["usubjid"].map(last_visit))
    span = np.maximum((last - first).dt.days.fillna(0).to_numpy(dtype=int), 0)
    offset = np.floor(rng.random(len(rows)) * (span + 1)).astype(int)
    start = first + pd.to_timedelta(offset, unit="D")
    at_randomisation = (rows["at"] == "randomisation").to_numpy()
    rand_date = pd.to_datetime(rows["usubjid"].map(info["rand_date"]))
    rows["start_date"] = np.where(at_randomisation, rand_date, start).astype("datetime64[ns]")
    rows["siteid"] = rows["usubjid"].map(info["siteid"])
    rows = rows.sort_values(["usubjid", "start_date", "term_key"], kind="mergesort").reset_index(drop=True)
    rows["line"] = rows.groupby("usubjid").cumcount() + 1
    rows["protected"] = True                      # deviations are not damaged by the defect injector
    return rows[DV_COLUMNS]
