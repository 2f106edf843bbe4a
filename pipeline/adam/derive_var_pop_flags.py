"""derive_var_pop_flags: subject-level population flags (Y/N, never missing) from rules in a spec."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pipeline.adam._utils import (DerivationError, check_frame, check_new_vars_absent, copy_frame, eval_condition,
                                  flag_series)


def derive_var_pop_flags(dataset: pd.DataFrame, rules: Mapping[str, str], true_value: str = "Y",
                         false_value: str = "N") -> pd.DataFrame:
    """Add one flag per rule: ``{FLAG: condition}``; ``Y`` where the condition holds, ``N`` elsewhere.

    Rules run in the given order, so a later rule may use an earlier flag (``FASFL`` from ``RANDFL``).
    A condition on a missing value is false, so the flag is ``N``, never missing.

    >>> adsl = pd.DataFrame({"ARMCD": ["A", "B", "SCRNFAIL"], "TRTSDT": pd.to_datetime(["2024-01-01", None, None])})
    >>> derive_var_pop_flags(adsl, {"RANDFL": "ARMCD != 'SCRNFAIL'", "SAFFL": "notna(TRTSDT)",
    ...                             "FASFL": "RANDFL == 'Y' and SAFFL == 'Y'"})[["RANDFL", "SAFFL", "FASFL"]]
      RANDFL SAFFL FASFL
    0      Y     Y     Y
    1      Y     N     N
    2      N     N     N
    """
    check_frame(dataset, "dataset")
    if not isinstance(rules, Mapping) or not rules:
        raise DerivationError("derive_var_pop_flags: rules must be a non-empty mapping {FLAG: condition}")
    check_new_vars_absent(dataset, rules.keys())
    out = copy_frame(dataset)
    for flag, condition in rules.items():
        if not isinstance(condition, str):
            raise DerivationError(f"derive_var_pop_flags: rule for {flag} must be a condition string, got {condition!r}")
        out[flag] = flag_series(eval_condition(out, condition, f"rule {flag}"), true_value, false_value)
    return out
