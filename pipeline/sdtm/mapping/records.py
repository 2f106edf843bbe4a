"""Records derived from other records of the same domain (``derived_records:`` in a mapping file).

Only one function so far, ``ratio``: e.g. UPCR from urine protein and urine creatinine of the same
sample when the lab did not report it. The new record keeps the lineage of its numerator record
and names both sources in ``_derived_from``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.specfile import Where
from pipeline.sdtm.mapping.units import UnitTable

# the keys of a ratio item (pipeline.common.specfile.KINDS)
RATIO_SCHEMA = {"function": "name", "numerator": "mapping", "denominator": "mapping", "match_on": "names",
                "unless_present": "mapping", "value": "name", "unit": "name", "analyte": "name", "common_unit": "text",
                "digits": "count", "set_values_to": "mapping", "text_to": "names", "description": "text"}


@dataclass(frozen=True)
class RatioSpec:
    """A ``derived_records`` ratio item: numerator / denominator records of the same ``match_on`` keys."""

    numerator: dict[str, Any]
    denominator: dict[str, Any]
    match_on: tuple[str, ...]
    value: str
    unit: str
    common_unit: str
    set_values_to: dict[str, Any]
    unless_present: dict[str, Any] | None = None
    analyte: str | None = None
    digits: int | None = None
    text_to: tuple[str, ...] = ()
    description: str | None = None
    where: Where | None = None


def _select(data: pd.DataFrame, selector: dict[str, Any]) -> pd.Series:
    mask = pd.Series(True, index=data.index)
    for column, value in selector.items():
        mask &= data[column].astype(str) == str(value)
    return mask


def derive_records_ratio(dataset: pd.DataFrame, spec: RatioSpec, units: UnitTable) -> pd.DataFrame:
    """New records = numerator / denominator of the same ``match_on`` keys, both first converted to ``common_unit``.

    Only where no record selected by ``unless_present`` exists for those keys.

    >>> units = UnitTable.from_dict({"units": {"mg/dL": {"dimension": "m", "factor": 0.01},
    ...                                        "g/L": {"dimension": "m", "factor": 1}}})
    >>> lb = pd.DataFrame({"USUBJID": ["A", "A"], "LBDTC": ["2024-01-01"] * 2, "K": ["UPROT", "UCREAT"],
    ...     "LBTESTCD": ["PROT", "CREAT"], "LBSTRESN": [0.5, 100.0], "LBSTRESU": ["g/L", "mg/dL"],
    ...     "_file": "lab.csv", "_row": [1, 2]})
    >>> spec = RatioSpec(numerator={"K": "UPROT"}, denominator={"K": "UCREAT"}, match_on=("USUBJID", "LBDTC"),
    ...     unless_present={"K": "UPCR"}, value="LBSTRESN", unit="LBSTRESU", analyte="LBTESTCD", common_unit="mg/dL",
    ...     digits=3, set_values_to={"K": "UPCR", "LBTESTCD": "PROTCRT", "LBSTRESU": "g/g", "LBDRVFL": "Y"})
    >>> derive_records_ratio(lb, spec, units)[["LBTESTCD", "LBSTRESN", "LBSTRESU", "_row", "_derived_from"]].values.tolist()
    [['PROTCRT', 0.5, 'g/g', 1, 'lab.csv:1;lab.csv:2']]
    """
    keys = list(spec.match_on)
    needed = set(keys) | {spec.value, spec.unit} | set(spec.numerator) | set(spec.denominator)
    absent = [c for c in sorted(needed) if c not in dataset.columns]
    if absent:
        raise ConfigError(f"{spec.where}: derived_records ratio refers to unknown variable(s) {', '.join(absent)}")
    if dataset.empty:
        return dataset.iloc[0:0].copy()

    def side(selector: dict[str, Any]) -> pd.DataFrame:
        rows = dataset[_select(dataset, selector)]
        analyte = rows[spec.analyte] if spec.analyte else pd.Series("", index=rows.index)
        factor = [units.factor(units.normalise(u) or "", spec.common_unit, a) if isinstance(u, str) else None
                  for u, a in zip(rows[spec.unit], analyte)]
        scale = pd.Series([f[0] if f else np.nan for f in factor], index=rows.index, dtype=float)
        value = pd.to_numeric(rows[spec.value], errors="coerce") * scale
        return rows.assign(_ratio_value=value).drop_duplicates(subset=keys, keep="first")

    num, den = side(spec.numerator), side(spec.denominator)
    pairs = num.merge(den[keys + ["_ratio_value", "_file", "_row"]], on=keys, suffixes=("", "_den"))
    if spec.unless_present:
        present = dataset[_select(dataset, spec.unless_present)][keys].drop_duplicates()
        pairs = pairs.merge(present.assign(_present=True), on=keys, how="left")
        pairs = pairs[pairs["_present"].isna()].drop(columns="_present")
    ratio = pairs["_ratio_value"] / pairs["_ratio_value_den"]
    ratio = ratio.where(np.isfinite(ratio) & (pairs["_ratio_value_den"] != 0))
    if spec.digits is not None:
        ratio = ratio.round(int(spec.digits))
    out = pairs.drop(columns=["_ratio_value", "_ratio_value_den"]).copy()
    out[spec.value] = ratio.astype(float)
    for column, value in spec.set_values_to.items():
        out[column] = value
    text = ratio.map(lambda v: None if pd.isna(v) else f"{v:.{6 if spec.digits is None else spec.digits}f}".rstrip("0").rstrip("."))
    for column in spec.text_to:
        out[column] = text.values
    out["_derived_from"] = (out["_file"] + ":" + out["_row"].astype(str) + ";" + out["_file_den"] + ":"
                            + out["_row_den"].astype(str))
    out = out.drop(columns=["_file_den", "_row_den"])
    return out[out[spec.value].notna()].reset_index(drop=True)
