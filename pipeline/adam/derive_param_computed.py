"""derive_param_computed: a new parameter computed from other parameters at the same time point."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pipeline.adam._utils import DerivationError, as_list, check_frame, eval_condition
from pipeline.common.expressions import ExpressionError, evaluate


def derive_param_computed(
    dataset: pd.DataFrame,
    by_vars: Sequence[str],
    parameters: Sequence[str],
    analysis_value: str,
    set_values_to: Mapping[str, Any],
    filter_add: str | None = None,
    keep_nas: bool = False,
    analysis_var: str = "AVAL",
) -> pd.DataFrame:
    """Append records whose ``analysis_var`` is ``analysis_value`` computed from ``parameters``.

    Source values are named ``AVAL_<PARAMCD>`` in ``analysis_value`` (a pandas expression; ``log``,
    ``exp``, ``sqrt`` ... are available), one source record per ``by_vars`` + PARAMCD. Groups missing
    a parameter or giving a missing result are dropped unless ``keep_nas``. A single parameter gives
    a transformed parameter (LUPCR = ``log(AVAL_UPCR)``) when ``by_vars`` identifies each record.

    >>> lb = pd.DataFrame({"USUBJID": ["1", "1"], "ADT": ["2024-01-01"] * 2, "PARAMCD": ["UPROT", "UCREAT"],
    ...                    "AVAL": [150.0, 100.0]})
    >>> out = derive_param_computed(lb, ["USUBJID", "ADT"], ["UPROT", "UCREAT"], "AVAL_UPROT / AVAL_UCREAT",
    ...                             {"PARAMCD": "UPCR"})
    >>> out.iloc[-1].astype(str).tolist()
    ['1', '2024-01-01', 'UPCR', '1.5']
    """
    by = as_list(by_vars, "by_vars")
    params = as_list(parameters, "parameters")
    check_frame(dataset, "dataset", by + ["PARAMCD", analysis_var])
    if not params:
        raise DerivationError("derive_param_computed: parameters must name at least one PARAMCD")
    if "PARAMCD" not in set_values_to:
        raise DerivationError("derive_param_computed: set_values_to must give PARAMCD")
    source = dataset.loc[eval_condition(dataset, filter_add, "filter_add") & dataset["PARAMCD"].isin(params),
                         by + ["PARAMCD", analysis_var]]
    dup = source.duplicated(by + ["PARAMCD"], keep=False)
    if dup.any():
        example = source.loc[dup, by + ["PARAMCD"]].iloc[0].to_dict()
        raise DerivationError(f"derive_param_computed: more than one source record for {example}; "
                              "add by_vars or a filter_add")
    # one merge per parameter (missing key values match each other, unlike an index unstack)
    wide = source[by].drop_duplicates()
    for param in params:
        part = source.loc[source["PARAMCD"] == param, by + [analysis_var]]
        wide = wide.merge(part.rename(columns={analysis_var: f"{analysis_var}_{param}"}), on=by, how="left")
    result = wide[by].copy()
    if wide.empty:
        result[analysis_var] = pd.Series(dtype=float)
    else:
        try:
            value = evaluate(wide, analysis_value)
        except ExpressionError as exc:
            raise DerivationError(f"derive_param_computed: analysis_value: {exc}") from None
        result[analysis_var] = pd.to_numeric(value).astype(float).to_numpy()
    if not keep_nas:
        result = result.loc[result[analysis_var].notna()].copy()
    for var, val in set_values_to.items():
        result[var] = val
    return pd.concat([dataset, result], ignore_index=True)
