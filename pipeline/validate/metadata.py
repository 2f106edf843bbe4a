"""Dataset and variable metadata: standard (SDTMIG 3.4, ADaMIG 1.3, CT) merged with the study spec.

The study's ``specs/<study>/datasets.yaml`` names the datasets, their keys and the variables that
differ from or add to the standard; everything else comes from ``specs/standards/``. The result
is one tidy table, :func:`variable_metadata`, that drives the pandera schemas, define.xml and
XPT writers: ``dataset, variable, label, type, length, core, codelist, subset, format,
dictionary, order, key_sequence, sponsor_defined, origin, source_line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.specfile import MarkedDict, MarkedList, line_of, load_spec
from pipeline.standards.terminology import load_terminology

SDTM_VARIABLES_FILE = "sdtmig-3.4-variables.tsv"
SDTM_DATASETS_FILE = "sdtmig-3.4-datasets.tsv"
ADAM_VARIABLES_FILE = "adamig-1.3-variables.tsv"
DATASETS_SPEC = "datasets.yaml"

MAX_CHAR_LENGTH = 200
DEFAULT_NUM_LENGTH = 8
FORMATS = {
    "ISO 8601": "iso8601",
    "ISO 8601 duration": "iso8601_duration",
    "ISO 3166-1 alpha-3": "iso3166_alpha3",
}
DICTIONARY_PREFIXES = ("MedDRA", "WHODrug", "LOINC", "ISO 21090", "UNII", "SNOMED")
VARIABLE_COLUMNS = [
    "dataset", "domain", "variable", "label", "type", "length", "core", "codelist", "subset", "format",
    "dictionary", "order", "key_sequence", "sponsor_defined", "model_variable", "origin", "source_file",
    "source_line",
]


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
    text = str(text).strip()
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


# --- standards -----------------------------------------------------------------------------------

def _read_tsv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ConfigError(f"{path}: standard metadata file not found")
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@lru_cache(maxsize=8)
def _standard_variables_cached(standards_dir: str) -> pd.DataFrame:
    base = Path(standards_dir)
    frames = []
    for name, standard in ((SDTM_VARIABLES_FILE, "SDTMIG 3.4"), (ADAM_VARIABLES_FILE, "ADaMIG 1.3")):
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


def load_standard_variables(standards_dir: Path) -> pd.DataFrame:
    """SDTMIG 3.4 and ADaMIG 1.3 variables: ``domain, order, variable, label, type, core, codelist_or_format``.

    ADaM rows use the class (``ADSL``, ``BDS``, ``OCCDS``) in the ``domain`` column.

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> std = load_standard_variables(PROJECT_ROOT / "specs" / "standards")
    >>> std.loc[(std["domain"] == "DM") & (std["variable"] == "USUBJID"), ["core", "type"]].values.tolist()
    [['Req', 'Char']]
    """
    return _standard_variables_cached(str(Path(standards_dir).resolve())).copy()


@lru_cache(maxsize=8)
def _standard_datasets_cached(standards_dir: str) -> pd.DataFrame:
    frame = _read_tsv(Path(standards_dir) / SDTM_DATASETS_FILE)
    frame["keys"] = frame["keys"].map(lambda s: tuple(k for k in s.split(",") if k))
    return frame.set_index("domain")


def load_standard_datasets(standards_dir: Path) -> pd.DataFrame:
    """SDTMIG 3.4 dataset-level metadata indexed by domain: label, class, structure, keys.

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> load_standard_datasets(PROJECT_ROOT / "specs" / "standards").loc["DM", "keys"]
    ('STUDYID', 'USUBJID')
    """
    return _standard_datasets_cached(str(Path(standards_dir).resolve())).copy()


def load_controlled_terminology(standards_dir: Path) -> pd.DataFrame:
    """The CT subset: one row per term (codelist_code, codelist, extensible, submission_value ...).

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> ct = load_controlled_terminology(PROJECT_ROOT / "specs" / "standards")
    >>> sorted(ct.loc[ct["codelist"] == "AESEV", "submission_value"])
    ['MILD', 'MODERATE', 'SEVERE']
    """
    return load_terminology(standards_dir, adam=True).copy()


@dataclass(frozen=True)
class Codelist:
    """Terms of one codelist, standard (CT) or sponsor-defined."""

    name: str
    extensible: bool
    terms: frozenset[str]
    code: str = ""
    sponsor_defined: bool = False


def build_codelists(ct: pd.DataFrame, sponsor: dict[str, Any] | None = None) -> dict[str, Codelist]:
    """Codelists by short name from the CT table plus the study's sponsor codelists.

    >>> ct = pd.DataFrame({"codelist": ["SEX", "SEX"], "codelist_code": ["C66731"] * 2,
    ...                    "extensible": ["No", "No"], "submission_value": ["F", "M"]})
    >>> cl = build_codelists(ct, {"AEREL": {"extensible": False, "terms": ["RELATED", "NOT RELATED"]}})
    >>> sorted(cl["SEX"].terms), cl["AEREL"].sponsor_defined
    (['F', 'M'], True)
    """
    out: dict[str, Codelist] = {}
    for name, group in ct.groupby("codelist", sort=True):
        out[name] = Codelist(
            name=name,
            extensible=str(group["extensible"].iloc[0]).strip().lower() == "yes",
            terms=frozenset(group["submission_value"]),
            code=str(group["codelist_code"].iloc[0]),
        )
    for name, spec in (sponsor or {}).items():
        terms = spec.get("terms") or []
        base = out.get(name)
        if base is not None:  # sponsor extension of a CT codelist (only allowed when extensible)
            out[name] = Codelist(name, base.extensible, base.terms | frozenset(map(str, terms)), base.code, False)
        else:
            out[name] = Codelist(name, bool(spec.get("extensible", False)), frozenset(map(str, terms)),
                                 str(spec.get("code", "")), True)
    return out


# --- study spec ----------------------------------------------------------------------------------

def load_yaml_with_lines(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML safely and remember the 1-based line of every key and list item.

    >>> import tempfile, os
    >>> p = Path(tempfile.mkdtemp()) / "x.yaml"; _ = p.write_text("a:\\n  b: 1\\n  c: [1, 2]\\n")
    >>> data, lines = load_yaml_with_lines(p)
    >>> data["a"]["c"], lines[("a", "c")]
    ([1, 2], 3)
    """
    data = load_spec(path)
    lines: dict[tuple, int] = {}

    def walk(current: Any, where: tuple, line: int) -> None:
        lines.setdefault(where, line)
        if isinstance(current, MarkedDict):
            for key, value in current.items():
                child = where + (key,)
                lines[child] = current.lines.get(key, current.line)
                walk(value, child, getattr(value, "line", lines[child]))
        elif isinstance(current, MarkedList):
            for index, item in enumerate(current):
                walk(item, where + (index,), line_of(current, index))

    walk(data, (), getattr(data, "line", 1))
    return data, lines


