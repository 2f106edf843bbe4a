"""RELREC: relate records across domains (record level) or whole datasets (dataset level).

Public interface:
- ``build_relrec(dataset, dataset_add, domain, domain_add, filter_dataset, filter_add)``: record-level
  links, e.g. AE records with ``AEACN = DRUG WITHDRAWN`` and the subject's DS record for
  discontinuation of study treatment, sharing one RELID per subject.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.expressions import ExpressionError, evaluate_mask
from pipeline.common.logs import get_logger
from pipeline.sdtm.derive_helpers import as_tuple, check_domain, check_frame, check_variable_name
from pipeline.sdtm.supp import idvar_values, nulls_as_none

log = get_logger("sdtm.relrec")

RELREC_COLUMNS = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELTYPE", "RELID"]
RowFilter = Union[str, Callable[[pd.DataFrame], pd.Series], pd.Series, np.ndarray, None]


def apply_filter(dataset: pd.DataFrame, condition: RowFilter, name: str) -> pd.DataFrame:
    """Rows of ``dataset`` where ``condition`` holds: an expression (``pipeline.common.expressions``), a callable returning a mask, or a mask.

    >>> ae = pd.DataFrame({"AEACN": ["DRUG WITHDRAWN", "DOSE NOT CHANGED"]})
    >>> apply_filter(ae, "AEACN == 'DRUG WITHDRAWN'", "filter_dataset").index.tolist()
    [0]
    """
    if condition is None:
        return dataset
    if isinstance(condition, str):
        try:
            mask = evaluate_mask(dataset, condition)
        except ExpressionError as exc:
            raise ConfigError(f"argument {name}: {exc}") from None
    elif callable(condition):
        mask = condition(dataset)
    else:
        mask = condition
    mask = pd.Series(np.asarray(mask), index=dataset.index) if not isinstance(mask, pd.Series) else mask
    if len(mask) != len(dataset) or not pd.api.types.is_bool_dtype(mask.fillna(False)):
        raise ConfigError(f"argument {name}: the condition must give one true/false value per record")
    return dataset[mask.fillna(False).astype(bool).to_numpy()]


def build_relrec(
    dataset: pd.DataFrame,
    dataset_add: pd.DataFrame,
    domain: str,
    domain_add: str,
    filter_dataset: RowFilter = None,
    filter_add: RowFilter = None,
    by_vars: str | Sequence[str] = ("USUBJID",),
    idvar: str | None = None,
    idvar_add: str | None = None,
    relid_prefix: str | None = None,
) -> pd.DataFrame:
    """Record-level RELREC linking the filtered records of two domains that share ``by_vars``.

    For every ``by_vars`` group (the subject by default) that has records on both sides after
    filtering, each record of both sides gets one RELREC row (USUBJID, IDVAR, IDVARVAL) with a
    common RELID ``<relid_prefix><n>`` (default prefix ``<domain><domain_add>``, n numbering the
    subject's groups). RELTYPE is null (record level). Groups with records on one side only are
    left out and counted in the log. Output sorted by USUBJID, RELID, side, IDVARVAL (numeric).

    ``filter_dataset`` and ``filter_add`` select the records to relate (see :func:`apply_filter`);
    ``idvar`` and ``idvar_add`` identify them (default ``<domain>SEQ``).

    >>> ae = pd.DataFrame({"STUDYID": "X", "USUBJID": ["S1", "S1", "S2"], "AESEQ": [1, 2, 1],
    ...                    "AEACN": ["DOSE NOT CHANGED", "DRUG WITHDRAWN", "DRUG WITHDRAWN"]})
    >>> ds = pd.DataFrame({"STUDYID": "X", "USUBJID": ["S1", "S1", "S2"], "DSSEQ": [1, 2, 1],
    ...                    "DSSCAT": ["STUDY TREATMENT", "STUDY PARTICIPATION", "STUDY TREATMENT"],
    ...                    "DSDECOD": ["ADVERSE EVENT", "COMPLETED", "ADVERSE EVENT"]})
    >>> build_relrec(ae, ds, "AE", "DS", filter_dataset="AEACN == 'DRUG WITHDRAWN'",
    ...              filter_add="DSSCAT == 'STUDY TREATMENT' and DSDECOD == 'ADVERSE EVENT'")
      STUDYID RDOMAIN USUBJID  IDVAR IDVARVAL RELTYPE   RELID
    0       X      AE      S1  AESEQ        2    None  AEDS1
    1       X      DS      S1  DSSEQ        1    None  AEDS1
    2       X      AE      S2  AESEQ        1    None  AEDS1
    3       X      DS      S2  DSSEQ        1    None  AEDS1
    """
    check_domain(domain)
    check_domain(domain_add, "domain_add")
    by = list(as_tuple(by_vars, "by_vars"))
    if "USUBJID" not in by:
        raise ConfigError("argument by_vars: record-level RELREC links records of one subject, include USUBJID")
    idvar = check_variable_name(idvar or f"{domain}SEQ", "idvar")
    idvar_add = check_variable_name(idvar_add or f"{domain_add}SEQ", "idvar_add")
    prefix = relid_prefix if relid_prefix is not None else f"{domain}{domain_add}"
    check_frame(dataset, domain, ["STUDYID", *by, idvar])
    check_frame(dataset_add, domain_add, ["STUDYID", *by, idvar_add])

    left = apply_filter(dataset, filter_dataset, "filter_dataset")
    right = apply_filter(dataset_add, filter_add, "filter_add")
    sides = []
    for side, (frame, code, var) in enumerate(((left, domain, idvar), (right, domain_add, idvar_add))):
        rows = frame[["STUDYID", *by]].copy()
        rows["RDOMAIN"], rows["IDVAR"], rows["_side"] = code, var, side
        rows["IDVARVAL"] = idvar_values(frame, code, var, "RELREC").to_numpy()
        sides.append(rows)
    both = pd.concat(sides, ignore_index=True)
    group_keys = ["STUDYID", *by]
    counts = both.groupby(group_keys, dropna=False)["_side"].nunique()
    linked = counts[counts == 2].index
    orphans = len(counts) - len(linked)
    if orphans:
        log.info("RELREC %s-%s: %d group(s) with records on one side only were not linked", domain, domain_add, orphans)
    both = both.set_index(group_keys)
    both = both[both.index.isin(linked)].reset_index()
    if both.empty:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in RELREC_COLUMNS})
    groups = both[group_keys].drop_duplicates().sort_values(group_keys, kind="mergesort")
    groups["_n"] = groups.groupby(["STUDYID", "USUBJID"]).cumcount() + 1
    both = both.merge(groups, on=group_keys, how="left")
    both["RELID"] = prefix + both["_n"].astype(str)
    both["RELTYPE"] = None
    both["_order"] = pd.to_numeric(both["IDVARVAL"], errors="coerce")
    both = both.sort_values(["STUDYID", "USUBJID", "_n", "_side", "_order", "IDVARVAL"], kind="mergesort")
    return nulls_as_none(both[RELREC_COLUMNS].reset_index(drop=True))
