"""derive_var_dy: study day (--DY, --STDY, --ENDY) relative to DM.RFSTDTC, SDTMIG rule, no day 0."""

from __future__ import annotations

import pandas as pd

from pipeline.common.dates import compute_study_day, iso_date
from pipeline.common.errors import InputError
from pipeline.sdtm.derive_helpers import check_frame, check_variable_name, first_rows


def derive_var_dy(
    dataset: pd.DataFrame,
    dm: pd.DataFrame,
    dtc_var: str,
    new_var: str,
    ref_var: str = "RFSTDTC",
    by_vars: tuple[str, ...] = ("USUBJID",),
) -> pd.DataFrame:
    """Add a study-day variable ``new_var`` from ``dtc_var`` and the subject's ``DM.<ref_var>``.

    SDTMIG rule: ``--DY = date - RFSTDTC + 1`` when the date is on or after RFSTDTC, else
    ``date - RFSTDTC``; so the reference day is 1, the day before is -1 and 0 never occurs.
    Only the date part counts (times are ignored). The day is null when either date is partial
    (``2019-03``, ``2019---15``) or missing, and for subjects without RFSTDTC (screen failures)
    or not in DM (one record per subject). An existing ``new_var`` column is replaced. Result dtype:
    nullable Int64.

    >>> dm = pd.DataFrame({"USUBJID": ["S1", "S2"], "RFSTDTC": ["2019-01-10T09:30", None]})
    >>> lb = pd.DataFrame({"USUBJID": ["S1", "S1", "S1", "S1", "S2"],
    ...                    "LBDTC": ["2019-01-09", "2019-01-10T07:00", "2019-02-07", "2019-02", "2019-01-12"]})
    >>> derive_var_dy(lb, dm, dtc_var="LBDTC", new_var="LBDY")
      USUBJID             LBDTC  LBDY
    0      S1        2019-01-09    -1
    1      S1  2019-01-10T07:00     1
    2      S1        2019-02-07    29
    3      S1           2019-02  <NA>
    4      S2        2019-01-12  <NA>
    """
    check_variable_name(new_var, "new_var")
    by = list(by_vars)
    check_frame(dataset, "dataset", [*by, dtc_var])
    check_frame(dm, "dm", [*by, ref_var])
    duplicated = dm.duplicated(by, keep=False)
    if duplicated.any():
        raise InputError(f"dataset dm: more than one record per subject ({first_rows(duplicated, dm, by)}); "
                         f"cannot take {ref_var} unambiguously")
    reference = dm[[*by, ref_var]].rename(columns={ref_var: "_ref"})
    keys = dataset[by].merge(reference, on=by, how="left", validate="many_to_one")
    day = compute_study_day(iso_date(dataset[dtc_var]).reset_index(drop=True), iso_date(keys["_ref"]))
    result = dataset.copy(deep=False)  # new columns are set whole: the input is never written into
    result[new_var] = pd.array(day, dtype="Int64")
    return result
