"""derive_vars_dy: several relative days at once (``ASTDT`` -> ``ASTDY``, ``AENDT`` -> ``AENDY``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from pipeline.adam._utils import DerivationError, check_frame, copy_frame
from pipeline.adam.derive_var_dy import derive_var_dy


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
