"""derive_var_base: copy the baseline record's value to every record of its group (BASE, BASEC, BNRIND ...)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline.adam._utils import DerivationError, as_list, check_frame, check_new_vars_absent, eval_condition


def derive_var_base(
    dataset: pd.DataFrame,
    by_vars: Sequence[str],
    source_var: str = "AVAL",
    new_var: str = "BASE",
    filter: str = "ABLFL == 'Y'",  # noqa: A002 - admiral's argument name
) -> pd.DataFrame:
    """Add ``new_var`` = ``source_var`` of the record meeting ``filter`` within each ``by_vars`` group.

    More than one baseline record in a group is an error naming the group; a group without one
    gets a missing value.

    >>> lb = pd.DataFrame({"USUBJID": ["1", "1", "2"], "PARAMCD": ["UPCR"] * 3,
    ...                    "AVAL": [2.0, 1.0, 3.0], "ABLFL": ["Y", None, None]})
    >>> derive_var_base(lb, ["USUBJID", "PARAMCD"])["BASE"].tolist()
    [2.0, 2.0, nan]
    """
    by = as_list(by_vars, "by_vars")
    check_frame(dataset, "dataset", by + [source_var])
    check_new_vars_absent(dataset, [new_var])
    if not by:
        raise DerivationError("derive_var_base: by_vars must name at least one variable")
    base = dataset.loc[eval_condition(dataset, filter, "filter"), by + [source_var]]
    dup = base.duplicated(by, keep=False)
    if dup.any():
        example = base.loc[dup, by].iloc[0].to_dict()
        raise DerivationError(f"derive_var_base: more than one baseline record ({filter}) for {example}")
    base = base.rename(columns={source_var: new_var})
    out = dataset.merge(base, on=by, how="left", sort=False, validate="many_to_one")
    out.index = dataset.index
    return out
