import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_vars_avisit import compute_windows, derive_vars_avisit

TARGETS = [
    {"AVISIT": "WEEK 2", "AVISITN": 4, "AWTARGET": 15},
    {"AVISIT": "WEEK 4", "AVISITN": 5, "AWTARGET": 29},
    {"AVISIT": "WEEK 8", "AVISITN": 6, "AWTARGET": 57},
    {"AVISIT": "WEEK 24", "AVISITN": 10, "AWTARGET": 169},
    {"AVISIT": "WEEK 28", "AVISITN": 11, "AWTARGET": 197},
]


def test_windows_bounded_at_midpoints_earlier_window_takes_the_midpoint():
    win = compute_windows(TARGETS, first_lower=2)
    assert win[["AWLO", "AWHI"]].fillna(-1).values.tolist() == [
        [2, 22], [23, 43], [44, 113], [114, 183], [184, -1]]


def test_non_integer_midpoint_splits_cleanly():
    win = compute_windows([{"AVISIT": "A", "AVISITN": 1, "AWTARGET": 1}, {"AVISIT": "B", "AVISITN": 2, "AWTARGET": 8}])
    assert win[["AWLO", "AWHI"]].fillna(-1).values.tolist() == [[-1, 4], [5, -1]]


@pytest.mark.parametrize("ady, avisit, awtdiff", [
    (1, None, None),          # before the first window
    (2, "WEEK 2", 13),
    (22, "WEEK 2", 7),        # exactly on the W2/W4 midpoint: earlier window
    (23, "WEEK 4", 6),
    (183, "WEEK 24", 14),     # W24/W28 midpoint
    (184, "WEEK 28", 13),
    (400, "WEEK 28", 203),    # open last window
    (None, None, None),
])
def test_record_assignment_including_exact_boundaries(ady, avisit, awtdiff):
    out = derive_vars_avisit(pd.DataFrame({"ADY": [ady]}, dtype=float), compute_windows(TARGETS, first_lower=2))
    assert out["AVISIT"].item() == avisit
    assert (pd.isna(out["AWTDIFF"].item()) and awtdiff is None) or out["AWTDIFF"].item() == awtdiff
    assert out["AWU"].item() == (None if avisit is None else "DAYS")


def test_baseline_window_from_explicit_table_and_filter():
    win = [{"AVISIT": "BASELINE", "AVISITN": 2, "AWTARGET": 1, "AWLO": None, "AWHI": 1},
           {"AVISIT": "WEEK 2", "AVISITN": 4, "AWTARGET": 15, "AWLO": 2, "AWHI": 22}]
    lb = pd.DataFrame({"ADY": [-20.0, 1.0, 15.0], "DTYPE": [None, None, "LOCF"]})
    out = derive_vars_avisit(lb, win, filter_add="isna(DTYPE)")
    assert out["AVISIT"].tolist() == ["BASELINE", "BASELINE", None]
    assert out["AVISITN"].fillna(-1).tolist() == [2.0, 2.0, -1]


def test_overlapping_windows_are_refused():
    win = [{"AVISIT": "A", "AVISITN": 1, "AWTARGET": 1, "AWLO": 0, "AWHI": 10},
           {"AVISIT": "B", "AVISITN": 2, "AWTARGET": 15, "AWLO": 10, "AWHI": 20}]
    with pytest.raises(DerivationError, match="A and B overlap"):
        derive_vars_avisit(pd.DataFrame({"ADY": [1]}), win)


def test_duplicate_targets_are_refused():
    with pytest.raises(DerivationError, match="target days must be distinct"):
        compute_windows([{"AVISIT": "A", "AVISITN": 1, "AWTARGET": 15}, {"AVISIT": "B", "AVISITN": 2, "AWTARGET": 15}])