@dataclass
class DatasetSpec:
    """Dataset-level metadata of one study dataset."""

    name: str
    domain: str
    standard_domain: str
    label: str
    class_: str
    structure: str
    keys: tuple[str, ...]
    is_adam: bool
    source_line: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudyMetadata:
    """Everything validation needs to know about the study's datasets."""

    path: Path
    datasets: dict[str, DatasetSpec]
    variables: pd.DataFrame
    codelists: dict[str, Codelist]
    lines: dict[tuple, int]
    spec: dict[str, Any]

    def dataset_variables(self, dataset: str) -> pd.DataFrame:
        """Variables of one dataset in define order.

        >>> from pipeline.common.study import PROJECT_ROOT
        >>> meta = load_study_metadata(PROJECT_ROOT / "specs" / "iscalimab-ln", PROJECT_ROOT / "specs" / "standards")
        >>> meta.dataset_variables("dm")["variable"].head(3).tolist()
        ['STUDYID', 'DOMAIN', 'USUBJID']
        """
        return self.variables[self.variables["dataset"] == dataset.upper()]

    def spec_for_file(self, stem: str, domain_value: str | None = None) -> DatasetSpec | None:
        """The dataset spec for a data file stem (``lbch`` -> ``LBCH`` or its DOMAIN ``LB``).

        >>> from pipeline.common.study import PROJECT_ROOT
        >>> meta = load_study_metadata(PROJECT_ROOT / "specs" / "iscalimab-ln", PROJECT_ROOT / "specs" / "standards")
        >>> meta.spec_for_file("lbch", "LB").name, meta.spec_for_file("xx") is None
        ('LB', True)
        """
        name = stem.upper()
        if name in self.datasets:
            return self.datasets[name]
        if domain_value and domain_value.upper() in self.datasets:
            return self.datasets[domain_value.upper()]
        if name.startswith("SUPP") and "SUPPQUAL" in self.datasets:
            return self.datasets["SUPPQUAL"]
        return None

    def standard_fallback(self, stem: str, columns: list[str], domain_value: str | None,
                          standards_dir: Path) -> tuple[DatasetSpec, pd.DataFrame] | None:
        """Spec and variables from the standard alone, for a dataset the study spec does not describe.

        SUPP-- datasets use SUPPQUAL; an SDTM domain of the standard its own metadata; an ADaM
        dataset (AD...) the class its columns show (ADSL, BDS with PARAMCD, OCCDS otherwise).

        >>> from pipeline.common.study import PROJECT_ROOT
        >>> meta = load_study_metadata(PROJECT_ROOT / "specs" / "iscalimab-ln", PROJECT_ROOT / "specs" / "standards")
        >>> spec, variables = meta.standard_fallback("adqs", ["USUBJID", "PARAMCD", "AVAL"], None,
        ...                                          PROJECT_ROOT / "specs" / "standards")
        >>> spec.standard_domain, "PARAMCD" in set(variables["variable"])
        ('BDS', True)
        """
        name = stem.upper()
        is_adam = name.startswith("AD")
        if is_adam:
            std_domain = "ADSL" if name == "ADSL" else ("BDS" if "PARAMCD" in columns else "OCCDS")
            dspec: dict[str, Any] = {"class": std_domain}
        elif name.startswith("SUPP"):
            std_domain, dspec = "SUPPQUAL", {}
        else:
            std_domain = (domain_value or name).upper()
            dspec = {"domain": std_domain}
        standard = load_standard_variables(standards_dir)
        if std_domain not in set(standard["domain"]):
            return None
        std_datasets = load_standard_datasets(standards_dir)
        keys = std_datasets.loc[std_domain, "keys"] if std_domain in std_datasets.index else (
            ("STUDYID", "USUBJID") if std_domain == "ADSL" else ())
        rows = _resolve_variables(name, std_domain, dspec, standard, {}, (), self.path)
        variables = pd.DataFrame(rows, columns=VARIABLE_COLUMNS)
        variables["key_sequence"] = pd.array([keys.index(v) + 1 if v in keys else pd.NA
                                              for v in variables["variable"]], dtype="Int64")
        spec = DatasetSpec(name=name, domain=str(dspec.get("domain", name)).upper(), standard_domain=std_domain,
                           label="", class_=std_domain, structure="", keys=tuple(keys), is_adam=is_adam)
        return spec, variables


