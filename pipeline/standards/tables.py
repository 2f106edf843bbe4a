"""The SDTMIG 3.4 and ADaMIG 1.3 dataset and variable tables of ``specs/standards/``, read once here.

``sdtmig-3.4-variables.tsv`` and ``adamig-1.3-variables.tsv`` (one row per standard variable),
``sdtmig-3.4-datasets.tsv`` (one row per domain), ``datasets-supplement.yaml`` (datasets those tables
do not carry: CO, SC, PE and the ADaM datasets), ``origins.yaml`` (default origins, methods, roles) and
``ts-parameters.tsv`` (the codelist or format of each TS parameter's value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.specfile import load_spec
from pipeline.standards.terminology import DEFAULT_STANDARDS

IG_VERSIONS = {"SDTM": ("SDTMIG", "3.4"), "ADaM": ("ADaMIG", "1.3")}  # the implementation guides of the tables
SDTM_VARIABLES_FILE = f"sdtmig-{IG_VERSIONS['SDTM'][1]}-variables.tsv"
SDTM_DATASETS_FILE = f"sdtmig-{IG_VERSIONS['SDTM'][1]}-datasets.tsv"
ADAM_VARIABLES_FILE = f"adamig-{IG_VERSIONS['ADaM'][1]}-variables.tsv"
# ADaMIG dataset classes: the class as the variable table names it -> its define.xml name, and back
ADAM_CLASSES = {"ADSL": "SUBJECT LEVEL ANALYSIS DATASET", "BDS": "BASIC DATA STRUCTURE",
                "OCCDS": "OCCURRENCE DATA STRUCTURE"}
ADAM_CLASS_OF_NAME = {**{name: short for short, name in ADAM_CLASSES.items()}, **{short: short for short in ADAM_CLASSES}}
DATASETS_SUPPLEMENT_FILE = "datasets-supplement.yaml"
INSTRUMENTS_FOLDER = "instruments"
DICTIONARIES_FOLDER = "dictionaries"
ORIGINS_FILE = "origins.yaml"
TS_PARAMETERS_FILE = "ts-parameters.tsv"
FORMATS = {
    "ISO 8601": "iso8601",
    "ISO 8601 duration": "iso8601_duration",
    "ISO 3166-1 alpha-3": "iso3166_alpha3",
}
DICTIONARY_PREFIXES = ("MedDRA", "WHODrug", "LOINC", "ISO 21090", "UNII", "SNOMED")


@dataclass(frozen=True)
class CodelistReference:
    """A parsed ``codelist_or_format`` cell of the standard variable tables."""

    codelists: tuple[str, ...] = ()
    subset: tuple[str, ...] = ()
    format: str | None = None
    dictionary: str | None = None


def parse_codelist_reference(text: object) -> CodelistReference:
    """Read the free-text codelist/format column of the standard tables.

    >>> parse_codelist_reference("NY (Y or null)")
    CodelistReference(codelists=('NY',), subset=('Y',), format=None, dictionary=None)
    >>> parse_codelist_reference("NCOMPLT / PROTMLST / OTHEVENT").codelists
    ('NCOMPLT', 'PROTMLST', 'OTHEVENT')
    >>> parse_codelist_reference("RELTYPE (ONE, MANY)").subset
    ('ONE', 'MANY')
    >>> parse_codelist_reference("ISO 8601").format, parse_codelist_reference("MedDRA PT").dictionary
    ('iso8601', 'MedDRA PT')
    """
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return CodelistReference()
    return _parse_codelist_text(str(text).strip())


@lru_cache(maxsize=4096)
def _parse_codelist_text(text: str) -> CodelistReference:
    """:func:`parse_codelist_reference` of stripped text; kept per text (the tables repeat a few hundred)."""
    if not text or text.lower().startswith(("sponsor", "depends on")):
        return CodelistReference()
    if text in FORMATS:
        return CodelistReference(format=FORMATS[text])
    if re.fullmatch(r"[A-Z]+\d*\.", text):  # SAS display format such as DATE9.
        return CodelistReference(format=text)
    if text.startswith(DICTIONARY_PREFIXES):
        return CodelistReference(dictionary=text)
    match = re.fullmatch(r"(?P<names>[A-Z0-9_ /]+?)\s*(?:\((?P<paren>[^)]*)\))?", text)
    if not match:
        raise ValueError(f"cannot read codelist reference '{text}'")
    names = tuple(n.strip() for n in match.group("names").split("/") if n.strip())
    paren = (match.group("paren") or "").strip()
    subset: tuple[str, ...] = ()
    if paren and paren.lower() != "extensible":
        tokens = re.split(r",|\bor\b", paren)
        subset = tuple(t.strip() for t in tokens if t.strip() and t.strip().lower() != "null")
    return CodelistReference(codelists=names, subset=subset)


def _read_tsv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ConfigError(f"{path}: standard metadata file not found")
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@lru_cache(maxsize=8)
def _standard_variables_cached(standards_dir: str) -> pd.DataFrame:
    base = Path(standards_dir)
    frames = []
    for name, standard in ((SDTM_VARIABLES_FILE, " ".join(IG_VERSIONS["SDTM"])),
                           (ADAM_VARIABLES_FILE, " ".join(IG_VERSIONS["ADaM"]))):
        path = base / name
        if not path.exists():
            continue
        frame = _read_tsv(path)
        frame["standard"] = standard
        frame["source_file"] = name
        frame["source_line"] = range(2, len(frame) + 2)
        frames.append(frame)
    if not frames:
        raise ConfigError(f"{base}: no standard variable metadata ({SDTM_VARIABLES_FILE})")
    out = pd.concat(frames, ignore_index=True)
    out["order"] = pd.to_numeric(out["order"], errors="coerce").astype("Int64")
    return out


def load_standard_variables(standards_dir: str | Path | None = None) -> pd.DataFrame:
    """SDTMIG 3.4 and ADaMIG 1.3 variables: ``domain, order, variable, label, type, core, codelist_or_format``.

    ADaM rows use the class (``ADSL``, ``BDS``, ``OCCDS``) in the ``domain`` column.

    >>> std = load_standard_variables()
    >>> std.loc[(std["domain"] == "DM") & (std["variable"] == "USUBJID"), ["core", "type"]].values.tolist()
    [['Req', 'Char']]
    """
    return _standard_variables_cached(str(Path(standards_dir or DEFAULT_STANDARDS).resolve())).copy()


@lru_cache(maxsize=8)
def _standard_datasets_cached(standards_dir: str) -> pd.DataFrame:
    frame = _read_tsv(Path(standards_dir) / SDTM_DATASETS_FILE)
    frame["keys"] = frame["keys"].map(lambda s: tuple(k for k in s.split(",") if k))
    return frame.set_index("domain")


def load_standard_datasets(standards_dir: str | Path | None = None) -> pd.DataFrame:
    """SDTMIG 3.4 dataset-level metadata indexed by domain: label, class, structure, keys.

    >>> load_standard_datasets().loc["DM", "keys"]
    ('STUDYID', 'USUBJID')
    """
    return _standard_datasets_cached(str(Path(standards_dir or DEFAULT_STANDARDS).resolve())).copy()


def trial_design_domains(standards_dir: str | Path | None = None) -> frozenset[str]:
    """The SDTMIG Trial Design domains, by their class in the dataset table.

    >>> sorted(trial_design_domains())
    ['TA', 'TD', 'TE', 'TI', 'TM', 'TS', 'TV']
    """
    table = load_standard_datasets(standards_dir)
    return frozenset(table.index[table["class"].str.upper() == "TRIAL DESIGN"])


def load_dictionary(standards_dir: str | Path | None, name: str) -> pd.DataFrame:
    """A coding dictionary of ``specs/standards/dictionaries/`` (``meddra-mini``, ``whodrug-mini``) as text.

    >>> "llt_name" in load_dictionary(None, "meddra-mini").columns
    True
    """
    return _read_tsv(Path(standards_dir or DEFAULT_STANDARDS) / DICTIONARIES_FOLDER / f"{name}.tsv")


def load_ts_parameters(standards_dir: str | Path | None = None) -> pd.DataFrame:
    """The codelist or the format of each TS parameter's value (SDTMIG 3.4 TS assumptions), by TSPARMCD.

    >>> table = load_ts_parameters()
    >>> table.loc["DOSFRQ", "value_codelist"], table.loc["SSTDTC", "value_format"]
    ('FREQ', 'ISO 8601')
    """
    return _read_tsv(Path(standards_dir or DEFAULT_STANDARDS) / TS_PARAMETERS_FILE).set_index("tsparmcd")


def submission_datasets(standards_dir: str | Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Dataset labels, classes, structures and keys by standard (``sdtm``, ``adam``) and name: the
    SDTMIG dataset table (SUPPQUAL as the ``SUPP--`` template) over ``datasets-supplement.yaml``.

    >>> tables = submission_datasets()
    >>> tables["sdtm"]["DM"]["keys"], tables["sdtm"]["SUPP--"]["label"], tables["adam"]["ADSL"]["class"]
    (['STUDYID', 'USUBJID'], 'Supplemental Qualifiers for --', 'SUBJECT LEVEL ANALYSIS DATASET')
    """
    folder = Path(standards_dir or DEFAULT_STANDARDS)
    supplement = load_spec(folder / DATASETS_SUPPLEMENT_FILE) or {}
    tables = {"sdtm": dict(supplement.get("sdtm") or {}), "adam": dict(supplement.get("adam") or {})}
    for domain, row in load_standard_datasets(folder).iterrows():
        name = "SUPP--" if domain == "SUPPQUAL" else str(domain).strip().upper()
        entry = dict(tables["sdtm"].get(name, {}))
        entry.update({k: row[k] for k in ("label", "class", "structure") if row[k]})
        if row["keys"]:
            entry["keys"] = [k.strip() for k in row["keys"] if k.strip()]
        if name == "SUPP--" and "--" not in str(entry.get("label", "")):
            entry["label"] = "Supplemental Qualifiers for --"
        tables["sdtm"][name] = entry
    return tables


@lru_cache(maxsize=8)
def load_standard_origins(standards_dir: str | Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Default SDTM/ADaM origins, methods and SDTM roles (``--`` = domain prefix), ``origins.yaml``.

    >>> load_standard_origins()["sdtm"]["--SEQ"]["origin"]
    'Derived'
    """
    return load_spec(Path(standards_dir or DEFAULT_STANDARDS) / ORIGINS_FILE)


def load_instrument(standards_dir: str | Path | None, name: str) -> dict[str, Any]:
    """An instrument spec, ``specs/standards/instruments/<name>.yaml`` (items, total ...); the one reader.

    >>> instrument = load_instrument(None, "selena-sledai")
    >>> instrument["short_name"], len(instrument["items"]) > 0
    ('SSLD01', True)
    """
    return load_spec(Path(standards_dir or DEFAULT_STANDARDS) / INSTRUMENTS_FOLDER / f"{name}.yaml") or {}
