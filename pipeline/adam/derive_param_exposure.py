"""derive_param_exposure: add exposure summary parameters (total dose, number of infusions ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pipeline.adam._utils import DerivationError, as_list, check_frame
from pipeline.adam.derive_summary_records import derive_summary_records


def derive_param_exposure(
    dataset: pd.DataFrame,
    by_vars: Sequence[str],
    input_code: str,
    set_values_to: Mapping[str, Any],
    summary_fun: str = "sum",
    analysis_var: str = "AVAL",
    filter_add: str | None = None,
    date_vars: Sequence[str] = ("ASTDT", "AENDT"),
) -> pd.DataFrame:
    """Append one record per ``by_vars`` group summarising the ``input_code`` parameter.

    ``summary_fun``: sum (total dose), count (number of administrations), mean, min, max ...;
    the start/end dates in ``date_vars`` (when present) become the first start and last end.

    >>> adex = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["DOSE", "DOSE"], "AVAL": [600.0, 620.0],
    ...                      "ASTDT": pd.to_datetime(["2024-01-01", "2024-01-15"]),
    ...                      "AENDT": pd.to_datetime(["2024-01-01", "2024-01-15"])})
    >>> out = derive_param_exposure(adex, ["USUBJID"], "DOSE", {"PARAMCD": "TOTDOSE"})
    >>> out.iloc[-1][["PARAMCD", "AVAL", "AENDT"]].astype(str).tolist()
    ['TOTDOSE', '1220.0', '2024-01-15 00:00:00']
    """
    by = as_list(by_vars, "by_vars")
    check_frame(dataset, "dataset", by + ["PARAMCD", analysis_var])
    if not (dataset["PARAMCD"] == input_code).any():
        raise DerivationError(f"derive_param_exposure: no record with PARAMCD {input_code!r} in dataset")
    start, end = (list(date_vars) + [None, None])[:2]
    summary_vars = {var: [var, fun] for var, fun in ((start, "min"), (end, "max")) if var and var in dataset.columns}
    condition = f"PARAMCD == {input_code!r}" + (f" and ({filter_add})" if filter_add else "")
    return derive_summary_records(dataset, by, set_values_to, filter_add=condition, analysis_var=analysis_var,
                                  summary_fun=summary_fun, summary_vars=summary_vars)
