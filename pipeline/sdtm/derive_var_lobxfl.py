"""derive_var_lobxfl: --LOBXFL, the last observation before exposure flag of findings domains."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.common.errors import InputError
from pipeline.common.dates import iso_date, iso_time
from pipeline.sdtm.derive_helpers import as_tuple, blank_to_na, check_frame, check_variable_name, domain_of, first_rows


def derive_var_lobxfl(
    dataset: pd.DataFrame,
    dm: pd.DataFrame,
    by_vars: str | Sequence[str],
    dtc_var: str,
    result_var: str,
    new_var: str | None = None,
    order: str | Sequence[str] | None = None,
    ref_var: str = "RFXSTDTC",
) -> pd.DataFrame:
    """Add ``--LOBXFL = "Y"`` on the last record with a result before first exposure, per subject and test.

    Rule (SDTMIG 3.3+): within ``USUBJID`` + ``by_vars`` (test code plus whatever separates results,
    e.g. ``LBCAT``/``LBSPEC`` or ``VSPOS``), among records whose ``result_var`` is not missing and
    whose date is on or before ``DM.<ref_var>`` (first study treatment), flag the latest one.

    Same-day rule (stated on purpose): a record on the day of first exposure counts as before
    exposure when it has no time or the reference has no time, because protocol Day 1 assessments
    are taken pre-dose; when both carry a time, the record counts when its time is at or before
    the reference time. Records with a partial date are never flagged (they cannot be placed).
    Ties on date and time are broken by ``order`` (default: ``<domain>SEQ`` if present), the last
    record wins. Subjects without a complete reference date get no flag. The flag is ``"Y"`` or null;
    an existing ``new_var`` column is replaced.

    Args:
        by_vars: test-level grouping, e.g. ``["LBTESTCD", "LBCAT", "LBSPEC"]`` (``USUBJID`` is added).
        result_var: the result that must be present, usually ``--STRESC`` (or ``--ORRES``).
        new_var: default ``<domain>LOBXFL`` from the prefix of ``result_var``.

    >>> dm = pd.DataFrame({"USUBJID": ["S1"], "RFXSTDTC": ["2019-01-10T09:00"]})
    >>> lb = pd.DataFrame({"USUBJID": ["S1"] * 5, "LBTESTCD": ["ALB"] * 4 + ["CREAT"],
    ...     "LBDTC": ["2019-01-01", "2019-01-08", "2019-01-10", "2019-01-24", "2019-01-01"],
    ...     "LBSTRESC": ["40", "42", None, "39", "70"]})
    >>> derive_var_lobxfl(lb, dm, by_vars="LBTESTCD", dtc_var="LBDTC", result_var="LBSTRESC")
      USUBJID LBTESTCD       LBDTC LBSTRESC LBLOBXFL
    0      S1      ALB  2019-01-01       40     None
    1      S1      ALB  2019-01-08       42        Y
    2      S1      ALB  2019-01-10     None     None
    3      S1      ALB  2019-01-24       39     None
    4      S1    CREAT  2019-01-01       70        Y
    """
    new_var = check_variable_name(new_var or f"{domain_of(result_var)}LOBXFL", "new_var")
    group = list(dict.fromkeys(["USUBJID", *as_tuple(by_vars, "by_vars")]))
    tiebreak = list(as_tuple(order, "order"))
    if order is None and f"{domain_of(result_var)}SEQ" in dataset.columns:
        tiebreak = [f"{domain_of(result_var)}SEQ"]
    check_frame(dataset, "dataset", [*group, dtc_var, result_var, *tiebreak])
    check_frame(dm, "dm", ["USUBJID", ref_var])
    duplicated = dm.duplicated("USUBJID", keep=False)
    if duplicated.any():
        raise InputError(f"dataset dm: more than one record per subject ({first_rows(duplicated, dm, ['USUBJID'])})")

    reference = dataset[["USUBJID"]].merge(dm[["USUBJID", ref_var]], on="USUBJID", how="left")[ref_var]
    ref_date, ref_time = iso_date(reference), iso_time(reference)
    date = iso_date(dataset[dtc_var]).reset_index(drop=True)
    time = iso_time(dataset[dtc_var]).reset_index(drop=True)
    both_timed = time.notna() & ref_time.notna()
    same_day_before = np.where(both_timed, (time <= ref_time).to_numpy(), True)
    before = (date < ref_date) | ((date == ref_date) & same_day_before)
    has_result = blank_to_na(dataset[result_var]).notna().to_numpy()
    eligible = before.to_numpy() & has_result & date.notna().to_numpy() & ref_date.notna().to_numpy()

    work = dataset[[*group, *tiebreak]].reset_index(drop=True)
    work["_date"] = date
    work["_time"] = time.fillna(pd.Timedelta(-1, "s"))
    work["_row"] = np.arange(len(work))
    work = work[eligible]
    work = work.sort_values([*group, "_date", "_time", *tiebreak, "_row"], kind="mergesort", na_position="first")
    last_rows = work.drop_duplicates(group, keep="last")["_row"].to_numpy()
    flag = np.full(len(dataset), None, dtype=object)
    flag[last_rows] = "Y"
    result = dataset.copy(deep=False)  # new columns are set whole: the input is never written into
    result[new_var] = pd.Series(flag, index=dataset.index, dtype="object")
    return result
