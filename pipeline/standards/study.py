"""The study's resolved metadata (:class:`StudyMetadata`): the standards merged with the study spec.

The study's ``specs/<study>/datasets.yaml`` names the datasets, their keys and the SDTM variables
that differ from or add to the standard; ADaM variables are declared once, in ``adam.yaml``
(:func:`load_adam_variables`); everything else comes from ``specs/standards/``
(:mod:`pipeline.standards.tables`, :mod:`pipeline.standards.terminology`). The result is one tidy
table, :attr:`StudyMetadata.variables`, that drives the pandera schemas, define.xml and XPT writers:
``dataset, variable, label, type, length, core, codelist, subset, format, dictionary, order,
key_sequence, sponsor_defined, origin, source_line``. Validation and the submission package both
read it here, once per run.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.specfile import line_at, load_spec
from pipeline.common.study import study_value
from pipeline.standards.tables import (ADAM_CLASS_OF_NAME, FORMATS, CodelistReference, load_instrument,
                                       load_standard_datasets, load_standard_variables, parse_codelist_reference)
from pipeline.standards.terminology import Codelist, build_codelists, load_terminology

DATASETS_SPEC = "datasets.yaml"
ADAM_SPEC = "adam.yaml"
# what an ADaM variable of adam.yaml declares beyond the ADaM engine's name/type/method (type: text is
# Char, every other engine type Num)
ADAM_VARIABLE_ATTRIBUTES = ("label", "core", "length", "codelist", "subset", "format", "origin")
MAX_CHAR_LENGTH = 200
DEFAULT_NUM_LENGTH = 8
VARIABLE_COLUMNS = [
    "dataset", "domain", "variable", "label", "type", "length", "core", "codelist", "subset", "format",
    "dictionary", "order", "key_sequence", "sponsor_defined", "model_variable", "origin", "source_file",
    "source_line",
]


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
    spec: dict[str, Any]  # datasets.yaml as read: line_at(spec, *path) gives a key's line

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
        rows = _resolve_variables(name, std_domain, dspec,
                                  _standard_rows_by_domain(standard[standard["domain"] == std_domain]), {}, {}, self.path)
        variables = _with_key_sequence(pd.DataFrame(rows, columns=VARIABLE_COLUMNS), {name: tuple(keys)})
        spec = DatasetSpec(name=name, domain=str(dspec.get("domain", name)).upper(), standard_domain=std_domain,
                           label="", class_=std_domain, structure="", keys=tuple(keys), is_adam=is_adam)
        return spec, variables


def resolve_sponsor_codelists(
    codelists: dict[str, Any], specs_dir: Path, standards_dir: Path,
    datasets_spec: dict[str, Any] | None = None, spec_path: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Expand sponsor codelists whose terms come from study.yaml (``from_study``) or an instrument.

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> cl = resolve_sponsor_codelists({"ARMCD": {"from_study": ["arms.armcd"]}},
    ...     PROJECT_ROOT / "specs" / "iscalimab-ln", PROJECT_ROOT / "specs" / "standards")
    >>> cl["ARMCD"]["terms"]
    ['ISCAL10', 'PBO']
    """
    out: dict[str, dict[str, Any]] = {}
    design = None
    for name, raw in codelists.items():
        spec = dict(raw or {})
        line = line_at(datasets_spec, "codelists", name)
        terms = [str(t) for t in (spec.get("terms") or [])]
        if spec.get("from_study"):
            if design is None:
                design = load_spec(Path(specs_dir) / "study.yaml") or {}
            paths = spec["from_study"] if isinstance(spec["from_study"], list) else [spec["from_study"]]
            for path in paths:
                found = study_value(design, str(path), [])
                found = found if isinstance(found, list) else [found]
                if not found:
                    raise ConfigError(f"{spec_path}:line {line}: codelist {name}: study.yaml has no values at "
                                      f"'{path}'")
                terms.extend(str(v) for v in found)
        if spec.get("from_instrument"):
            source = spec["from_instrument"]
            inst = load_instrument(standards_dir, str(source.get("instrument")))
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


