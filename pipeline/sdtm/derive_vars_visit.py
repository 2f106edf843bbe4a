"""derive_vars_visit: VISITNUM / VISIT (/ VISITDY) from TV for planned visits, decimals for unscheduled ones."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError, InputError
from pipeline.common.dates import iso_date
from pipeline.sdtm.derive_helpers import as_tuple, check_frame, first_rows

UNSCHEDULED_PATTERN = r"^\s*UNSCHED"


def derive_vars_visit(
    dataset: pd.DataFrame,
    tv: pd.DataFrame,
    dtc_var: str,
    visit_var: str = "VISIT",
    by_vars: str | Sequence[str] = ("USUBJID",),
    dataset_add: pd.DataFrame | None = None,
    unscheduled_pattern: str = UNSCHEDULED_PATTERN,
    increment: float = 0.01,
    visitdy: bool = True,
) -> pd.DataFrame:
    """Set VISITNUM and VISIT (and VISITDY) from the collected visit name in ``visit_var``.

    Planned visits: the collected name is matched to ``TV.VISIT`` ignoring case and extra spaces;
    VISITNUM, the TV spelling of VISIT and VISITDY come from TV.

    Unscheduled visits (name matching ``unscheduled_pattern``, case-insensitive, default
    ``UNSCHED...``): VISITNUM = the highest planned VISITNUM the subject attended on or before the
    record's date, plus ``increment`` x k, where k numbers the subject's distinct unscheduled
    dates after that planned visit (1, 2, ...); VISIT = ``UNSCHEDULED <VISITNUM>`` (e.g.
    ``UNSCHEDULED 5.01``) and VISITDY is null. Records of one subject on one date share the visit.
    Before any planned visit the base is 0. Unscheduled records without a complete date cannot
    be placed: VISITNUM and VISIT are left null for them. Because VISIT is built from VISITNUM,
    VISIT and VISITNUM map one-to-one.

    To number unscheduled visits the same way in every domain, pass ``dataset_add``: the visit
    records of all domains (columns ``by_vars``, ``visit_var``, ``dtc_var``, stacked); the anchors
    (planned visit dates) and the unscheduled dates are then taken from it as well.

    Raises InputError naming the rows when a visit name is neither in TV nor unscheduled, or when
    more unscheduled visits follow a planned visit than fit before the next planned number.

    >>> tv = pd.DataFrame({"VISITNUM": [4, 5, 6], "VISIT": ["WEEK 2", "WEEK 4", "WEEK 8"],
    ...                    "VISITDY": [15, 29, 57]})
    >>> lb = pd.DataFrame({"USUBJID": ["S1"] * 5,
    ...                    "VISIT": ["Week 4", "Unscheduled", "UNSCHEDULED", "Unscheduled", "week 8"],
    ...                    "LBDTC": ["2019-02-07", "2019-02-10", "2019-02-20T10:00", "2019-02-10", "2019-03-07"]})
    >>> derive_vars_visit(lb, tv, dtc_var="LBDTC")
      USUBJID            VISIT             LBDTC  VISITNUM  VISITDY
    0      S1           WEEK 4        2019-02-07      5.00       29
    1      S1  UNSCHEDULED 5.01        2019-02-10      5.01     <NA>
    2      S1  UNSCHEDULED 5.02  2019-02-20T10:00      5.02     <NA>
    3      S1  UNSCHEDULED 5.01        2019-02-10      5.01     <NA>
    4      S1           WEEK 8        2019-03-07      6.00       57
    """
    by = list(as_tuple(by_vars, "by_vars"))
    check_frame(dataset, "dataset", [*by, visit_var, dtc_var])
    planned = _planned_visits(tv)
    if not isinstance(increment, (int, float)) or not 0 < increment < 1:
        raise ConfigError(f"argument increment: {increment!r} must be a number between 0 and 1 (e.g. 0.01)")
    decimals = max(0, -Decimal(str(increment)).normalize().as_tuple().exponent)
    try:
        unscheduled_re = re.compile(unscheduled_pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"argument unscheduled_pattern: invalid regular expression ({exc})") from None

    key = _visit_key(dataset[visit_var])
    planned_num = key.map(planned.set_index("_key")["VISITNUM"])
    is_unscheduled = planned_num.isna() & _matches(key, unscheduled_re)
    unknown = key.notna() & planned_num.isna() & ~is_unscheduled
    if unknown.any():
        values = sorted(dataset.loc[unknown, visit_var].astype(str).unique())
        raise InputError(f"dataset: {visit_var} value(s) {', '.join(map(repr, values[:10]))} are neither a planned "
                         f"visit in TV ({', '.join(planned['VISIT'])}) nor unscheduled "
                         f"({first_rows(unknown, dataset, [*by, visit_var])})")

    events = _stack_events(dataset, dataset_add, by, visit_var, dtc_var, planned, unscheduled_re)
    numbering = _number_unscheduled(events, by, planned, increment, decimals)

    result = dataset.copy(deep=False)  # new columns are set whole: the input is never written into
    row_keys = dataset[by].copy()
    row_keys["_date"] = iso_date(dataset[dtc_var])
    unscheduled_num = row_keys.merge(numbering, on=[*by, "_date"], how="left")["VISITNUM"].to_numpy()
    visitnum = np.where(is_unscheduled.to_numpy(), unscheduled_num, planned_num.to_numpy(dtype="float64"))
    visitnum = pd.Series(visitnum, index=dataset.index, dtype="float64").round(decimals)
    planned_name = key.map(planned.set_index("_key")["VISIT"])
    names = {v: f"UNSCHEDULED {v:.{decimals}f}" for v in pd.unique(visitnum[is_unscheduled & visitnum.notna()])}
    unscheduled_name = visitnum.map(names).astype("object")
    result["VISITNUM"] = visitnum
    visit = planned_name.where(~is_unscheduled, unscheduled_name).astype("object")
    result["VISIT"] = visit.where(visitnum.notna(), None)
    if visitdy and "VISITDY" in planned.columns:
        result["VISITDY"] = pd.array(key.map(planned.set_index("_key")["VISITDY"]), dtype="Int64")
    return result


def _visit_key(names: pd.Series) -> pd.Series:
    """Visit names compared without case or extra spaces (worked out once per distinct name)."""
    codes, uniques = pd.factorize(names.astype("object"), use_na_sentinel=True)
    text = pd.Series(uniques, dtype="object").astype("string").str.strip().str.replace(r"\s+", " ", regex=True).str.upper()
    text = text.where(text.notna() & (text != ""), pd.NA).astype("object").where(lambda t: t.notna(), None)
    values = text.to_numpy(dtype=object)
    out = values.take(np.where(codes < 0, 0, codes)) if len(values) else np.full(len(names), None, dtype=object)
    out[codes < 0] = None
    return pd.Series(out, index=names.index, dtype=object)


def _matches(key: pd.Series, pattern: re.Pattern) -> pd.Series:
    """Rows whose key matches ``pattern`` (searched once per distinct key)."""
    hits = {value for value in key.dropna().unique() if pattern.search(value)}
    return key.isin(hits) & key.notna()


def _planned_visits(tv: pd.DataFrame) -> pd.DataFrame:
    check_frame(tv, "tv", ["VISITNUM", "VISIT"])
    columns = ["VISITNUM", "VISIT", *(["VISITDY"] if "VISITDY" in tv.columns else [])]
    planned = tv[columns].drop_duplicates().reset_index(drop=True)
    planned["VISITNUM"] = pd.to_numeric(planned["VISITNUM"], errors="coerce")
    if planned["VISITNUM"].isna().any() or planned["VISIT"].isna().any():
        raise ConfigError("dataset tv: VISITNUM and VISIT must be filled on every planned visit")
    planned["_key"] = _visit_key(planned["VISIT"])
    for column in ("VISITNUM", "_key"):
        clash = planned.duplicated(column, keep=False)
        if clash.any():
            raise ConfigError("dataset tv: VISIT and VISITNUM must map one-to-one; clash at "
                              + first_rows(clash, planned, ["VISITNUM", "VISIT"]))
    return planned.sort_values("VISITNUM", kind="mergesort").reset_index(drop=True)


def _stack_events(dataset, dataset_add, by, visit_var, dtc_var, planned, unscheduled_re) -> pd.DataFrame:
    frames = [dataset[[*by, visit_var, dtc_var]]]
    if dataset_add is not None:
        check_frame(dataset_add, "dataset_add", [*by, visit_var, dtc_var])
        frames.append(dataset_add[[*by, visit_var, dtc_var]])
    events = pd.concat(frames, ignore_index=True)
    key = _visit_key(events[visit_var])
    events = events[by].copy()
    events["_date"] = iso_date(pd.concat(frames, ignore_index=True)[dtc_var])
    events["_planned"] = key.map(planned.set_index("_key")["VISITNUM"]).astype("float64")
    events["_unscheduled"] = events["_planned"].isna() & _matches(key, unscheduled_re)
    return events[events["_date"].notna()]


def _number_unscheduled(events, by, planned, increment, decimals) -> pd.DataFrame:
    anchors = events[events["_planned"].notna()][[*by, "_date", "_planned"]]
    anchors = anchors.sort_values([*by, "_date", "_planned"], kind="mergesort")
    anchors["_base"] = anchors.groupby(by, sort=False)["_planned"].cummax()
    anchors = anchors.drop_duplicates([*by, "_date"], keep="last")[[*by, "_date", "_base"]]
    dates = events[events["_unscheduled"]][[*by, "_date"]].drop_duplicates()
    if dates.empty:
        return dates.assign(VISITNUM=pd.Series([], dtype="float64"))
    dates = dates.sort_values("_date", kind="mergesort")
    anchors = anchors.sort_values("_date", kind="mergesort")
    placed = pd.merge_asof(dates, anchors, on="_date", by=by, direction="backward", allow_exact_matches=True)
    placed["_base"] = placed["_base"].fillna(0.0)
    placed = placed.sort_values([*by, "_date"], kind="mergesort")
    placed["_k"] = placed.groupby([*by, "_base"], sort=False).cumcount() + 1
    placed["VISITNUM"] = (placed["_base"] + placed["_k"] * increment).round(decimals)
    numbers = planned["VISITNUM"].to_numpy()
    next_planned = numbers[np.minimum(np.searchsorted(numbers, placed["_base"].to_numpy(), side="right"), len(numbers) - 1)]
    has_next = placed["_base"].to_numpy() < numbers.max()
    overflow = has_next & (placed["VISITNUM"].to_numpy() >= next_planned)
    if overflow.any():
        raise InputError(f"unscheduled visits: too many after one planned visit for increment {increment} "
                         f"({first_rows(pd.Series(overflow), placed.reset_index(drop=True), [*by, '_base', '_k'])})")
    return placed[[*by, "_date", "VISITNUM"]]
