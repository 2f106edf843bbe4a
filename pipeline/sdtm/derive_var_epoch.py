"""derive_var_epoch: EPOCH of each record from the subject's elements (SE) by date."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.common.dates import iso_date_bounds, iso_time
from pipeline.sdtm.derive_helpers import as_tuple, check_choice, check_frame, check_variable_name

SAME_DAY_RULES = ("later", "earlier")
BEFORE_FIRST_RULES = ("null", "first")
PARTIAL_RULES = ("null", "earliest")


def derive_var_epoch(
    dataset: pd.DataFrame,
    se: pd.DataFrame,
    dtc_var: str,
    new_var: str = "EPOCH",
    by_vars: str | Sequence[str] = ("USUBJID",),
    same_day: str = "later",
    before_first: str = "null",
    partial: str = "null",
) -> pd.DataFrame:
    """Add EPOCH: the epoch of the subject element (SE) whose [SESTDTC, SEENDTC) holds ``dtc_var``.

    Rules:
    - Element intervals are half-open, except that the subject's last element (highest TAETORD)
      includes its end date; a missing SEENDTC means the element is still ongoing.
    - When the record and the element boundary both carry a time, times decide. When the record
      falls on the boundary day without a comparable time, ``same_day`` decides: ``"later"``
      (default) puts it in the element that starts that day (e.g. an AE on the first-dose day is
      TREATMENT), ``"earlier"`` in the element that ends that day (e.g. pre-dose findings on Day 1).
    - A partial date (``2019-03``) gets an epoch only when its whole range lies in one element;
      with ``partial="earliest"`` a range spanning elements takes the epoch of its first possible day.
    - Null when the date is missing, before the first element (informed consent) or after the last;
      with ``before_first="first"`` a record dated before the subject's first element takes the first
      element's epoch (e.g. a medication started before consent and recorded at SCREENING; FDA
      Business Rule FB2201 / CORE-000701 asks for EPOCH on every subject-level observation).
    An existing ``new_var`` column is replaced.

    Args:
        dataset: records with ``by_vars`` and ``dtc_var`` (``--DTC`` for findings, ``--STDTC`` for events).
        se: subject elements with ``by_vars``, SESTDTC, SEENDTC, EPOCH and TAETORD (see ``build_se``;
            without TAETORD the subject's elements are ordered by SESTDTC, then SESEQ).

    >>> se = pd.DataFrame({"USUBJID": ["S1"] * 3, "TAETORD": [1, 2, 3],
    ...     "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"],
    ...     "SESTDTC": ["2019-01-01", "2019-01-20T09:00", "2019-07-01"],
    ...     "SEENDTC": ["2019-01-20T09:00", "2019-07-01", "2019-12-01"]})
    >>> ae = pd.DataFrame({"USUBJID": ["S1"] * 6,
    ...     "AESTDTC": ["2018-12-30", "2019-01-20", "2019-01-20T08:00", "2019-03", "2019-01", "2019-12-01"]})
    >>> derive_var_epoch(ae, se, dtc_var="AESTDTC")
      USUBJID           AESTDTC      EPOCH
    0      S1        2018-12-30       None
    1      S1        2019-01-20  TREATMENT
    2      S1  2019-01-20T08:00  SCREENING
    3      S1           2019-03  TREATMENT
    4      S1           2019-01       None
    5      S1        2019-12-01  FOLLOW-UP
    >>> derive_var_epoch(ae, se, dtc_var="AESTDTC", before_first="first", partial="earliest")["EPOCH"].tolist()
    ['SCREENING', 'TREATMENT', 'SCREENING', 'TREATMENT', 'SCREENING', 'FOLLOW-UP']
    """
    check_variable_name(new_var, "new_var")
    by = list(as_tuple(by_vars, "by_vars"))
    check_choice(same_day, "same_day", SAME_DAY_RULES)
    check_choice(before_first, "before_first", BEFORE_FIRST_RULES)
    check_choice(partial, "partial", PARTIAL_RULES)
    check_frame(dataset, "dataset", [*by, dtc_var])
    check_frame(se, "se", [*by, "SESTDTC", "SEENDTC", "EPOCH"])

    elements = _element_bounds(se, by)
    lo, hi = iso_date_bounds(dataset[dtc_var])
    time = iso_time(dataset[dtc_var])
    records = dataset[by].reset_index(drop=True)
    records["_row"] = np.arange(len(records))
    first = before_first == "first"
    epoch = _place(records.assign(_d=lo.to_numpy(), _t=time.to_numpy()), elements, by, same_day, first)
    spans = (lo != hi).to_numpy() & lo.notna().to_numpy()
    if spans.any():  # a partial date is placed only when its first and last possible days agree
        subset = records[spans].assign(_d=hi.to_numpy()[spans], _t=np.timedelta64("NaT", "ns"))
        subset["_row"] = np.arange(len(subset))
        epoch_hi = _place(subset, elements, by, same_day, first)
        epoch_lo = epoch[spans]
        agree = epoch_lo == epoch_hi
        if partial == "earliest":
            agree = agree | pd.notna(epoch_lo)
        epoch[spans] = np.where(agree, epoch_lo, None)

    result = dataset.copy(deep=False)  # new columns are set whole: the input is never written into
    result[new_var] = pd.Series(epoch, index=dataset.index, dtype="object").where(pd.notna(epoch), None)
    return result


def _element_bounds(se: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    elements = se[[*by, "EPOCH"]].copy()
    if "TAETORD" in se.columns:
        elements["TAETORD"] = pd.to_numeric(se["TAETORD"], errors="coerce")
    else:  # older SE without TAETORD: order the subject's elements by start date, then SESEQ
        keys = se[by].assign(_s=se["SESTDTC"].astype("string"), _q=pd.to_numeric(se.get("SESEQ", 0), errors="coerce"))
        keys["_n"] = range(len(keys))
        ranked = keys.sort_values([*by, "_s", "_q", "_n"], kind="mergesort")
        ranked["TAETORD"] = ranked.groupby(by, sort=False).cumcount() + 1
        elements["TAETORD"] = ranked["TAETORD"].reindex(keys.index).to_numpy()
    elements["_sd"] = iso_date_bounds(se["SESTDTC"])[0].to_numpy()
    elements["_st"] = iso_time(se["SESTDTC"]).to_numpy()
    elements["_ed"] = iso_date_bounds(se["SEENDTC"])[0].to_numpy()
    elements["_et"] = iso_time(se["SEENDTC"]).to_numpy()
    elements["_key"] = np.arange(len(elements))
    order = pd.to_numeric(elements["TAETORD"], errors="coerce")
    elements["_last"] = order.to_numpy() == order.groupby([elements[c] for c in by]).transform("max").to_numpy()
    return elements[elements["_sd"].notna()]


def _place(records: pd.DataFrame, elements: pd.DataFrame, by: list[str], same_day: str,
           before_first: bool = False) -> np.ndarray:
    """EPOCH of the element holding each record, or None when none holds it (with ``before_first``, a
    record dated before the subject's first element gets that element's epoch)."""
    pairs = records[records["_d"].notna()].merge(elements, on=by, how="inner")
    d, t = pairs["_d"], pairs["_t"]
    sd, st, ed, et = pairs["_sd"], pairs["_st"], pairs["_ed"], pairs["_et"]
    later = same_day == "later"
    # Boundary days without comparable times match both neighbouring elements; same_day picks one.
    start_times = t.notna() & st.notna()
    start_ok = (d > sd) | ((d == sd) & np.where(start_times, (t >= st).to_numpy(), True))
    end_times = t.notna() & et.notna()
    boundary_end = np.where(end_times, np.where(pairs["_last"], (t <= et).to_numpy(), (t < et).to_numpy()), True)
    end_ok = ed.isna() | (d < ed) | ((d == ed) & boundary_end)
    hits = pairs[start_ok.to_numpy() & end_ok.to_numpy()]
    hits = hits.sort_values(["_row", "TAETORD"], ascending=[True, not later], kind="mergesort")
    chosen = hits.drop_duplicates("_row", keep="first")
    placed = np.full(len(records), None, dtype=object)
    placed[chosen["_row"].to_numpy()] = chosen["EPOCH"].to_numpy()
    if before_first:
        firsts = elements.sort_values([*by, "TAETORD", "_sd"], kind="mergesort").drop_duplicates(by, keep="first")
        early = records[records["_d"].notna()].merge(firsts[[*by, "_sd", "EPOCH"]], on=by, how="inner")
        early = early[(early["_d"] < early["_sd"]).to_numpy()]
        rows = early["_row"].to_numpy()
        unplaced = pd.isna(placed[rows])
        placed[rows[unplaced]] = early["EPOCH"].to_numpy()[unplaced]
    return placed
