"""Controlled terminology: the one reader of the CDISC CT package files in ``specs/standards/``.

The package is every ``ct-*-<date>.tsv`` (SDTM) and, for ADaM, ``adamct-*-<date>.tsv`` of the
newest date, one row per codelist term. Mapping, trial design, validation and packaging all read it
here, so a term the validator accepts is a term the mapping accepts. To move to a newer NCI release,
put its files beside the old ones with the new date in their names (the newest date wins); a
sponsor's own terms go in a ``ct-sponsor-<date>.tsv`` file of the same columns.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

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