def _values_at(data: Any, path: str) -> list[Any]:
    """Values at a dotted path; a list on the way is mapped over (``arms.armcd`` -> every arm's armcd)."""
    current = [data]
    for part in path.split("."):
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, list):
                item_values = [x.get(part) for x in item if isinstance(x, dict) and part in x]
                nxt.extend(item_values)
            elif isinstance(item, dict) and part in item:
                nxt.append(item[part])
        current = nxt
    flat: list[Any] = []
    for item in current:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def resolve_sponsor_codelists(
    codelists: dict[str, Any], specs_dir: Path, standards_dir: Path,
    lines: dict[tuple, int] | None = None, spec_path: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Expand sponsor codelists whose terms come from study.yaml (``from_study``) or an instrument.

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> cl = resolve_sponsor_codelists({"ARMCD": {"from_study": ["arms.armcd"]}},
    ...     PROJECT_ROOT / "specs" / "iscalimab-ln", PROJECT_ROOT / "specs" / "standards")
    >>> cl["ARMCD"]["terms"]
    ['ISCAL10', 'PBO']
    """
    lines = lines or {}
    out: dict[str, dict[str, Any]] = {}
    design = None
    for name, raw in codelists.items():
        spec = dict(raw or {})
        line = lines.get(("codelists", name), 0)
        terms = [str(t) for t in (spec.get("terms") or [])]
        if spec.get("from_study"):
            if design is None:

                design = load_spec(Path(specs_dir) / "study.yaml") or {}
            paths = spec["from_study"] if isinstance(spec["from_study"], list) else [spec["from_study"]]
            for path in paths:
                found = _values_at(design, str(path))
                if not found:
                    raise ConfigError(f"{spec_path}:line {line}: codelist {name}: study.yaml has no values at "
                                      f"'{path}'")
                terms.extend(str(v) for v in found)
        if spec.get("from_instrument"):
            source = spec["from_instrument"]

            inst_path = Path(standards_dir) / "instruments" / f"{source.get('instrument')}.yaml"
            inst = load_spec(inst_path) or {}
            field_name = str(source.get("field", "testcd"))
            terms.extend(str(i[field_name]) for i in inst.get("items", []) if field_name in i)
            for extra in ("total", "pga"):
                if isinstance(inst.get(extra), dict) and field_name in inst[extra]:
                    terms.append(str(inst[extra][field_name]))
        spec["terms"] = list(dict.fromkeys(terms))
        out[name] = spec
    return out


def _standard_domain_for(name: str, spec: dict[str, Any], is_adam: bool) -> str:
    if "standard_domain" in spec:
        return str(spec["standard_domain"]).upper()
    if is_adam:
        return str(spec.get("class", "")).upper()
    if name.startswith("SUPP"):
        return "SUPPQUAL"
    return str(spec.get("domain", name)).upper()


ADAM_CLASS_ALIASES = {
    "SUBJECT LEVEL ANALYSIS DATASET": "ADSL", "ADSL": "ADSL",
    "BASIC DATA STRUCTURE": "BDS", "BDS": "BDS",
    "OCCURRENCE DATA STRUCTURE": "OCCDS", "OCCDS": "OCCDS",
}


def resolve_study_metadata(spec_path: Path, standards_dir: Path) -> StudyMetadata:
    """Merge ``datasets.yaml`` with the standard tables into :class:`StudyMetadata`.

    Problems that make the spec unusable raise :class:`ConfigError` naming file and line; the
    finer checks (names, labels, codelists ...) live in :mod:`pipeline.validate.specs_check`.

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> meta = resolve_study_metadata(PROJECT_ROOT / "specs" / "iscalimab-ln" / "datasets.yaml",
    ...                               PROJECT_ROOT / "specs" / "standards")
    >>> meta.datasets["DM"].keys, meta.datasets["ADSL"].is_adam
    (('STUDYID', 'USUBJID'), True)
    """
    spec, lines = load_yaml_with_lines(spec_path)
    if not isinstance(spec, dict) or not isinstance(spec.get("datasets"), dict):
        raise ConfigError(f"{spec_path}:line {lines.get((), 1)}: expected a mapping with a 'datasets' section")
    standard = load_standard_variables(standards_dir)
    std_datasets = load_standard_datasets(standards_dir)
    ct = load_controlled_terminology(standards_dir)
    sponsor = resolve_sponsor_codelists(spec.get("codelists") or {}, Path(spec_path).parent, Path(standards_dir),
                                        lines, spec_path)
    codelists = build_codelists(ct, sponsor)
    datasets: dict[str, DatasetSpec] = {}
    rows: list[dict[str, Any]] = []
    for raw_name, dspec in spec["datasets"].items():
        name = str(raw_name).upper()
        dspec = dspec or {}
        line = lines.get(("datasets", raw_name), 0)
        if not isinstance(dspec, dict):
            raise ConfigError(f"{spec_path}:line {line}: dataset {name}: expected a mapping")
        is_adam = bool(dspec.get("adam", name.startswith("AD")))
        if is_adam:
            dspec = dict(dspec)
            dspec["class"] = ADAM_CLASS_ALIASES.get(str(dspec.get("class", "")).upper(), dspec.get("class", ""))
        std_domain = _standard_domain_for(name, dspec, is_adam)
        std_ds = std_datasets.loc[std_domain] if std_domain in std_datasets.index else None
        keys = tuple(dspec.get("keys") or (std_ds["keys"] if std_ds is not None else ()))
        datasets[name] = DatasetSpec(
            name=name,
            domain=str(dspec.get("domain", name)).upper(),
            standard_domain=std_domain,
            label=str(dspec.get("label") or (std_ds["label"] if std_ds is not None else "")),
            class_=str(dspec.get("class") or (std_ds["class"] if std_ds is not None else "")),
            structure=str(dspec.get("structure") or (std_ds["structure"] if std_ds is not None else "")),
            keys=keys,
            is_adam=is_adam,
            source_line=line,
            options={k: v for k, v in dspec.items() if k not in {"variables"}},
        )
        rows.extend(_resolve_variables(name, std_domain, dspec, standard, lines, ("datasets", raw_name), spec_path))
    variables = pd.DataFrame(rows, columns=VARIABLE_COLUMNS)
    key_seq = []
    for ds, var in zip(variables["dataset"], variables["variable"]):
        keys = datasets[ds].keys
        key_seq.append(keys.index(var) + 1 if var in keys else pd.NA)
    variables["key_sequence"] = pd.array(key_seq, dtype="Int64")
    variables["order"] = pd.array(variables["order"], dtype="Int64")
    variables["length"] = pd.array(variables["length"], dtype="Int64")
    return StudyMetadata(Path(spec_path), datasets, variables, codelists, lines, spec)


def _resolve_variables(
    dataset: str, std_domain: str, dspec: dict[str, Any], standard: pd.DataFrame,
    lines: dict[tuple, int], where: tuple, spec_path: Path,
) -> list[dict[str, Any]]:
    include = str(dspec.get("include_standard", "all")).lower()
    std_rows = standard[standard["domain"] == std_domain]
    all_std_rows = std_rows
    domain_value = str(dspec.get("domain", dataset)).upper()
    if include == "none":
        std_rows = std_rows.iloc[0:0]
    elif include in ("required-expected", "req-exp"):
        std_rows = std_rows[std_rows["core"].isin(["Req", "Exp"])]

    def standard_row(r: Any) -> dict[str, Any]:
        ref = parse_codelist_reference(r.codelist_or_format)
        return {
            "dataset": dataset, "domain": domain_value, "variable": r.variable, "label": r.label,
            "type": r.type, "length": MAX_CHAR_LENGTH if r.type == "Char" else DEFAULT_NUM_LENGTH,
            "core": r.core, "codelist": "|".join(ref.codelists) or None, "subset": ";".join(ref.subset) or None,
            "format": ref.format, "dictionary": ref.dictionary, "order": int(r.order),
            "key_sequence": None, "sponsor_defined": False, "model_variable": False, "origin": None,
            "source_file": r.source_file, "source_line": int(r.source_line), "_from_standard": True,
        }

    rows: dict[str, dict[str, Any]] = {r.variable: standard_row(r) for r in std_rows.itertuples(index=False)}
    by_name = {r.variable: r for r in all_std_rows.itertuples(index=False)}
    overrides = dspec.get("variables") or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{spec_path}:line {lines.get(where + ('variables',), 0)}: dataset {dataset}: "
                          "'variables' must be a mapping of variable name to attributes")
    next_order = max([r["order"] for r in rows.values()] or [0]) + 1
    for raw_var, attrs in overrides.items():
        var = str(raw_var)
        line = lines.get(where + ("variables", raw_var), 0)
        attrs = attrs or {}
        if not isinstance(attrs, dict):
            raise ConfigError(f"{spec_path}:line {line}: {dataset}.{var}: expected a mapping of attributes")
        base = rows.get(var)
        if base is None and var in by_name:  # a standard variable listed explicitly (include_standard: none)
            base = standard_row(by_name[var])
        if base is None:
            base = {
                "dataset": dataset, "domain": domain_value, "variable": var, "label": attrs.get("label"),
                "type": attrs.get("type"), "length": None, "core": attrs.get("core", "Perm"),
                "codelist": None, "subset": None, "format": None, "dictionary": None,
                "order": next_order, "key_sequence": None,
                "sponsor_defined": bool(attrs.get("sponsor_defined", False)),
                "model_variable": bool(attrs.get("model_variable", False)),
                "origin": None, "source_file": str(spec_path), "source_line": line, "_from_standard": False,
            }
            next_order += 1
        base = dict(base)
        base["source_file"] = str(spec_path)
        base["source_line"] = line
        base["_from_standard"] = False
        for key in ("label", "type", "core", "origin", "order", "length"):
            if key in attrs:
                base[key] = attrs[key]
        if "codelist" in attrs:
            ref = parse_codelist_reference(attrs["codelist"]) if attrs["codelist"] else CodelistReference()
            base.update(codelist="|".join(ref.codelists) or None, subset=";".join(ref.subset) or None,
                        format=ref.format, dictionary=ref.dictionary)
        if "format" in attrs:
            fmt = attrs["format"]
            base["format"] = FORMATS.get(fmt, fmt) if fmt else None
        if "subset" in attrs:
            base["subset"] = ";".join(map(str, attrs["subset"] or [])) or None
        if "sponsor_defined" in attrs:
            base["sponsor_defined"] = bool(attrs["sponsor_defined"])
        if "model_variable" in attrs:
            base["model_variable"] = bool(attrs["model_variable"])
        if base.get("length") is None:
            base["length"] = MAX_CHAR_LENGTH if base.get("type") == "Char" else DEFAULT_NUM_LENGTH
        rows[var] = base
    out = sorted(rows.values(), key=lambda r: (r["order"], r["variable"]))
    for r in out:
        r.pop("_from_standard", None)
    return out


def load_study_metadata(specs_dir: Path, standards_dir: Path) -> StudyMetadata:
    """Resolve ``<specs_dir>/datasets.yaml`` against the standards (see :func:`resolve_study_metadata`).

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> meta = load_study_metadata(PROJECT_ROOT / "specs" / "iscalimab-ln", PROJECT_ROOT / "specs" / "standards")
    >>> meta.datasets["RS"].keys
    ('STUDYID', 'USUBJID', 'RSCAT', 'RSTESTCD', 'VISITNUM', 'RSDTC')
    """
    return resolve_study_metadata(Path(specs_dir) / DATASETS_SPEC, Path(standards_dir))


def variable_metadata(ctx: Any) -> pd.DataFrame:
    """Public entry point for other stages (define.xml, XPT): the resolved variable table of a study.

    >>> from pipeline.common.study import StudyContext
    >>> meta = variable_metadata(StudyContext.create("iscalimab-ln"))
    >>> meta.loc[(meta["dataset"] == "DM") & (meta["variable"] == "USUBJID"), ["label", "core", "key_sequence"]].values.tolist()
    [['Unique Subject Identifier', 'Req', 2]]
    """
    return load_study_metadata(ctx.specs_dir, ctx.standards_dir).variables.copy()


def dataset_metadata(ctx: Any) -> pd.DataFrame:
    """Public entry point: one row per study dataset (name, domain, label, class, structure, keys).

    >>> from pipeline.common.study import StudyContext
    >>> dataset_metadata(StudyContext.create("iscalimab-ln")).set_index("dataset").loc["ADSL", "class"]
    'ADSL'
    """
    meta = load_study_metadata(ctx.specs_dir, ctx.standards_dir)
    return pd.DataFrame([
        {"dataset": d.name, "domain": d.domain, "label": d.label, "class": d.class_, "structure": d.structure,
         "keys": ",".join(d.keys), "is_adam": d.is_adam}
        for d in meta.datasets.values()
    ])
