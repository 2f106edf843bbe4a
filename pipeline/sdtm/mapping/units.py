"""Unit normalisation and conversion with factors from ``specs/standards/units.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.specfile import load_spec

# (from dimension, to dimension): exponent of the molar mass in the conversion
_CROSS = {("mass_concentration", "molar_concentration"): -1, ("molar_concentration", "mass_concentration"): 1,
          ("mass_ratio", "mass_per_amount"): 1, ("mass_per_amount", "mass_ratio"): -1}


@dataclass(frozen=True)
class UnitTable:
    """Units with dimension, factor (and offset) to the base unit, aliases and molar masses.

    >>> table = UnitTable.from_dict({"units": {"g/L": {"dimension": "m", "factor": 1},
    ...                                        "mg/dL": {"dimension": "m", "factor": 0.01}}})
    >>> table.factor("mg/dL", "g/L")
    (0.01, 0.0)
    """

    units: dict[str, dict[str, Any]]
    aliases: dict[str, str] = field(default_factory=dict)
    molar_masses: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "units.yaml") -> "UnitTable":
        units = data.get("units") or {}
        for name, spec in units.items():
            if not isinstance(spec, dict) or "dimension" not in spec or "factor" not in spec:
                raise ConfigError(f"{where}: unit '{name}' needs a dimension and a factor")
        aliases = {str(k): str(v) for k, v in (data.get("aliases") or {}).items()}
        for alias, target in aliases.items():
            if target not in units:
                raise ConfigError(f"{where}: alias '{alias}' points at unknown unit '{target}'")
        masses = {str(k): float(v) for k, v in (data.get("molar_masses") or {}).items()}
        return cls(units=dict(units), aliases=aliases, molar_masses=masses)

    @classmethod
    def load(cls, path: str | Path, ct: pd.DataFrame | None = None) -> "UnitTable":
        """Read ``units.yaml``; CDISC UNIT synonyms from the CT subset become extra aliases."""
        data = load_spec(path) or {}
        table = cls.from_dict(data, where=str(path))
        if ct is not None and not ct.empty:
            extra = {}
            unit_rows = ct[ct["codelist"] == "UNIT"]
            for value, synonyms in zip(unit_rows["submission_value"], unit_rows["synonyms"].fillna("")):
                if value not in table.units:
                    continue
                for synonym in [s.strip() for s in str(synonyms).split(";") if s.strip()]:
                    if synonym not in table.units and synonym not in table.aliases:
                        extra[synonym] = value
            table = cls(units=table.units, aliases={**extra, **table.aliases}, molar_masses=table.molar_masses)
        return table

    def normalise(self, unit: str) -> str | None:
        """The unit key for a raw spelling, or None when unknown.

        >>> UnitTable.from_dict({"units": {"g/L": {"dimension": "m", "factor": 1}}, "aliases": {"G/L": "g/L"}}).normalise(" g/l ")
        'g/L'
        """
        text = str(unit).strip()
        if text in self.units:
            return text
        if text in self.aliases:
            return self.aliases[text]
        folded = text.casefold()
        for spellings in ({u: u for u in self.units}, self.aliases):
            hits = {v for a, v in spellings.items() if a.casefold() == folded}
            if len(hits) == 1:
                return hits.pop()
        return None

    def factor(self, source: str, target: str, analyte: str | None = None) -> tuple[float, float] | None:
        """``(factor, offset)`` such that ``target_value = value * factor + offset``; None if impossible.

        >>> table = UnitTable.load(Path(__file__).resolve().parents[3] / "specs/standards/units.yaml")
        >>> round(table.factor("g/g", "g/mol", "PROTCRT")[0], 2)
        113.12
        """
        a, b = self.units.get(source), self.units.get(target)
        if a is None or b is None:
            return None
        fa, oa = float(a["factor"]), float(a.get("offset", 0.0))
        fb, ob = float(b["factor"]), float(b.get("offset", 0.0))
        if a["dimension"] == b["dimension"]:
            # base = v*fa + oa ; target = (base - ob) / fb
            return fa / fb, (oa - ob) / fb
        pair = (a["dimension"], b["dimension"])
        mass = self.molar_masses.get(analyte or "")
        if mass is None or pair not in _CROSS:
            return None
        return fa / fb * mass ** _CROSS[pair], 0.0


def convert_values(values: pd.Series, units: pd.Series, target: pd.Series, table: UnitTable,
                   analytes: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Convert numeric ``values`` from per-row ``units`` to per-row ``target`` units.

    Returns ``(converted floats, reason)``; reason is set where the unit is unknown or the
    conversion impossible (the value is then NaN). Empty values stay NaN without a reason.

    >>> table = UnitTable.from_dict({"units": {"g/L": {"dimension": "m", "factor": 1},
    ...                                        "mg/dL": {"dimension": "m", "factor": 0.01}}})
    >>> out, why = convert_values(pd.Series([150.0, 2.0]), pd.Series(["mg/dL", "furlong"]), pd.Series(["g/L", "g/L"]), table)
    >>> out.tolist()[0], why.tolist()[1]
    (1.5, "unknown unit 'furlong'")
    """
    analytes = analytes if analytes is not None else pd.Series([""] * len(values), index=values.index)
    frame = pd.DataFrame({"unit": units.fillna("").astype(str), "target": target.fillna("").astype(str),
                          "analyte": analytes.fillna("").astype(str)}, index=values.index)
    # each distinct (unit, target, analyte) is resolved once; codes number them in order of appearance
    codes = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    combos = frame.iloc[np.unique(codes, return_index=True)[1]]
    factors, offsets, reasons = {}, {}, {}
    for unit, tgt, analyte in combos.itertuples(index=False, name=None):
        key = (unit, tgt, analyte)
        src = table.normalise(unit) if unit else None
        dst = table.normalise(tgt) if tgt else None
        if not unit:
            reasons[key] = "missing unit"
        elif src is None:
            reasons[key] = f"unknown unit '{unit}'"
        elif dst is None:
            reasons[key] = f"unknown standard unit '{tgt}'"
        else:
            result = table.factor(src, dst, analyte)
            if result is None:
                reasons[key] = f"cannot convert '{unit}' to '{tgt}'" + (f" for {analyte}" if analyte else "")
            else:
                factors[key], offsets[key] = result
    combo_keys = list(combos.itertuples(index=False, name=None))
    factor = pd.Series(np.array([factors.get(k, np.nan) for k in combo_keys], dtype=float)[codes], index=values.index)
    offset = pd.Series(np.array([offsets.get(k, 0.0) for k in combo_keys], dtype=float)[codes], index=values.index)
    reason = pd.Series(np.array([reasons.get(k) for k in combo_keys], dtype=object)[codes], index=values.index,
                       dtype=object)
    numeric = pd.to_numeric(values, errors="coerce")
    reason = reason.where(numeric.notna(), None)
    return numeric * factor + offset, reason