def resolve_study_metadata(spec_path: Path, standards_dir: Path) -> StudyMetadata:
    """Merge ``datasets.yaml`` with the standard tables into :class:`StudyMetadata`.

    Problems that make the spec unusable raise :class:`ConfigError` naming file and line; the
    finer checks (names, labels, codelists ...) live in :mod:`pipeline.validate.specs_check`.

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> meta = resolve_study_metadata(PROJECT_ROOT / "specs" / "iscalimab-ln" / "datasets.yaml",
    ...                               PROJECT_ROOT / "specs" / "standards")
    >>> meta.datasets["DM"].keys, meta.datasets["ADSL"].is_adam
    (('STUDYID', 'USUBJID'), True)

    A stage may resolve the same files more than once (submission: once per standard); the result is kept
    per process, keyed on the content of every file it reads (:func:`_inputs_digest`), and each call gets
    its own copy, so a caller's change never reaches the next one.
    """
    key = (str(Path(spec_path).resolve()), str(Path(standards_dir).resolve()), _inputs_digest(spec_path, standards_dir))
    if key not in _RESOLVED:
        if len(_RESOLVED) >= _RESOLVED_KEPT:
            _RESOLVED.pop(next(iter(_RESOLVED)))
        _RESOLVED[key] = _resolve_study_metadata(Path(spec_path), Path(standards_dir))
    return _copy_of(_RESOLVED[key])


# resolved metadata of this process, by (spec file, standards folder, digest of their contents)
_RESOLVED: dict[tuple[str, str, str], StudyMetadata] = {}
_RESOLVED_KEPT = 4
# what resolution reads beside datasets.yaml: adam.yaml, study.yaml (sponsor codelists from_study)
_SIBLING_SPECS = (ADAM_SPEC, "study.yaml")


def _inputs_digest(spec_path: Path, standards_dir: Path) -> str:
    """SHA-256 over the name and content of every file resolution may read: the spec, its sibling specs
    and every file of the standards folder (tables, CT, instruments); a missing file counts as such."""
    spec_path, standards_dir = Path(spec_path), Path(standards_dir)
    digest = hashlib.sha256()
    files = [spec_path, *(spec_path.parent / name for name in _SIBLING_SPECS)]
    files += sorted(p for p in standards_dir.rglob("*") if p.is_file()) if standards_dir.is_dir() else []
    for path in files:
        digest.update(str(path).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"missing")
    return digest.hexdigest()


def _copy_of(meta: StudyMetadata) -> StudyMetadata:
    """An independent copy: the variable table, the dataset specs and the spec as read are the caller's own."""
    return dataclasses.replace(meta, datasets=copy.deepcopy(meta.datasets), variables=meta.variables.copy(),
                               codelists=dict(meta.codelists), spec=copy.deepcopy(meta.spec))


