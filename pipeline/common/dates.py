"""Date arithmetic shared by every stage: the SDTMIG/ADaMIG study day, one formula for all.

(ISO 8601 text parsing lives beside the stages that own each variant today: ``sdtm/derive_helpers``
for complete dates and bounds of partial ones, ``adam/derive_vars_dt`` for imputation.)
"""

from __future__ import annotations

import pandas as pd


def compute_study_day(dates: pd.Series, reference: pd.Series) -> pd.Series:
    """Study day from two datetime64 series: ``date - reference + 1`` on or after the reference,
    ``date - reference`` before it, so the reference date is day 1, the day before is -1 and day 0
    never occurs. Only whole days count (times are dropped). Float, NaN when either date is missing.

    >>> d = pd.Series([pd.Timestamp(t) for t in ("2019-01-10", "2019-01-09", "2019-01-01", "2019-01-10 23:00")] + [pd.NaT])
    >>> compute_study_day(d, pd.Series([pd.Timestamp("2019-01-10 08:00")] * 5)).tolist()
    [1.0, -1.0, -9.0, 1.0, nan]
    """
    delta = (pd.Series(dates).dt.normalize() - pd.Series(reference).dt.normalize()).dt.days.astype("float64")
    return delta + (delta >= 0).astype("float64")
