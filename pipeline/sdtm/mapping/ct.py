"""Controlled terminology: raw or CRF display values to CDISC submission values."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.common.errors import ConfigError

@dataclass(frozen=True)
class Codelist:
    """One codelist: its submission values and a lookup from every accepted spelling to them.

    >>> cl = Codelist.build("NY", ["Y", "N"], {"yes": "Y"}, extensible=False)
    >>> cl.lookup["YES"], cl.lookup["Y"]
    ('Y', 'Y')
    """

    name: str
    values: tuple[str, ...]
    lookup: dict[str, str]
    extensible: bool

    @classmethod
    def build(cls, name: str, values: list[str], synonyms: dict[str, str], extensible: bool) -> "Codelist":
        lookup = {v.upper(): v for v in values}
        for raw, value in synonyms.items():
            lookup.setdefault(str(raw).strip().upper(), value)
        return cls(name=name, values=tuple(values), lookup=lookup, extensible=extensible)


def codelist_from_ct(ct: pd.DataFrame, name: str) -> Codelist:
    """The codelist ``name`` (short name such as ``SEX`` or C-code) with CDISC synonyms and NCI terms.

    >>> from pipeline.standards.terminology import load_terminology
    >>> ct = load_terminology()
    >>> codelist_from_ct(ct, "NY").lookup["YES"]
    'Y'
    """
    rows = ct[(ct["codelist"] == name) | (ct["codelist_code"] == name)]
    if rows.empty:
        known = ", ".join(sorted(ct["codelist"].unique()))
        raise ConfigError(f"unknown codelist '{name}' (known: {known})")
    synonyms: dict[str, str] = {}
    for value, syn, preferred in zip(rows["submission_value"], rows["synonyms"], rows["nci_preferred_term"]):
        for s in [p.strip() for p in str(syn).split(";") if p.strip()] + [str(preferred).strip()]:
            if s:
                synonyms.setdefault(s, value)
    return Codelist.build(name, list(rows["submission_value"]), synonyms,
                          extensible=str(rows["extensible"].iloc[0]).strip().lower() == "yes")


def map_to_codelist(values: pd.Series, codelist: Codelist | None, value_map: dict[str, str] | None = None,
                    allow_extension: bool = False, label: str = "") -> tuple[pd.Series, pd.Series]:
    """Map raw values to submission values; return ``(mapped, reason)``.

    The study value map is applied first (exact, then case-insensitive), then the codelist's values
    and synonyms case-insensitively. A non-empty value that maps nowhere gets the reason
    ``unknown code '<value>' ...`` unless ``allow_extension`` (sponsor extension of an extensible list).

    >>> mapped, why = map_to_codelist(pd.Series(["Female", "m", "X", ""]),
    ...                               Codelist.build("SEX", ["F", "M"], {}, False), {"Female": "F"})
    >>> mapped.tolist(), why.tolist()[2]
    (['F', 'M', None, None], "unknown code 'X' for codelist SEX (known: F, M)")
    """
    value_map = {str(k): ("" if v is None else str(v)) for k, v in (value_map or {}).items()}
    upper_map = {k.strip().upper(): v for k, v in value_map.items()}
    text = values.fillna("").astype(str).str.strip()
    distinct = pd.unique(text)
    resolved: dict[str, str | None] = {}
    failed: dict[str, str] = {}
    for raw in distinct:
        if raw == "":
            resolved[raw] = None
            continue
        if raw in value_map:
            resolved[raw] = value_map[raw] or None
        elif raw.upper() in upper_map:
            resolved[raw] = upper_map[raw.upper()] or None
        elif codelist is not None and raw.upper() in codelist.lookup:
            resolved[raw] = codelist.lookup[raw.upper()]
        elif allow_extension and (codelist is None or codelist.extensible):
            resolved[raw] = raw.upper()
        else:
            resolved[raw] = None
            name = codelist.name if codelist is not None else (label or "the study value map")
            known = list(codelist.values) if codelist is not None else sorted(set(value_map.values()))
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            failed[raw] = f"unknown code '{raw}' for codelist {name} (known: {shown})"
    mapped = text.map(resolved).astype(object)
    mapped = mapped.where(mapped.notna(), None)
    reason = text.map(failed).astype(object)
    reason = reason.where(reason.notna(), None)
    if codelist is not None and not (allow_extension and codelist.extensible):
        # a study map may only produce values of a non-extensible codelist
        produced = mapped.dropna()
        outside = produced[~produced.isin(codelist.values)]
        if not outside.empty and not codelist.extensible:
            raise ConfigError(f"value map for codelist {codelist.name} produces '{outside.iloc[0]}', "
                              f"which is not a term of this non-extensible codelist")
    return mapped, reason