def _resolve_study_metadata(spec_path: Path, standards_dir: Path) -> StudyMetadata:
    spec = load_spec(spec_path)
    if not isinstance(spec, dict) or not isinstance(spec.get("datasets"), dict):
        raise ConfigError(f"{spec_path}:line {line_at(spec, default=1)}: expected a mapping with a 'datasets' section")
    standard = _standard_rows_by_domain(load_standard_variables(standards_dir))
    std_datasets = load_standard_datasets(standards_dir)
    ct = load_terminology(standards_dir, adam=True)
    sponsor = resolve_sponsor_codelists(spec.get("codelists") or {}, Path(spec_path).parent, Path(standards_dir),
                                        spec, spec_path)
    codelists = build_codelists(ct, sponsor)
    adam_path = Path(spec_path).parent / ADAM_SPEC
    adam_entries = _adam_dataset_entries(adam_path)  # read once for both
    adam_variables = _adam_variables_of(adam_entries)
    adam_facts = _adam_dataset_facts_of(adam_entries)
    datasets: dict[str, DatasetSpec] = {}
    rows: list[dict[str, Any]] = []
    for raw_name, dspec in spec["datasets"].items():
        name = str(raw_name).upper()
        dspec = dspec or {}
        line = line_at(spec, "datasets", raw_name)
        if not isinstance(dspec, dict):
            raise ConfigError(f"{spec_path}:line {line}: dataset {name}: expected a mapping")
        is_adam = bool(dspec.get("adam", name.startswith("AD")))
        if is_adam and name in adam_facts:
            repeated = [f for f in ADAM_DATASET_FACTS if f in dspec]
            if repeated:
                at = line_at(spec, "datasets", raw_name, repeated[0], default=line)
                raise ConfigError(f"{spec_path}:line {at}: dataset {name}: its {', '.join(repeated)} are declared "
                                  f"in {ADAM_SPEC} (one home per dataset fact); remove them here")
            dspec = {**dspec, **adam_facts[name]}
        if is_adam:
            adam_class = dspec.get("class", "")
            dspec = {**dspec, "class": ADAM_CLASS_OF_NAME.get(str(adam_class).upper(), adam_class)}
        std_domain = _standard_domain_for(name, dspec, is_adam)
        std_ds = std_datasets.loc[std_domain] if std_domain in std_datasets.index else {}  # the standard's facts
        label, class_, structure = (str(dspec.get(k) or std_ds.get(k, "")) for k in ("label", "class", "structure"))
        datasets[name] = DatasetSpec(
            name=name, domain=str(dspec.get("domain", name)).upper(), standard_domain=std_domain, label=label,
            class_=class_, structure=structure, keys=tuple(dspec.get("keys") or std_ds.get("keys", ())),
            is_adam=is_adam, source_line=line, options={k: v for k, v in dspec.items() if k != "variables"})
        declared = adam_variables[adam_variables["dataset"] == name] if is_adam else adam_variables.iloc[0:0]
        if len(declared):
            if "variables" in dspec:
                raise ConfigError(f"{spec_path}:line {line_at(spec, 'datasets', raw_name, 'variables', default=line)}: "
                                  f"dataset {name}: its variables are declared in {ADAM_SPEC} (one home per "
                                  f"variable); move these attributes to the variables list of {name} there")
            overrides = {row.variable: {"type": "Char" if row.type in ("", "text") else "Num", **row.attributes}
                         for row in declared.itertuples(index=False)}
            override_lines, source = dict(zip(declared["variable"], declared["line"])), adam_path
        else:
            overrides = dspec.get("variables") or {}
            if not isinstance(overrides, dict):
                raise ConfigError(f"{spec_path}:line {line_at(spec, 'datasets', raw_name, 'variables')}: dataset "
                                  f"{name}: 'variables' must be a mapping of variable name to attributes")
            override_lines = {var: line_at(spec, "datasets", raw_name, "variables", var) for var in overrides}
            source = spec_path
        rows.extend(_resolve_variables(name, std_domain, dspec, standard, overrides, override_lines, source))
    variables = _with_key_sequence(pd.DataFrame(rows, columns=VARIABLE_COLUMNS),
                                   {name: d.keys for name, d in datasets.items()})
    variables["order"] = pd.array(variables["order"], dtype="Int64")
    variables["length"] = pd.array(variables["length"], dtype="Int64")
    return StudyMetadata(Path(spec_path), datasets, variables, codelists, spec)


ADAM_VARIABLE_COLUMNS = ["dataset", "variable", "label", "method", "type", "line", "attributes"]


