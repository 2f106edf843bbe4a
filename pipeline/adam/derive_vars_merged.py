"""derive_vars_merged: add variables from another dataset, one matching record per group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pipeline.adam._utils import (DerivationError, as_list, as_text, check_frame, check_new_vars_absent, copy_frame,
                                  eval_condition, flag_series, order_columns, sort_frame)


def _name_map(names: Sequence[str] | Mapping[str, str] | None, arg: str) -> dict[str, str]:
    """``{name: dataset_add variable}`` from a mapping, or from a list of names that stay the same."""
    if isinstance(names, Mapping):
        return {str(k): str(v) for k, v in names.items()}
    return {v: v for v in as_list(names, arg)}


def new_var_map(new_vars: Sequence[str] | Mapping[str, str] | None, dataset_add: pd.DataFrame,
                keys_add: list[str]) -> dict[str, str]:
    """``{new name: dataset_add variable}`` from a list, a mapping, or None (every non-key variable)."""
    if new_vars is None:
        return {c: c for c in dataset_add.columns if c not in keys_add}
    return _name_map(new_vars, "new_vars")


def select_one_per_group(dataset_add: pd.DataFrame, keys_add: list[str], order: Sequence[str] | None,
                         mode: str | None, name: str = "dataset_add") -> pd.DataFrame:
    """Reduce ``dataset_add`` to one record per ``keys_add`` (first/last by ``order``), or check it is so.

    >>> add = pd.DataFrame({"USUBJID": ["1", "1"], "EXSTDT": [2, 1]})
    >>> select_one_per_group(add, ["USUBJID"], ["EXSTDT"], "first")["EXSTDT"].tolist()
    [1]
    """
    if order:
        if mode not in ("first", "last"):
            raise DerivationError(f"{name}: mode must be 'first' or 'last' when order is given, got {mode!r}")
        ordered = sort_frame(dataset_add, keys_add, order)
        return ordered.drop_duplicates(keys_add, keep="first" if mode == "first" else "last")
    if mode is not None:
        if mode not in ("first", "last"):
            raise DerivationError(f"{name}: mode must be 'first' or 'last', got {mode!r}")
        return dataset_add.drop_duplicates(keys_add, keep=mode)
    duplicated = dataset_add.duplicated(keys_add, keep=False)
    if duplicated.any():
        example = dataset_add.loc[duplicated, keys_add].iloc[0].to_dict()
        raise DerivationError(f"{name}: more than one record per {', '.join(keys_add)} (e.g. {example}); "
                              "give order and mode, or a filter_add that leaves one record")
    return dataset_add


def derive_vars_merged(
    dataset: pd.DataFrame,
    dataset_add: pd.DataFrame,
    by_vars: Sequence[str] | Mapping[str, str],
    order: Sequence[str] | None = None,
    new_vars: Sequence[str] | Mapping[str, str] | None = None,
    filter_add: str | None = None,
    mode: str | None = None,
    exist_flag: str | None = None,
    true_value: Any = "Y",
    false_value: Any = None,
    missing_values: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Add ``new_vars`` from ``dataset_add`` to each record of ``dataset`` matching on ``by_vars``.

    ``by_vars`` is a list, or a mapping ``{dataset variable: dataset_add variable}`` when the key
    names differ. ``new_vars`` is a list, or a mapping ``{new name: dataset_add variable}``;
    ``None`` takes every non-key variable. ``filter_add`` restricts ``dataset_add`` first; with
    ``order`` and ``mode`` ('first'/'last') one record per group is kept, otherwise more than one
    record per group is an error. Records without a match get ``missing_values`` (a mapping of new
    variable to value), else missing. ``exist_flag`` names a flag set to ``true_value`` when a
    match exists and ``false_value`` otherwise. The number and order of rows never change.

    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"]})
    >>> ex = pd.DataFrame({"USUBJID": ["1", "1", "2"], "EXSTDT": pd.to_datetime(
    ...     ["2024-01-15", "2024-01-01", None]), "EXDOSE": [10, 10, 0]})
    >>> out = derive_vars_merged(adsl, ex, by_vars=["USUBJID"], order=["EXSTDT"], mode="first",
    ...                          filter_add="notna(EXSTDT)", new_vars={"TRTSDT": "EXSTDT"},
    ...                          exist_flag="DOSEDFL", false_value="N")
    >>> out
      USUBJID     TRTSDT DOSEDFL
    0       1 2024-01-01       Y
    1       2        NaT       N
    """
    check_frame(dataset, "dataset")
    check_frame(dataset_add, "dataset_add")
    keys = _name_map(by_vars, "by_vars")
    if not keys:
        raise DerivationError("derive_vars_merged: by_vars must name at least one variable")
    check_frame(dataset, "dataset", keys.keys())
    check_frame(dataset_add, "dataset_add", list(keys.values()) + order_columns(order))
    keys_add = list(keys.values())
    mapping = new_var_map(new_vars, dataset_add, keys_add)
    check_frame(dataset_add, "dataset_add", mapping.values())
    check_new_vars_absent(dataset, list(mapping) + ([exist_flag] if exist_flag else []))
    if missing_values:
        unknown = [k for k in missing_values if k not in mapping]
        if unknown:
            raise DerivationError(f"missing_values: {', '.join(unknown)} not among new_vars ({', '.join(mapping)})")

    add = dataset_add.loc[eval_condition(dataset_add, filter_add, "filter_add", "dataset_add")]
    add = select_one_per_group(add, keys_add, order, mode)
    right_keys = [f"__key{i}" for i in range(len(keys_add))]
    right = add[keys_add + [v for v in mapping.values() if v not in keys_add]].copy()
    right = right.rename(columns=dict(zip(keys_add, right_keys)))
    for new, source in mapping.items():
        right[new] = add[source].to_numpy() if source in keys_add else right[source]
    right = right[right_keys + list(mapping)]
    right["__matched"] = True
    left_keys = list(keys.keys())
    left = copy_frame(dataset)
    # align key types so that e.g. "101" (text) and 101 (number) match instead of silently missing
    for lk, key in zip(left_keys, right_keys):
        left_text = pd.api.types.is_object_dtype(left[lk]) or pd.api.types.is_string_dtype(left[lk])
        right_text = pd.api.types.is_object_dtype(right[key]) or pd.api.types.is_string_dtype(right[key])
        if left_text and not right_text and pd.api.types.is_numeric_dtype(right[key]):
            right[key] = as_text(right[key])
        elif right_text and not left_text and pd.api.types.is_numeric_dtype(left[lk]):
            right[key] = pd.to_numeric(right[key], errors="coerce")
        elif left[lk].dtype != right[key].dtype and left_text:
            right[key] = right[key].astype(object)
    merged = left.merge(right, how="left", left_on=left_keys, right_on=right_keys, sort=False, validate="many_to_one")
    merged.index = dataset.index
    merged = merged.drop(columns=[key for key in right_keys if key not in left_keys])
    matched = merged.pop("__matched").notna()
    for new, value in (missing_values or {}).items():
        merged.loc[~matched, new] = value
    if exist_flag:
        merged[exist_flag] = flag_series(matched, true_value, false_value)
    return merged
