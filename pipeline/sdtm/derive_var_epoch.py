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
    dated = records[records["_d"].notna()]
    row, element = _subject_pairs(dated[by], elements[by])  # every (record, element of its subject) pair
    d, t = dated["_d"].to_numpy()[row], dated["_t"].to_numpy()[row]
    sd, st, ed, et = (elements[c].to_numpy()[element] for c in ("_sd", "_st", "_ed", "_et"))
    last = elements["_last"].to_numpy(dtype=bool)[element]
    # Boundary days without comparable times match both neighbouring elements; same_day picks one.
    start_times = ~pd.isna(t) & ~pd.isna(st)
    start_ok = (d > sd) | ((d == sd) & np.where(start_times, t >= st, True))
    end_times = ~pd.isna(t) & ~pd.isna(et)
    boundary_end = np.where(end_times, np.where(last, t <= et, t < et), True)
    end_ok = pd.isna(ed) | (d < ed) | ((d == ed) & boundary_end)
    hit = start_ok & end_ok
    row, element = dated["_row"].to_numpy()[row[hit]], element[hit]
    # per record the element of the lowest TAETORD ("earlier") or the highest ("later"), missing orders last;
    # a tie goes to the element listed first
    order = elements["TAETORD"].to_numpy(dtype=float)[element]
    ranked = np.lexsort((element, order if same_day != "later" else -order, row))
    row, element = row[ranked], element[ranked]
    first = np.ones(len(row), dtype=bool)
    first[1:] = row[1:] != row[:-1]
    placed = np.full(len(records), None, dtype=object)
    placed[row[first]] = elements["EPOCH"].to_numpy()[element[first]]
    if before_first:
        firsts = elements.sort_values([*by, "TAETORD", "_sd"], kind="mergesort").drop_duplicates(by, keep="first")
        early = records[records["_d"].notna()].merge(firsts[[*by, "_sd", "EPOCH"]], on=by, how="inner")
        early = early[(early["_d"] < early["_sd"]).to_numpy()]
        rows = early["_row"].to_numpy()
        unplaced = pd.isna(placed[rows])
        placed[rows[unplaced]] = early["EPOCH"].to_numpy()[unplaced]
    return placed


def _subject_pairs(records: pd.DataFrame, elements: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(record, element)`` of every pair with equal ``by`` values (an inner join on them), by
    record, then element, in their order; equal missing values match, as in a pandas merge."""
    record_key = np.zeros(len(records), dtype="int64")
    element_key = np.zeros(len(elements), dtype="int64")
    for column in records.columns:
        codes, uniques = pd.factorize(pd.concat([records[column], elements[column]], ignore_index=True),
                                      use_na_sentinel=False)
        combined, _ = pd.factorize(np.concatenate([record_key, element_key]) * len(uniques) + codes)
        record_key, element_key = combined[:len(records)], combined[len(records):]
    by_key = np.argsort(element_key, kind="stable")
    sorted_keys = element_key[by_key]
    start = np.searchsorted(sorted_keys, record_key, side="left")
    counts = np.searchsorted(sorted_keys, record_key, side="right") - start
    row = np.repeat(np.arange(len(records)), counts)
    offset = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, by_key[np.repeat(start, counts) + offset]