def load_adam_variables(path: str | Path) -> pd.DataFrame:
    """The one reader of the variables ``adam.yaml`` declares: ``dataset, variable, label, method, type``
    (the ADaM engine's type), the ``line`` and the metadata ``attributes`` (label, core, codelist ...).

    ``adam.yaml`` is the one home of an ADaM variable: the ADaM engine orders and types its output by
    the same list. ``datasets`` may be a list of mappings with ``name`` or a mapping by name (a
    dataset named twice, ADSL in two passes, takes the variables of both); ``variables`` a list of
    mappings with ``name`` or a mapping by name.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "adam.yaml"
    >>> _ = p.write_text("datasets:\\n  - name: ADSL\\n    variables:\\n"
    ...                  "      - {name: SAFFL, label: Safety Population Flag, method: Y if dosed, codelist: NY}\\n"
    ...                  "      - {name: SEX, label: Sex}\\n")
    >>> load_adam_variables(p).values.tolist()
    [['ADSL', 'SAFFL', 'Safety Population Flag', 'Y if dosed', '', 4, {'label': 'Safety Population Flag', 'codelist': 'NY'}], ['ADSL', 'SEX', 'Sex', '', '', 5, {'label': 'Sex'}]]
    """
    return _adam_variables_of(_adam_dataset_entries(path))


def _adam_variables_of(entries: list[tuple[Any, dict[str, Any], Any]]) -> pd.DataFrame:
    rows = []
    for key, entry, data in entries:
        variables = entry.get("variables") or []
        if isinstance(variables, dict):
            variables = [(k, {"name": k, **(v if isinstance(v, dict) else {"label": v})}) for k, v in variables.items()]
        else:
            variables = list(enumerate(variables))
        for position, var in variables:
            if not isinstance(var, dict) or not var.get("name"):
                continue
            method = var.get("method") or var.get("derivation") or ""
            rows.append({"dataset": str(entry["name"]).upper(), "variable": str(var["name"]).upper(),
                         "label": str(var.get("label") or ""), "method": " ".join(str(method).split()),
                         "type": str(var.get("type") or "").strip().lower(),
                         "line": line_at(data, "datasets", key, "variables", position),
                         "attributes": {k: var[k] for k in ADAM_VARIABLE_ATTRIBUTES if k in var}})
    table = pd.DataFrame(rows, columns=ADAM_VARIABLE_COLUMNS)
    return table.drop_duplicates(["dataset", "variable"], keep="last").reset_index(drop=True)


ADAM_DATASET_FACTS = ("label", "class", "structure", "keys")


def _adam_dataset_entries(path: str | Path) -> list[tuple[Any, dict[str, Any], Any]]:
    """(key, entry with its ``name``, the file as read) of each dataset of ``adam.yaml``; none when absent."""
    path = Path(path)
    if not path.exists():
        return []
    data = load_spec(path)
    datasets = data.get("datasets", []) if isinstance(data, dict) else []
    entries = datasets.items() if isinstance(datasets, dict) else enumerate(datasets if isinstance(datasets, list) else [])
    out = []
    for key, entry in entries:
        entry = {"name": key, **entry} if isinstance(datasets, dict) and isinstance(entry, dict) else entry
        if isinstance(entry, dict) and entry.get("name"):
            out.append((key, entry, data))
    return out


def load_adam_dataset_facts(path: str | Path) -> dict[str, dict[str, Any]]:
    """Label, class, structure and keys of each dataset ``adam.yaml`` declares (their one home: the
    ADaM engine sorts by the same keys); a dataset built in two passes takes the first value of each.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "adam.yaml"
    >>> _ = p.write_text("datasets:\\n  - {name: ADSL, keys: [STUDYID, USUBJID]}\\n  - {name: ADSL, label: Subject-Level}\\n")
    >>> load_adam_dataset_facts(p)
    {'ADSL': {'keys': ['STUDYID', 'USUBJID'], 'label': 'Subject-Level'}}
    """
    return _adam_dataset_facts_of(_adam_dataset_entries(path))


def _adam_dataset_facts_of(entries: list[tuple[Any, dict[str, Any], Any]]) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = {}
    for _, entry, _ in entries:
        known = facts.setdefault(str(entry["name"]).upper(), {})
        for fact in ADAM_DATASET_FACTS:
            if entry.get(fact) and fact not in known:
                known[fact] = entry[fact]
    return facts


