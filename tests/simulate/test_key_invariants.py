"""The simulator keeps the natural keys of its events unique at any size (issue 10: 36 duplicate
AE keys at 20,000 subjects failed the ISL-0006 gate)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.common.study import StudyContext
from pipeline.simulate.config import load_simulation_inputs
from pipeline.simulate.events import compute_distinct_event_starts
from pipeline.simulate.stage import build_truth


def _ae_start_text(ae: pd.DataFrame) -> pd.Series:
    """AESTDTC as the raw export carries it: the day, or the month for a partial start."""
    start = pd.to_datetime(ae["start_date"])
    return start.dt.strftime("%Y-%m-%d").where(ae["start_precision"] == "D", start.dt.strftime("%Y-%m"))


def test_ae_natural_keys_unique_at_2000_subjects():
    # the default seed at 2,000 subjects drew two pairs of same-term, same-day events before the fix
    inputs = load_simulation_inputs(StudyContext.create("iscalimab-ln"), subjects=2000)
    ae = build_truth(inputs)["ae"]
    keyed = ae.assign(stdtc=_ae_start_text(ae))
    assert len(ae) > 5000
    assert not keyed.duplicated(["usubjid", "pt_name", "stdtc"]).any()
    # the moved events stay on the right side of the first dose
    pre = ae["kind"] == "pre"
    assert (ae.loc[pre, "start_date"] < ae.loc[pre, "first_dose_date"]).all()
    assert (ae.loc[~pre, "start_date"] >= ae.loc[~pre, "first_dose_date"]).all()


def test_distinct_starts_move_the_lower_priority_event_only():
    day = np.datetime64("2024-03-01")
    start = compute_distinct_event_starts(
        np.array(["S1", "S1", "S1", "S2", "S1"]), np.array(["Headache", "Headache", "Nausea", "Headache", "Headache"]),
        np.array(["regular", "dw", "regular", "regular", "pre"]), np.array([day, day, day, day, day - 5]))
    assert start.astype(str).tolist() == ["2024-03-02", "2024-03-01", "2024-03-01", "2024-03-01", "2024-02-25"]


def test_distinct_starts_leave_unique_keys_untouched():
    day = np.datetime64("2024-03-01")
    start = np.array([day, day + 1, day])
    out = compute_distinct_event_starts(np.array(["A", "A", "B"]), np.array(["X", "X", "X"]),
                                        np.array(["regular"] * 3), start)
    assert (out == start).all()
