"""derive_vars_cat: categorisation variables (AGEGR1/AGEGR1N, EOSSTT ...) from a definition table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.adam._utils import DerivationError, check_frame, check_new_vars_absent, copy_frame, eval_condition


def derive_vars_cat(dataset: pd.DataFrame, definition: Sequence[Mapping[str, Any]],
                    overwrite: bool = False) -> pd.DataFrame:
    """Set variables from the first matching row of ``definition`` (each: ``condition`` + values).

    Every definition row names the same variables; records matching no condition get missing.
    A value ``"=VAR"`` copies variable VAR of the record (e.g. ``DCSREAS: "=EOSDECOD"``).
    ``overwrite=True`` replaces existing variables of the same name.

    >>> adsl = pd.DataFrame({"AGE": [30, 64, 65, None]})
    >>> derive_vars_cat(adsl, [{"condition": "AGE < 65", "AGEGR1": "<65", "AGEGR1N": 1},
    ...                        {"condition": "AGE >= 65", "AGEGR1": ">=65", "AGEGR1N": 2}])
        AGE AGEGR1  AGEGR1N
    0  30.0    <65      1.0
    1  64.0    <65      1.0
    2  65.0   >=65      2.0
    3   NaN   None      NaN
    """
    check_frame(dataset, "dataset")
    rows = list(definition or [])
    if not rows or any(not isinstance(r, Mapping) or "condition" not in r for r in rows):
        raise DerivationError("derive_vars_cat: definition must be a non-empty list of mappings with a 'condition'")
    names = [k for k in rows[0] if k != "condition"]
    for i, row in enumerate(rows):
        if sorted(k for k in row if k != "condition") != sorted(names):
            raise DerivationError(f"derive_vars_cat: definition row {i + 1} sets {sorted(row)} instead of {names}")
    if not overwrite:
        check_new_vars_absent(dataset, names)
    copies = sorted({v[1:] for r in rows for k, v in r.items() if k != "condition" and isinstance(v, str)
                     and v.startswith("=")})
    check_frame(dataset, "dataset", copies)
    masks = [eval_condition(dataset, str(r["condition"]), f"definition row {i + 1} condition").to_numpy()
             for i, r in enumerate(rows)]
    out = copy_frame(dataset)
    for name in names:
        values = [r[name] for r in rows]
        numeric = all(v is None or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool)) for v in values)
        if numeric:
            out[name] = np.select(masks, [np.nan if v is None else float(v) for v in values], default=np.nan)
        else:
            series = pd.Series(None, index=out.index, dtype=object)
            for mask, value in reversed(list(zip(masks, values))):  # few definition rows, not data rows
                if isinstance(value, str) and value.startswith("="):
                    series[mask] = dataset.loc[mask, value[1:]].astype(object).to_numpy()  # by position
                else:
                    series[mask] = value
            out[name] = series.astype(object).where(series.notna(), None)
    return out