def _with_key_sequence(variables: pd.DataFrame, keys: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """``key_sequence``: a variable's 1-based place among its dataset's keys, null when it is not a key."""
    variables["key_sequence"] = pd.array([keys[d].index(v) + 1 if v in keys[d] else pd.NA
                                          for d, v in zip(variables["dataset"], variables["variable"])], dtype="Int64")
    return variables


def _standard_rows_by_domain(standard: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """The standard variable table's rows as dicts by domain, in table order: split once, read per dataset."""
    by_domain: dict[str, list[dict[str, Any]]] = {}
    for row in standard.to_dict("records"):
        by_domain.setdefault(row["domain"], []).append(row)
    return by_domain


def _resolve_variables(
    dataset: str, std_domain: str, dspec: dict[str, Any], standard: dict[str, list[dict[str, Any]]],
    overrides: dict[str, Any], override_lines: dict[str, int], spec_path: Path,
) -> list[dict[str, Any]]:
    include = str(dspec.get("include_standard", "all")).lower()
    all_std_rows = standard.get(std_domain, [])
    std_rows = all_std_rows
    domain_value = str(dspec.get("domain", dataset)).upper()
    if include == "none":
        std_rows = []
    elif include in ("required-expected", "req-exp"):
        std_rows = [r for r in std_rows if r["core"] in ("Req", "Exp")]

    def standard_row(r: dict[str, Any]) -> dict[str, Any]:
        ref = parse_codelist_reference(r["codelist_or_format"])
        return {
            "dataset": dataset, "domain": domain_value, "variable": r["variable"], "label": r["label"],
            "type": r["type"], "length": MAX_CHAR_LENGTH if r["type"] == "Char" else DEFAULT_NUM_LENGTH,
            "core": r["core"], "codelist": "|".join(ref.codelists) or None, "subset": ";".join(ref.subset) or None,
            "format": ref.format, "dictionary": ref.dictionary, "order": int(r["order"]),
            "key_sequence": None, "sponsor_defined": False, "model_variable": False, "origin": None,
            "source_file": r["source_file"], "source_line": int(r["source_line"]),
        }

    rows: dict[str, dict[str, Any]] = {r["variable"]: standard_row(r) for r in std_rows}
    by_name = {r["variable"]: r for r in all_std_rows}
    next_order = max([r["order"] for r in rows.values()] or [0]) + 1
    for raw_var, attrs in overrides.items():
        var = str(raw_var)
        line = override_lines.get(var, 0)
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
                # adam.yaml lists every variable the ADaM engine writes: being listed declares it
                "sponsor_defined": bool(attrs.get("sponsor_defined", spec_path.name == ADAM_SPEC)),
                "model_variable": bool(attrs.get("model_variable", False)),
                "origin": None,
            }
            next_order += 1
        base = {**base, "source_file": str(spec_path), "source_line": line}
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
        for key in ("sponsor_defined", "model_variable"):
            if key in attrs:
                base[key] = bool(attrs[key])
        if base.get("length") is None:
            base["length"] = MAX_CHAR_LENGTH if base.get("type") == "Char" else DEFAULT_NUM_LENGTH
        rows[var] = base
    return sorted(rows.values(), key=lambda r: (r["order"], r["variable"]))


def load_study_metadata(specs_dir: Path, standards_dir: Path) -> StudyMetadata:
    """Resolve ``<specs_dir>/datasets.yaml`` against the standards (see :func:`resolve_study_metadata`).

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> meta = load_study_metadata(PROJECT_ROOT / "specs" / "iscalimab-ln", PROJECT_ROOT / "specs" / "standards")
    >>> meta.datasets["RS"].keys
    ('STUDYID', 'USUBJID', 'RSCAT', 'RSTESTCD', 'VISITNUM', 'RSDTC')
    """
    return resolve_study_metadata(Path(specs_dir) / DATASETS_SPEC, Path(standards_dir))

