"""Controlled terminology: the one reader of the CDISC CT package files in ``specs/standards/``.

The package is every ``ct-*-<date>.tsv`` (SDTM) and, for ADaM, ``adamct-*-<date>.tsv`` of the
newest date, one row per codelist term. Mapping, trial design, validation and packaging all read it
here, so a term the validator accepts is a term the mapping accepts. To move to a newer NCI release,
put its files beside the old ones with the new date in their names (the newest date wins); a
sponsor's own terms go in a ``ct-sponsor-<date>.tsv`` file of the same columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.standards import standards_home

CT_COLUMNS = ["codelist_code", "codelist", "codelist_name", "extensible", "term_code", "submission_value",
              "synonyms", "nci_preferred_term"]
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
DEFAULT_STANDARDS = standards_home()


def read_ct_file(path: str | Path) -> pd.DataFrame:
    """One CT TSV as text (one row per codelist term); ``attrs["version"]`` is the package date in
    the file name (TS.TSVCDVER), None when the name carries none.

    >>> ct = read_ct_file(DEFAULT_STANDARDS / "ct-subset-2025-03-28.tsv")
    >>> sorted(ct.loc[ct["codelist"] == "SEX", "submission_value"]), ct.attrs["version"]
    (['F', 'INTERSEX', 'M', 'U'], '2025-03-28')
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: controlled terminology file not found")
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in CT_COLUMNS if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path}:1: missing column(s) {', '.join(missing)}")
    version = _DATE.search(path.name)
    frame.attrs["version"] = version.group(1) if version else None
    return frame


def load_terminology(standards_dir: str | Path | None = None, adam: bool = False) -> pd.DataFrame:
    """The CT package: every SDTM CT file of the newest date (and the ADaM ones when ``adam``),
    with a ``source_file`` column; ``attrs["version"]`` is the package date. Treat it as read-only.

    >>> ct = load_terminology()
    >>> ct.attrs["version"], {"TRANSDERMAL", "INTRAVENOUS"} <= set(ct.loc[ct["codelist"] == "ROUTE", "submission_value"])
    ('2025-03-28', True)
    >>> "PARAMTYP" in set(load_terminology(adam=True)["codelist"])
    True
    """
    folder = Path(standards_dir) if standards_dir else DEFAULT_STANDARDS
    return _load_cached(str(folder.resolve()), adam)


@lru_cache(maxsize=8)
def _load_cached(folder: str, adam: bool) -> pd.DataFrame:
    files = sorted(Path(folder).glob("ct-*.tsv"))
    dated = [(m.group(1), p) for p in files if (m := _DATE.search(p.name))]
    if not dated:
        raise ConfigError(f"{folder}: no controlled-terminology file ct-<name>-<YYYY-MM-DD>.tsv")
    version = max(d for d, _ in dated)
    chosen = [p for d, p in dated if d == version]
    if adam:
        chosen += sorted(p for p in Path(folder).glob("adamct-*.tsv") if version in p.name)
    frames = []
    for path in sorted(chosen, key=lambda p: (not p.name.startswith("ct-subset"), p.name)):
        frame = read_ct_file(path)
        frames.append(frame.assign(source_file=path.name))
    package = pd.concat(frames, ignore_index=True)
    package.attrs["version"] = version
    return package


@dataclass(frozen=True)
class Codelist:
    """One codelist, standard (CT) or sponsor-defined: its submission values and a lookup from every
    accepted spelling (value, CDISC synonym, NCI preferred term, case-insensitive) to them.

    >>> cl = Codelist.build("NY", ["Y", "N"], {"yes": "Y"}, extensible=False)
    >>> cl.lookup["YES"], cl.lookup["Y"], sorted(cl.terms)
    ('Y', 'Y', ['N', 'Y'])
    """

    name: str
    values: tuple[str, ...]
    lookup: dict[str, str] = field(compare=False)
    extensible: bool
    code: str = ""
    sponsor_defined: bool = False
    term_codes: dict[str, str] = field(default_factory=dict, compare=False)  # submission value -> NCI code

    @property
    def terms(self) -> frozenset[str]:
        return frozenset(self.values)

    @classmethod
    def build(cls, name: str, values: list[str], synonyms: dict[str, str], extensible: bool,
              code: str = "", sponsor_defined: bool = False, term_codes: dict[str, str] | None = None) -> "Codelist":
        lookup = {v.upper(): v for v in values}
        for raw, value in synonyms.items():
            lookup.setdefault(str(raw).strip().upper(), value)
        return cls(name, tuple(values), lookup, extensible, code, sponsor_defined, dict(term_codes or {}))


def codelist_from_ct(ct: pd.DataFrame, name: str) -> Codelist:
    """The codelist ``name`` (short name such as ``SEX`` or C-code) with CDISC synonyms and NCI terms.

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
                          extensible=str(rows["extensible"].iloc[0]).strip().lower() == "yes",
                          code=str(rows["codelist_code"].iloc[0]),
                          term_codes=dict(zip(rows["submission_value"][::-1], rows["term_code"][::-1])))  # first wins


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
    if codelist is not None and not codelist.extensible:  # a study map may only produce values of the codelist
        outside = mapped.dropna()[~mapped.dropna().isin(codelist.values)]
        if not outside.empty:
            raise ConfigError(f"value map for codelist {codelist.name} produces '{outside.iloc[0]}', "
                              f"which is not a term of this non-extensible codelist")
    return mapped, reason


def build_codelists(ct: pd.DataFrame, sponsor: dict[str, Any] | None = None) -> dict[str, Codelist]:
    """Codelists by short name from the CT package plus the study's sponsor codelists.

    >>> ct = pd.DataFrame({"codelist": ["SEX", "SEX"], "codelist_code": ["C66731"] * 2,
    ...                    "extensible": ["No", "No"], "submission_value": ["F", "M"]})
    >>> cl = build_codelists(ct, {"AEREL": {"extensible": False, "terms": ["RELATED", "NOT RELATED"]}})
    >>> sorted(cl["SEX"].terms), cl["AEREL"].sponsor_defined
    (['F', 'M'], True)
    """
    out: dict[str, Codelist] = {}
    for name, group in ct.groupby("codelist", sort=True):
        out[name] = Codelist.build(name, list(group["submission_value"]), {},
                                   str(group["extensible"].iloc[0]).strip().lower() == "yes",
                                   str(group["codelist_code"].iloc[0]))
    for name, spec in (sponsor or {}).items():
        terms = [str(t) for t in spec.get("terms") or []]
        base = out.get(name)
        if base is not None:  # sponsor extension of a CT codelist (only allowed when extensible)
            out[name] = Codelist.build(name, list(base.values) + terms, {}, base.extensible, base.code)
        else:
            out[name] = Codelist.build(name, terms, {}, bool(spec.get("extensible", False)),
                                       str(spec.get("code", "")), sponsor_defined=True)
    return out
