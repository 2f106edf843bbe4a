"""derive_vars_joined: add variables from another dataset under a join condition (e.g. rescue before Week 24)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pipeline.adam._utils import (DerivationError, as_list, check_frame, check_new_vars_absent, copy_frame,
                                  eval_condition, flag_series, order_columns, sort_frame)
from pipeline.adam.derive_vars_merged import new_var_map


def derive_vars_joined(
    dataset: pd.DataFrame,
    dataset_add: pd.DataFrame,
    by_vars: Sequence[str],
    new_vars: Sequence[str] | Mapping[str, str] | None = None,
    filter_join: str | None = None,
    order: Sequence[str] | None = None,
    mode: str = "first",
    filter_add: str | None = None,
    exist_flag: str | None = None,
    true_value: Any = "Y",
    false_value: Any = None,
    missing_values: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Like ``derive_vars_merged`` but the match may depend on both datasets through ``filter_join``.

    Every record of ``dataset`` is joined with the ``dataset_add`` records (after ``filter_add``)
    of its ``by_vars`` group; ``filter_join`` is evaluated on the joined rows, where a
    ``dataset_add`` variable whose name is also in ``dataset`` is called ``<NAME>_join``. Of the
    remaining matches the first/last by ``order`` gives ``new_vars`` (``{new: dataset_add var}``).

    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"], "W24DT": pd.to_datetime(["2024-06-01", "2024-06-01"])})
    >>> cm = pd.DataFrame({"USUBJID": ["1", "2"], "CMDECOD": ["RITUXIMAB", "RITUXIMAB"],
    ...                    "ASTDT": pd.to_datetime(["2024-03-01", "2024-07-01"])})
    >>> derive_vars_joined(adsl, cm, ["USUBJID"], new_vars={"RESCDT": "ASTDT"}, filter_join="ASTDT <= W24DT",
    ...                    order=["ASTDT"], exist_flag="RESCFL", false_value="N")[["USUBJID", "RESCDT", "RESCFL"]]
      USUBJID     RESCDT RESCFL
    0       1 2024-03-01      Y
    1       2        NaT      N
    """
    by = as_list(by_vars, "by_vars")
    check_frame(dataset, "dataset", by)
    check_frame(dataset_add, "dataset_add", by)
    if mode not in ("first", "last"):
        raise DerivationError(f"derive_vars_joined: mode must be 'first' or 'last', got {mode!r}")
    mapping = new_var_map(new_vars, dataset_add, by)
    check_frame(dataset_add, "dataset_add", mapping.values())
    check_new_vars_absent(dataset, list(mapping) + ([exist_flag] if exist_flag else []))
    add = dataset_add.loc[eval_condition(dataset_add, filter_add, "filter_add", "dataset_add")]
    renamed = {c: (f"{c}_join" if c in dataset.columns and c not in by else c) for c in add.columns}
    add = add.rename(columns=renamed)
    left = dataset.assign(__row=range(len(dataset)))
    joined = left.merge(add, on=by, how="inner", sort=False)
    joined = joined.loc[eval_condition(joined, filter_join, "filter_join", "joined dataset")]
    if order:
        joined = sort_frame(joined, ["__row"], [o.replace(c, renamed.get(c, c)) for o in order for c in
                                                 order_columns([o])])
    picked = joined.drop_duplicates("__row", keep="first" if mode == "first" else "last").set_index("__row")
    out = copy_frame(dataset)
    position = pd.Series(range(len(dataset)), index=dataset.index)
    for new, source in mapping.items():
        out[new] = position.map(picked[renamed.get(source, source)])
    matched = position.isin(picked.index)
    for new, value in (missing_values or {}).items():
        out.loc[~matched, new] = value
    if exist_flag:
        out[exist_flag] = flag_series(matched, true_value, false_value)
    return out
