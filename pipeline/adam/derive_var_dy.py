"""derive_var_dy / derive_vars_dy: relative days (``*DY``) against a reference date, with no day 0."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from pipeline.adam._utils import DerivationError, as_dates, check_frame, check_new_vars_absent, copy_frame
from pipeline.common.dates import compute_study_day


def derive_var_dy(dataset: pd.DataFrame, reference_date: str, source_var: str, new_var: str | None = None) -> pd.DataFrame:
    """Add ``new_var`` (default: ``source_var`` with its trailing ``DT``/``DTM`` replaced by ``DY``).

    >>> adae = pd.DataFrame({"TRTSDT": pd.to_datetime(["2024-01-10", "2024-01-10"]),
    ...                      "ASTDT": pd.to_datetime(["2024-01-10", "2024-01-01"])})
    >>> derive_var_dy(adae, "TRTSDT", "ASTDT")["ASTDY"].tolist()
    [1.0, -9.0]
    """
    check_frame(dataset, "dataset", [reference_date, source_var])
    if new_var is None:
        if not source_var.endswith(("DT", "DTM")):
            raise DerivationError(f"derive_var_dy: cannot name the day variable of {source_var}; give new_var")
        new_var = source_var[:-3 if source_var.endswith("DTM") else -2] + "DY"
    check_new_vars_absent(dataset, [new_var])
    out = copy_frame(dataset)
    out[new_var] = compute_study_day(as_dates(out[source_var]), as_dates(out[reference_date])).set_axis(out.index)
    return out


def derive_vars_dy(dataset: pd.DataFrame, reference_date: str,
                   source_vars: Sequence[str] | Mapping[str, str]) -> pd.DataFrame:
    """Add a ``*DY`` for each source date; ``source_vars`` is a list or ``{new_var: source_var}``.

    >>> adae = pd.DataFrame({"TRTSDT": pd.to_datetime(["2024-01-10"]),
    ...                      "ASTDT": pd.to_datetime(["2024-01-09"]), "AENDT": pd.to_datetime(["2024-01-12"])})
    >>> derive_vars_dy(adae, "TRTSDT", ["ASTDT", "AENDT"])[["ASTDY", "AENDY"]].values.tolist()
    [[-1.0, 3.0]]
    """
    check_frame(dataset, "dataset", [reference_date])
    if isinstance(source_vars, Mapping):
        pairs = [(str(src), str(new)) for new, src in source_vars.items()]
    elif isinstance(source_vars, str) or not source_vars:
        raise DerivationError("derive_vars_dy: source_vars must be a non-empty list or mapping of date variables")
    else:
        pairs = [(str(src), None) for src in source_vars]
    out = dataset
    for src, new in pairs:
        out = derive_var_dy(out, reference_date, src, new)
    return out if out is not dataset else copy_frame(dataset)
