"""derive_var_trtemfl: the treatment-emergent flag of an occurrence dataset (ADAE)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.adam._utils import DerivationError, as_dates, check_frame, check_new_vars_absent, copy_frame, flag_series


def derive_var_trtemfl(
    dataset: pd.DataFrame,
    new_var: str = "TRTEMFL",
    start_date: str = "ASTDT",
    end_date: str | None = "AENDT",
    trt_start_date: str = "TRTSDT",
    trt_end_date: str | None = None,
    end_window: int | None = None,
    missing_start_is_emergent: bool = True,
    initial_intensity: str | None = None,
    intensity: str | None = None,
    intensity_order: Sequence[str] = ("MILD", "MODERATE", "SEVERE"),
) -> pd.DataFrame:
    """Flag ``Y`` the events that start on or after first dose and within ``end_window`` days after last dose.

    Rules, in order (the first that applies wins; otherwise missing):

    1. no ``trt_start_date`` (subject not dosed): missing;
    2. ``trt_start_date <= start_date`` and, when both ``trt_end_date`` and ``end_window`` are
       given and the subject's end date is known, ``start_date <= trt_end_date + end_window``: ``Y``.
       An event starting on the first-dose day is emergent (dates only, no times);
    3. ``start_date`` missing, ``missing_start_is_emergent`` and the event did not end before first
       dose (``end_date`` missing or ``>= trt_start_date``): ``Y`` (the conservative default);
    4. with ``initial_intensity`` and ``intensity``: an event that started before first dose, did not
       end before it and whose intensity rose above the initial one (``intensity_order``), or whose
       initial or current intensity is missing (worst case, as admiral): ``Y``.

    An event that ended before first dose is never emergent. ``end_window`` needs ``trt_end_date``.

    >>> ae = pd.DataFrame({"TRTSDT": pd.to_datetime(["2024-01-10"] * 4 + [None]),
    ...                    "TRTEDT": pd.to_datetime(["2024-02-10"] * 5),
    ...                    "ASTDT": pd.to_datetime(["2024-01-10", "2024-01-09", "2024-03-20", None, "2024-01-12"]),
    ...                    "AENDT": pd.to_datetime([None] * 5)})
    >>> derive_var_trtemfl(ae, trt_end_date="TRTEDT", end_window=28)["TRTEMFL"].tolist()
    ['Y', None, None, 'Y', None]
    """
    needed = [start_date, trt_start_date] + [c for c in (end_date, trt_end_date, initial_intensity, intensity) if c]
    check_frame(dataset, "dataset", needed)
    check_new_vars_absent(dataset, [new_var])
    if end_window is not None and (not isinstance(end_window, (int, np.integer)) or end_window < 0):
        raise DerivationError(f"derive_var_trtemfl: end_window must be a non-negative whole number of days, got {end_window!r}")
    if end_window is not None and trt_end_date is None:
        raise DerivationError("derive_var_trtemfl: end_window was given but not trt_end_date; give both or neither")
    if (initial_intensity is None) != (intensity is None):
        raise DerivationError("derive_var_trtemfl: give both initial_intensity and intensity, or neither")
    start = as_dates(dataset[start_date])
    trt_start = as_dates(dataset[trt_start_date])
    end = as_dates(dataset[end_date]) if end_date else pd.Series(pd.NaT, index=dataset.index, dtype="datetime64[ns]")
    dosed = trt_start.notna()
    within_end = pd.Series(True, index=dataset.index)
    if end_window is not None:
        limit = as_dates(dataset[trt_end_date]) + pd.Timedelta(days=int(end_window))
        within_end = limit.isna() | (start <= limit)
    emergent = dosed & (start >= trt_start) & within_end
    not_ended_before = end.isna() | (end >= trt_start)
    if missing_start_is_emergent:
        emergent |= dosed & start.isna() & not_ended_before
    if intensity is not None:
        rank = {value: i for i, value in enumerate(intensity_order)}
        initial_rank = dataset[initial_intensity].map(rank)
        current_rank = dataset[intensity].map(rank)
        unknown = (dataset[intensity].notna() & current_rank.isna()) | (
            dataset[initial_intensity].notna() & initial_rank.isna())
        if unknown.any():
            label = unknown[unknown].index[0]
            row = int(unknown.to_numpy().argmax()) + 1
            raise DerivationError(f"derive_var_trtemfl: dataset row {row}: {intensity} '{dataset.at[label, intensity]}' / "
                                  f"{initial_intensity} '{dataset.at[label, initial_intensity]}' not in "
                                  f"intensity_order {list(intensity_order)}")
        worse = (current_rank > initial_rank) | initial_rank.isna() | current_rank.isna()
        emergent |= dosed & (start < trt_start) & not_ended_before & worse
    out = copy_frame(dataset)
    out[new_var] = flag_series(emergent)
    return out
