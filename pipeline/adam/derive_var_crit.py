"""derive_var_crit: analysis criterion CRITy and its evaluation flag CRITyFL (and CRITyFN)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.adam._utils import (DerivationError, check_frame, check_new_vars_absent, condition_columns, copy_frame,
                                  eval_condition, text_where)


def derive_var_crit(
    dataset: pd.DataFrame,
    crit_nr: int,
    condition: str,
    description: str,
    values_yn: bool = False,
    create_numeric_flag: bool = False,
    filter_add: str | None = None,
) -> pd.DataFrame:
    """Add ``CRIT<y>`` (the criterion text) and ``CRIT<y>FL`` for criterion number ``crit_nr``.

    Where the condition holds: ``CRITyFL = 'Y'`` and ``CRITy = description``. Where it fails:
    ``'N'`` and the description if ``values_yn``, else both missing. Where a variable used in the
    condition is missing, the criterion cannot be evaluated: both missing. ``create_numeric_flag``
    adds ``CRITyFN`` (1/0). Records not meeting ``filter_add`` (e.g. other parameters) get missing.

    >>> adlb = pd.DataFrame({"AVAL": [0.3, 0.9, None]})
    >>> derive_var_crit(adlb, 1, "AVAL < 0.5", "UPCR < 0.5 g/g", values_yn=True)
       AVAL          CRIT1 CRIT1FL
    0   0.3  UPCR < 0.5 g/g       Y
    1   0.9  UPCR < 0.5 g/g       N
    2   NaN            NaN     NaN
    """
    check_frame(dataset, "dataset")
    if not isinstance(crit_nr, (int, np.integer)) or not 1 <= crit_nr <= 9:
        raise DerivationError(f"derive_var_crit: crit_nr must be a whole number 1-9, got {crit_nr!r}")
    crit, flag = f"CRIT{crit_nr}", f"CRIT{crit_nr}FL"
    check_new_vars_absent(dataset, [crit, flag] + ([f"{flag[:-2]}FN"] if create_numeric_flag else []))
    used = condition_columns(dataset, condition)
    if not used:
        raise DerivationError(f"derive_var_crit: condition '{condition}' names no variable of the dataset")
    evaluable = dataset[used].notna().all(axis=1) & eval_condition(dataset, filter_add, "filter_add")
    holds = eval_condition(dataset, condition, "condition")
    passed = evaluable & holds
    failed = evaluable & ~holds
    out = copy_frame(dataset)
    out[flag] = pd.Series(np.select([passed, failed & values_yn], ["Y", "N"], default=""), index=out.index) \
        .replace("", np.nan).astype(object)
    described = (passed | (failed & values_yn)).to_numpy()
    if isinstance(description, str) and description:  # one shared text object, not one per row
        out[crit] = pd.Series(text_where(described, description, np.nan), index=out.index)
    else:
        out[crit] = pd.Series(np.where(described, description, ""), index=out.index).replace("", np.nan).astype(object)
    out = out[[c for c in out.columns if c not in (crit, flag)] + [crit, flag]]
    if create_numeric_flag:
        out[f"CRIT{crit_nr}FN"] = out[flag].map({"Y": 1.0, "N": 0.0}).astype(float)
    return out
