"""Speed of the SDTM derivation verbs on a synthetic lab domain far larger than the flagship study.

Run: ``.venv/bin/python bench/bench_sdtm_derive.py`` (or ``make bench``). Prints seconds per verb
and records per second; nothing is asserted here (no timed unit tests).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from pipeline.sdtm.derive_var_dy import derive_var_dy
from pipeline.sdtm.derive_var_epoch import derive_var_epoch
from pipeline.sdtm.derive_var_lobxfl import derive_var_lobxfl
from pipeline.sdtm.derive_var_nrind import derive_var_nrind
from pipeline.sdtm.derive_var_seq import derive_var_seq
from pipeline.sdtm.derive_vars_visit import derive_vars_visit
from pipeline.sdtm.supp import build_supp

SUBJECTS = 3000
TESTS = 20
VISIT_DAYS = [-21, -2, 1, 15, 29, 57, 85, 113, 141, 169, 197, 253, 337]
UNSCHEDULED_SHARE = 0.05


def synthetic(seed: int = 20240601) -> dict[str, pd.DataFrame]:
    """DM, SE, TV and an LB domain of SUBJECTS x TESTS x visits (+ unscheduled) records, vectorised."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"S{i:05d}" for i in range(SUBJECTS)])
    first = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 900, SUBJECTS), unit="D")
    dm = pd.DataFrame({
        "STUDYID": "BENCH", "USUBJID": ids,
        "RFSTDTC": first.strftime("%Y-%m-%dT09:00"), "RFXSTDTC": first.strftime("%Y-%m-%dT09:00"),
    })
    bounds = [(-29, 0, "SCREENING"), (0, 169, "TREATMENT"), (169, 360, "FOLLOW-UP")]
    se = pd.concat([
        pd.DataFrame({"USUBJID": ids, "TAETORD": order, "EPOCH": epoch,
                      "SESTDTC": (first + pd.Timedelta(days=lo)).strftime("%Y-%m-%d"),
                      "SEENDTC": (first + pd.Timedelta(days=hi)).strftime("%Y-%m-%d")})
        for order, (lo, hi, epoch) in enumerate(bounds, start=1)
    ], ignore_index=True)
    tv = pd.DataFrame({"VISITNUM": np.arange(1, len(VISIT_DAYS) + 1, dtype=float),
                       "VISIT": [f"VISIT {n}" for n in range(1, len(VISIT_DAYS) + 1)], "VISITDY": VISIT_DAYS})
    n_visits = len(VISIT_DAYS)
    subject = np.repeat(np.arange(SUBJECTS), n_visits * TESTS)
    visit = np.tile(np.repeat(np.arange(n_visits), TESTS), SUBJECTS)
    test = np.tile(np.arange(TESTS), SUBJECTS * n_visits)
    day = np.asarray(VISIT_DAYS)[visit] + rng.integers(-2, 3, len(subject))
    unscheduled = rng.random(len(subject)) < UNSCHEDULED_SHARE
    day = np.where(unscheduled, day + 5, day)
    dates = (first[subject] + pd.to_timedelta(day - (day > 0), unit="D")).strftime("%Y-%m-%d")
    value = rng.lognormal(1.0, 0.6, len(subject)).round(2)
    orres = np.where(rng.random(len(subject)) < 0.02, "<0.1", value.astype(str))
    lb = pd.DataFrame({
        "STUDYID": "BENCH", "USUBJID": ids[subject], "LBTESTCD": np.array([f"T{t:02d}" for t in range(TESTS)])[test],
        "LBCAT": "CHEMISTRY", "LBORRES": orres, "LBORRESU": "mg/dL", "LBORNRLO": "1.0", "LBORNRHI": "5.0",
        "LBDTC": dates, "VISIT": np.where(unscheduled, "Unscheduled", np.asarray(tv["VISIT"])[visit]),
        # standard results as the mapping's convert_unit gives them (mg/dL -> g/L)
        "LBSTRESC": np.where(orres == "<0.1", "<0.001", (value * 0.01).round(4).astype(str)),
        "LBSTRESN": np.where(orres == "<0.1", np.nan, (value * 0.01).round(4)), "LBSTRESU": "g/L",
        "LBSTNRLO": 0.01, "LBSTNRHI": 0.05,
    })
    return {"dm": dm, "se": se, "tv": tv, "lb": lb}


def timed(label: str, rows: int, func):
    started = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - started
    print(f"{label:<28} {seconds:7.3f} s  {rows / seconds / 1e6:6.2f} M records/s", flush=True)
    return result


def main() -> int:
    data = synthetic()
    lb, dm = data["lb"], data["dm"]
    rows = len(lb)
    print(f"synthetic LB: {rows:,} records, {SUBJECTS:,} subjects", flush=True)
    lb = timed("derive_vars_visit", rows, lambda: derive_vars_visit(lb, data["tv"], dtc_var="LBDTC"))
    lb = timed("derive_var_nrind", rows, lambda: derive_var_nrind(lb, "LB"))
    lb = timed("derive_var_dy", rows, lambda: derive_var_dy(lb, dm, "LBDTC", "LBDY"))
    lb = timed("derive_var_epoch", rows, lambda: derive_var_epoch(lb, data["se"], "LBDTC", same_day="earlier"))
    lb = timed("derive_var_lobxfl", rows, lambda: derive_var_lobxfl(lb, dm, ["LBCAT", "LBTESTCD"], "LBDTC", "LBSTRESC"))
    lb = timed("derive_var_seq", rows, lambda: derive_var_seq(lb, "LB", order=["LBCAT", "LBTESTCD", "VISITNUM", "LBDTC"]))
    lb["LBCOMM"] = np.where(np.arange(rows) % 10 == 0, "comment", None)
    timed("build_supp (10% filled)", rows, lambda: build_supp(lb, "LB", [{"qnam": "LBCOMM", "qlabel": "Comment"}]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
