"""Mapping files ``mappings/<study>/<domain>.yaml`` and ``sites.yaml``: load, check, remember line numbers.

Every section becomes a small frozen object (:class:`DomainMapping`, :class:`SourceSpec`,
:class:`Application`, :class:`SuppSpec`, :class:`RelrecSpec`, the derivation steps of
:mod:`pipeline.sdtm.mapping.derivations`); a misspelt key anywhere fails at load time, naming its
line (see :func:`load_mapping`). The language is documented in ``docs/mapping-language.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


from pipeline.common.errors import ConfigError
from pipeline.common.expressions import ExpressionError, parse
from pipeline.common.specfile import (
    MarkedDict, SpecProblems, Where, check_keys, check_value, line_of, load_spec)
from pipeline.standards import standards_home
from pipeline.ingest.readers import FORMATS, READER_OPTION_KINDS
from pipeline.sdtm.mapping.algorithms import REGISTRY, check_date_formats, condition_columns
from pipeline.sdtm.mapping.derivations import DerivationStep, parse_derivations, parse_derived_record
from pipeline.sdtm.mapping.records import RatioSpec

# Each section's keys and their kinds (pipeline.common.specfile.KINDS); "condition": an expression or a mapping
TOP_KEYS = {"domain": "text", "description": "text", "sources": "list", "transpose": "mapping", "variables": "mapping",
            "required": "names", "derived_records": "list", "derivations": "mapping", "subject_check": "flag",
            "duplicates": "text", "supp": "list", "relrec": "list"}
_SITE_SETTINGS = {"files": "text", "reader": "mapping", "date_formats": "list", "month_names": "mapping",
                  "time_precision": "text", "values": "mapping", "rename": "mapping", "description": "text"}
SITE_KEYS = {**_SITE_SETTINGS, "numeric": "names", "filter": "condition", "variables": "mapping", "transpose": "mapping"}
SOURCE_KEYS = {**SITE_KEYS, "form": "text", "site": "mapping", "subject": "text", "sites": "mapping", "merge": "mapping"}
SITE_DEFAULT_KEYS = {**_SITE_SETTINGS, "forms": "names"}
SITES_FILE_KEYS = {"sites": "mapping", "description": "text", "forms": "names"}
SITES_FILE = "sites.yaml"
MERGED_SITE_KEYS = ("reader", "values", "rename", "month_names")  # dict-valued: merged, the domain's entry winning
TRANSPOSE_KEYS = {"items": "list", "items_from": "mapping", "value_to": "name", "keep_empty": "flag", "description": "text"}
SUPP_KEYS = {"qnam": "name", "qlabel": "text", "qorig": "text", "qeval": "text", "source": "name", "description": "text"}
RELREC_KEYS = {"domain_add": "name", "filter": "text", "filter_add": "text", "relid_prefix": "text", "description": "text"}
COMMON_KEYS = {"condition", "on_error", "description"}
ON_ERROR = ("quarantine", "flag")


@dataclass(frozen=True)
class Application:
    """One algorithm applied to one target variable (optionally on a row mask)."""

    variable: str
    algorithm: str
    params: dict[str, Any]
    condition: Any
    on_error: str
    where: Where


@dataclass(frozen=True)
class TransposeSpec:
    """Wide to long: each item names a raw column and the values its record gets."""

    items: tuple[dict[str, Any], ...]
    value_to: str
    keep_empty: bool
    where: Where


@dataclass(frozen=True)
class SiteOverride:
    site: str
    raw: dict[str, Any]
    where: Where


@dataclass(frozen=True)
class SiteDefaults:
    """One site's entry in ``sites.yaml``: the dialect every source of every domain inherits.

    ``files`` is a template with ``{site}`` and ``{form}`` (e.g. ``site_{site}/{form}.xlsx``).
    """

    site: str
    raw: dict[str, Any]
    where: Where
    forms: tuple[str, ...] = ()   # forms the site must send (sites.yaml ``forms``): a missing one is an error

    def for_form(self, form: str) -> dict[str, Any]:
        """The settings for one form: the ``files`` template filled in, ``description`` dropped.

        >>> SiteDefaults("102", {"files": "site_{site}/{form}.xlsx", "reader": {"format": "xlsx"}},
        ...              Where(Path("sites.yaml"), 3)).for_form("ae")
        {'files': 'site_102/ae.xlsx', 'reader': {'format': 'xlsx'}}
        """
        settings = {k: v for k, v in self.raw.items() if k not in ("description", "forms")}
        if "files" in settings:
            settings["files"] = str(settings["files"]).format(site=self.site, form=form)
        return settings


def merge_site_settings(defaults: dict[str, Any], block: dict[str, Any]) -> dict[str, Any]:
    """A site's sites.yaml ``defaults`` with a domain's site ``block`` on top: dict-valued keys
    (reader, values, rename, month_names) merge with the block's entries winning (a ``values`` map
    of a column replaces the site's map of that column); any other key in the block replaces.

    >>> merge_site_settings({"reader": {"delimiter": ";", "decimal": ","}, "date_formats": ["%d.%m.%Y"],
    ...                      "values": {"sex": {"1": "M"}, "serious": {"1": "Y"}}},
    ...                     {"reader": {"decimal": "."}, "values": {"sex": {"9": "U"}}, "date_formats": ["%Y"]})
    {'reader': {'delimiter': ';', 'decimal': '.'}, 'date_formats': ['%Y'], 'values': {'sex': {'9': 'U'}, 'serious': {'1': 'Y'}}}
    """
    merged = dict(defaults)
    for key, value in block.items():
        if key in MERGED_SITE_KEYS and isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def load_site_defaults(path: str | Path, text: str | None = None,
                       problems: SpecProblems | None = None) -> dict[str, SiteDefaults]:
    """Load and check ``mappings/<study>/sites.yaml``: ``sites: {<site id>: {reader, files, ...}}``.

    >>> text = "sites:\\n  '101':\\n    reader: {delimiter: ';'}\\n    files: 'site_{site}/{form}.csv'\\n"
    >>> load_site_defaults(Path("sites.yaml"), text=text)["101"].for_form("dm")
    {'reader': {'delimiter': ';'}, 'files': 'site_101/dm.csv'}
    >>> load_site_defaults(Path("sites.yaml"), text="sites:\\n  '101':\\n    delimiter: ';'\\n")
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: sites.yaml:3: site 101: unknown key 'delimiter' (known: date_formats, description, files, forms, month_names, reader, rename, time_precision, values)
    """
    path = Path(path)
    own = problems is None
    problems = SpecProblems() if problems is None else problems
    out: dict[str, SiteDefaults] = {}
    with problems.check():
        data = load_spec(path, text)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:1: expected a mapping 'sites: {{<site id>: {{reader: ..., date_formats: ...}}}}'")
        check_keys(data, SITES_FILE_KEYS, Where(path, line_of(data)), "sites file")
        every_site = tuple(data.get("forms") or ())
        for site, block in (data.get("sites") or {}).items():
            with problems.check():
                out[str(site)] = _parse_site_defaults(str(site), block, Where(path, line_of(data["sites"], site)),
                                                      every_site)
    if own:
        problems.raise_if_any()
    return out


def _parse_site_defaults(site_id: str, block: Any, where: Where, every_site: tuple[str, ...]) -> SiteDefaults:
    path = where.path
    block = {} if block is None else block  # "601": with nothing under it - a known site with the source defaults
    check_keys(block, SITE_DEFAULT_KEYS, where.at(block), f"site {site_id}")
    _check_site_settings(block, path, site_id, where)
    if "files" in block:
        files_where = Where(path, line_of(block, "files"))
        template = str(block["files"])
        if "{form}" not in template:
            raise files_where.error(f"site {site_id}: files template '{template}' needs '{{form}}' "
                                    "(e.g. site_{site}/{form}.xlsx), else every form would read the same files")
        try:
            filled = template.format(site=site_id, form="form")
        except (KeyError, IndexError, ValueError) as exc:
            raise files_where.error(f"site {site_id}: files template '{template}': only {{site}} and {{form}} "
                                    f"may be used ({exc})") from None
        _check_relative_glob(filled, files_where)
    forms = tuple(block["forms"]) if block.get("forms") is not None else every_site
    return SiteDefaults(site=site_id, raw=dict(block), where=where, forms=forms)


@dataclass(frozen=True)
class SourceSpec:
    """One raw form feeding the domain, with its per-site overrides."""

    form: str
    files: str
    site_pattern: str
    subject: str | None
    reader: dict[str, Any]
    numeric: tuple[str, ...]
    date_formats: tuple[str, ...]
    month_names: dict[str, int]
    rename: dict[str, str]
    filter: Any
    values: dict[str, dict[str, str]]
    transpose: TransposeSpec | None
    variables: dict[str, tuple[Application, ...]]
    sites: dict[str, SiteOverride]
    where: Where
    merge: tuple[str, ...] = ()
    time_precision: str | None = None

    def for_site(self, site: str) -> "SourceSpec":
        """This source with the site's settings applied: those of ``sites.yaml`` merged with the
        source's own site block at load time (reader options, renames, month names and value maps
        merge - a column's value map replaced whole; lists and other keys replace)."""
        override = self.sites.get(site)
        if override is None:
            return self
        raw = override.raw
        merged = {key: {**getattr(self, key), **(raw.get(key) or {})} for key in MERGED_SITE_KEYS}
        replaced = {key: raw[key] for key in ("files", "filter", "time_precision") if key in raw}
        return replace(self, **merged, **replaced, numeric=tuple(raw.get("numeric", self.numeric)),
                       date_formats=tuple(raw.get("date_formats", self.date_formats)),
                       transpose=raw.get("_transpose", self.transpose), sites={}, where=override.where,
                       variables=merge_variables(self.variables, raw.get("_variables", {})))


@dataclass(frozen=True)
class SuppSpec:
    """One ``supp:`` item: a variable moved to SUPP-- as QNAM (``source`` names the column, default QNAM)."""

    qnam: str
    qlabel: str
    where: Where
    qorig: str | None = None
    qeval: str | None = None
    source: str | None = None

    @property
    def column(self) -> str:
        return self.source or self.qnam

    def as_qnam_spec(self) -> dict[str, Any]:
        """The entry :func:`pipeline.sdtm.supp.build_supp` takes."""
        given = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "where"}
        return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class RelrecSpec:
    """One ``relrec:`` item: records of this domain related to those of ``domain_add`` (filters in the
    expression language)."""

    domain_add: str
    where: Where
    filter: str | None = None
    filter_add: str | None = None
    relid_prefix: str | None = None


@dataclass(frozen=True)
class DomainMapping:
    """A parsed mapping file."""

    domain: str
    path: Path
    sources: tuple[SourceSpec, ...]
    transpose: TransposeSpec | None
    variables: dict[str, tuple[Application, ...]]
    required: tuple[str, ...]
    derived_records: tuple[RatioSpec, ...]
    derivations: tuple[DerivationStep, ...]
    subject_check: bool
    duplicates: str
    supp: tuple[SuppSpec, ...] = ()
    relrec: tuple[RelrecSpec, ...] = ()

    def steps(self, subject_level: bool = False) -> tuple[DerivationStep, ...]:
        """The derivation steps of one phase: the records' (default) or the subject-level ones (DM)."""
        return tuple(s for s in self.derivations if s.derivation.subject_level == subject_level)


def _from_node(spec: type, node: dict[str, Any], where: Where, **given: Any) -> Any:
    """A spec dataclass from a checked node: each field from its key (a missing key keeps the default)."""
    values = {f.name: node[f.name] for f in fields(spec) if f.name in node and f.name != "where"}
    return spec(**{**values, **given}, where=where)


def _parse_supp(node: Any, where: Where, label: str = "supp") -> SuppSpec:
    check_keys(node, SUPP_KEYS, where, label, ("qnam", "qlabel"))
    return _from_node(SuppSpec, node, where)


def _parse_relrec(node: Any, where: Where, label: str = "relrec") -> RelrecSpec:
    """A ``relrec:`` item; its filters parse in the expression language.

    >>> _parse_relrec({"domain_add": "DS", "filter": "AEACN == "}, Where(Path("ae.yaml"), 7))
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: ae.yaml:7: relrec filter: expression 'AEACN == ': incomplete or invalid syntax (invalid syntax)
    """
    check_keys(node, RELREC_KEYS, where, label, ("domain_add",))
    for key in ("filter", "filter_add"):
        if node.get(key) is not None:
            try:
                parse(node[key])
            except ExpressionError as exc:
                raise where.at(node, key).error(f"relrec {key}: {exc}") from None
    return _from_node(RelrecSpec, node, where, domain_add=str(node["domain_add"]).upper())


def _parse_list(node: Any, where: Where, what: str, parse_item: Any, problems: SpecProblems) -> tuple[Any, ...]:
    """A list section (``supp:``, ``relrec:``, ``derived_records:``), each item parsed on its own."""
    if node is None:
        return ()
    with problems.check():
        check_value(node, "list", where, what)
    out = []
    for index, item in enumerate(node if isinstance(node, list) else []):
        with problems.check():
            out.append(parse_item(item, where.at(node, index), f"{what}[{index + 1}]"))
    return tuple(out)


_VARIABLE_NAME = re.compile(r"^[A-Z][A-Z0-9]{0,7}$|^_[a-z][a-z0-9_]*$")


def _parse_applications(variable: str, node: Any, path: Path, registry: dict[str, Any]) -> tuple[Application, ...]:
    """The algorithm applications of one target variable (a dict or a list of dicts)."""
    items = node if isinstance(node, list) else [node]
    out = []
    for item in items:
        where = Where(path, line_of(item, default=line_of(node)))
        if not isinstance(item, dict):
            raise where.error(f"variable {variable}: expected an algorithm such as {{assign: COLUMN}}, got {item!r}")
        algorithms = [k for k in item if k not in COMMON_KEYS]
        unknown = [k for k in algorithms if k not in registry]
        if unknown:
            raise Where(path, line_of(item, unknown[0])).error(f"variable {variable}: unknown algorithm '{unknown[0]}' "
                                                               f"(known: {', '.join(sorted(registry))})")
        if len(algorithms) != 1:
            raise where.error(f"variable {variable}: exactly one algorithm per application, got "
                              f"{', '.join(algorithms) or 'none'}")
        name = algorithms[0]
        where = Where(path, line_of(item, name))
        on_error = item.get("on_error", "quarantine")
        if on_error not in ON_ERROR:
            raise where.error(f"variable {variable}: on_error must be one of {', '.join(ON_ERROR)}, got '{on_error}'")
        params = registry[name].normalise(item[name], where, variable)
        check_condition(item.get("condition"), Where(path, line_of(item, "condition")))
        out.append(Application(variable=variable, algorithm=name, params=params, condition=item.get("condition"),
                               on_error=on_error, where=where))
    return tuple(out)


CONDITION_OPS = {"equals", "not_equals", "in", "not_in", "is_empty", "not_empty", "matches"}


def check_condition(condition: Any, where: Where) -> None:
    """Reject a malformed row mask (see :func:`pipeline.sdtm.mapping.algorithms.evaluate_condition`).

    >>> check_condition({"column": "SAE", "in": ["Y"]}, Where(Path("ae.yaml"), 7))
    >>> check_condition({"column": "SAE", "is": "Y"}, Where(Path("ae.yaml"), 7))
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: ae.yaml:7: condition on SAE: exactly one of equals, in, is_empty, matches, not_empty, not_equals, not_in, got is
    """
    if condition is None:
        return
    if isinstance(condition, str):  # the expression language (pipeline.common.expressions)
        try:
            parse(condition)
        except ExpressionError as exc:
            raise where.error(f"condition: {exc}") from None
        return
    if not isinstance(condition, dict):
        raise where.error(f"condition must be an expression or a mapping such as {{column: X, equals: Y}}, got {condition!r}")
    logical = [k for k in ("all", "any", "not") if k in condition]
    if logical:
        key = logical[0]
        parts = condition[key] if key != "not" else [condition[key]]
        if not isinstance(parts, list):
            raise where.error(f"condition '{key}' needs a list of conditions")
        for part in parts:
            check_condition(part, Where(where.path, line_of(part, default=where.line)))
        return
    if "column" not in condition:
        raise where.error("condition needs 'column' (or all/any/not)")
    ops = [k for k in condition if k != "column"]
    if len(ops) != 1 or ops[0] not in CONDITION_OPS:
        raise where.error(f"condition on {condition.get('column')}: exactly one of {', '.join(sorted(CONDITION_OPS))}, "
                          f"got {', '.join(ops) or 'none'}")
    if ops[0] == "matches":
        check_value(condition["matches"], "regex", where, f"condition on {condition['column']}: matches")
    if ops[0] in ("in", "not_in"):
        check_value(condition[ops[0]], "list", where, f"condition on {condition['column']}: {ops[0]}")


def _parse_transpose(node: Any, path: Path) -> TransposeSpec | None:
    if node is None:
        return None
    where = Where(path, line_of(node))
    check_keys(node, TRANSPOSE_KEYS, where, "transpose")
    items = list(node.get("items") or [])
    for item in items:
        if not isinstance(item, dict) or "column" not in item:
            raise Where(path, line_of(item, default=where.line)).error("transpose item needs 'column' and 'set'")
    items_from = node.get("items_from")
    if items_from is not None:
        items.extend(_expand_items_from(items_from, Where(path, line_of(node, "items_from")), path))
    if not items:
        raise where.error("transpose needs 'items' or 'items_from'")
    return TransposeSpec(items=tuple(dict(i) for i in items), value_to=str(node.get("value_to", "_value")),
                         keep_empty=bool(node.get("keep_empty", False)), where=where)


def _expand_items_from(spec: Any, where: Where, path: Path) -> list[dict[str, Any]]:
    """Items generated from a list in a standards file: ``{file, list, column, set}`` with ``{field}`` templates."""
    if not isinstance(spec, dict) or not {"file", "column", "set"} <= set(spec):
        raise where.error("items_from needs file (under specs/standards), list, column and set")
    standards = standards_home().resolve()
    target = (standards / str(spec["file"])).resolve()
    if standards not in target.parents:
        raise where.error(f"items_from file '{spec['file']}' is outside specs/standards")
    data = load_spec(target)
    rows = data.get(spec.get("list", "items")) if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise where.error(f"items_from: no list '{spec.get('list', 'items')}' in {target}")
    out = []
    for row in rows:
        try:
            out.append({"column": item_column_name(spec["column"], row),
                        "set": {k: (str(v).format(**row) if isinstance(v, str) else v) for k, v in spec["set"].items()}})
        except (KeyError, ValueError) as exc:
            raise where.error(f"items_from column/set template: {exc}") from None
    return out + [dict(extra) for extra in spec.get("extra", []) or []]


def merge_variables(base: dict[str, tuple[Application, ...]], override: dict[str, tuple[Application, ...]]
                    ) -> dict[str, tuple[Application, ...]]:
    """Variables of ``base`` with ``override`` applied: a known variable is replaced in place; a new one
    is placed just before the first variable that reads it (so helpers like ``_visitnum`` come first),
    else at the end.

    >>> text = "domain: XX\\nsources: []\\nvariables:\\n  A: {assign: a}\\n  V: {assign: v}\\n"
    >>> base = load_mapping(Path("x.yaml"), text=text).variables
    >>> site = load_mapping(Path("x.yaml"), text="domain: XX\\nsources: []\\nvariables:\\n  V: {assign: _n}\\n"
    ...                     "  _n: {derive: {function: extract, column: v, pattern: 'V(\\\\d+)'}}\\n").variables
    >>> list(merge_variables(base, site))
    ['A', '_n', 'V']
    """
    merged = dict(base)
    for variable, applications in override.items():
        if variable in merged:
            merged[variable] = applications
    for variable, applications in override.items():
        if variable in base:
            continue
        position = next((i for i, name in enumerate(merged) if any(
            variable in REGISTRY[a.algorithm].referenced_columns(a.params) + condition_columns(a.condition)
            for a in merged[name])), len(merged))
        items = list(merged.items())
        items.insert(position, (variable, applications))
        merged = dict(items)
    return merged


def item_column_name(template: Any, row: dict[str, Any]) -> str:
    """The raw column of a generated transpose item: a ``{field}`` template, or a field in a naming style.

    ``{field: test, strip_prefix: "SSLD01-", style: snake}`` turns ``SSLD01-Organic Brain Syndrome``
    into ``organic_brain_syndrome`` (styles: as_is, snake, camel, upper, lower).

    >>> item_column_name({"field": "test", "strip_prefix": "X-", "style": "camel"}, {"test": "X-New Rash"})
    'NewRash'
    >>> item_column_name("SLED{num:02d}", {"num": 3})
    'SLED03'
    """
    if isinstance(template, str):
        return template.format(**row)
    text = str(row[template["field"]])
    prefix = template.get("strip_prefix")
    if prefix and text.startswith(prefix):
        text = text[len(prefix):]
    words = [w for w in re.split(r"[^0-9A-Za-z]+", text) if w]
    styles = {"as_is": text, "snake": "_".join(w.lower() for w in words),
              "camel": "".join(w[:1].upper() + w[1:] for w in words), "upper": text.upper(), "lower": text.lower()}
    style = template.get("style", "as_is")
    if style not in styles:
        raise ValueError(f"unknown column style '{style}' (known: {', '.join(styles)})")
    return styles[style]


def check_reader(reader: Any, where: Where, what: str = "reader") -> None:
    """A ``reader:`` block: known options, each of its kind (one-character delimiters, a count of
    rows to skip, a known encoding and format), naming the line.

    >>> check_reader({"delimiter": ";;"}, Where(Path("sites.yaml"), 3))
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: sites.yaml:3: reader.delimiter: expected one character, got ';;'
    """
    check_keys(reader, READER_OPTION_KINDS, where, what)
    if reader.get("format") is not None and reader["format"] not in FORMATS:
        raise where.at(reader, "format").error(f"{what}.format: one of {', '.join(FORMATS)}, got {reader['format']!r}")


def _check_site_settings(block: Any, path: Path, site: str, where: Where) -> None:
    """Formats of one site block (domain file or sites.yaml; its keys' kinds checked before), naming the line."""
    if block.get("reader"):
        check_reader(block["reader"], Where(path, line_of(block, "reader")), f"site {site}: reader")
    if isinstance(block.get("values"), dict):
        for column, value_map in block["values"].items():
            if not isinstance(value_map, dict):
                raise Where(path, line_of(block["values"], column)).error(
                    f"site {site}: values of '{column}' must be a mapping code: value")
    check_date_formats(block.get("date_formats"), Where(path, line_of(block, "date_formats", where.line)))
    _check_precision(block.get("time_precision"), Where(path, line_of(block, "time_precision", where.line)))


def _parse_source(node: Any, path: Path, registry: dict[str, Any],
                  site_defaults: dict[str, SiteDefaults] | None = None) -> SourceSpec:
    where = Where(path, line_of(node))
    check_keys(node, SOURCE_KEYS, where, "source")
    for key in ("form", "files"):
        if key not in node:
            raise where.error(f"source needs '{key}'")
    files = str(node["files"])
    _check_relative_glob(files, Where(path, line_of(node, "files")))
    site_defaults = site_defaults or {}
    blocks = node.get("sites") or {}  # a mapping: its kind is checked with the keys
    sites = {}
    for site, override in blocks.items():
        site_where = Where(path, line_of(blocks, site))
        override = {} if override is None else override  # a site listed with nothing of its own: inherits sites.yaml
        check_keys(override, SITE_KEYS, site_where.at(override), f"site {site}")
        raw = dict(override)
        if "files" in raw:
            _check_relative_glob(str(raw["files"]), Where(path, line_of(override, "files")))
        if "variables" in raw:
            raw["_variables"] = {var: _parse_applications(var, spec, path, registry)
                                 for var, spec in (raw["variables"] or {}).items()}
        if "transpose" in raw:
            raw["_transpose"] = _parse_transpose(raw["transpose"], path)
        _check_site_settings(override, path, str(site), site_where)
        defaults = site_defaults.get(str(site))
        if defaults is not None:
            raw = merge_site_settings(defaults.for_form(str(node["form"])), raw)
        sites[str(site)] = SiteOverride(site=str(site), raw=raw, where=site_where)
    for site, defaults in site_defaults.items():
        if site not in sites:  # messages point at the source: that is where this form's renames would go
            sites[site] = SiteOverride(site=site, raw=defaults.for_form(str(node["form"])), where=where)
    check_date_formats(node.get("date_formats"), Where(path, line_of(node, "date_formats")))
    if node.get("reader") is not None:
        check_reader(node["reader"], Where(path, line_of(node, "reader")))
    variables = {var: _parse_applications(var, spec, path, registry) for var, spec in (node.get("variables") or {}).items()}
    if node.get("filter") is not None:
        check_condition(node["filter"].get("condition") if isinstance(node["filter"], dict) and "condition" in node["filter"]
                        else node["filter"], Where(path, line_of(node, "filter")))
    return SourceSpec(
        form=str(node["form"]), files=files,
        site_pattern=str((node.get("site") or {}).get("from_path", r"site_(?P<site>[^/]+)/")),
        subject=node.get("subject"), reader=dict(node.get("reader") or {}),
        numeric=tuple(node.get("numeric") or ()), date_formats=tuple(node.get("date_formats") or ("iso8601",)),
        month_names=dict(node.get("month_names") or {}), rename=dict(node.get("rename") or {}),
        filter=node.get("filter"), values={k: dict(v) for k, v in (node.get("values") or {}).items()},
        transpose=_parse_transpose(node.get("transpose"), path), variables=variables, sites=sites, where=where,
        merge=_parse_merge(node.get("merge"), Where(path, line_of(node, "merge"))),
        time_precision=_check_precision(node.get("time_precision"), Where(path, line_of(node, "time_precision"))))


def _check_precision(value: Any, where: Where) -> str | None:
    if value is not None and value not in ("minute", "second"):
        raise where.error(f"time_precision must be minute or second, got '{value}'")
    return value


def _parse_merge(node: Any, where: Where) -> tuple[str, ...]:
    if node is None:
        return ()
    by = node.get("by") if isinstance(node, dict) else None
    if not by or not isinstance(by, list):
        raise where.error("merge needs 'by': a list of key variables, e.g. merge: {by: [USUBJID]}")
    return tuple(str(b) for b in by)


def _check_relative_glob(pattern: str, where: Where) -> None:
    if pattern.startswith("/") or pattern.startswith("~") or ".." in Path(pattern).parts or re.match(r"^[A-Za-z]:", pattern):
        raise where.error(f"source files '{pattern}' must be a relative path inside the raw directory")


def load_mapping(path: str | Path, registry: dict[str, Any] | None = None, text: str | None = None,
                 site_defaults: dict[str, SiteDefaults] | None = None,
                 problems: SpecProblems | None = None) -> DomainMapping:
    """Load and check one mapping file; errors name the file and line.

    Every problem of the file is reported together. With ``problems`` (one
    :class:`~pipeline.common.specfile.SpecProblems` for all the mapping files of a run) they are
    recorded there for the caller to raise, and what could be parsed is returned.

    ``site_defaults`` (from :func:`load_site_defaults`) are inherited by every source: source
    defaults < site defaults < the source's own ``sites[site]`` block.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "xx.yaml"
    >>> _ = p.write_text("domain: XX\\nsources: []\\nvariables:\\n  XXTERM: {asign: TERM}\\n")
    >>> load_mapping(p)
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: ...xx.yaml:4: variable XXTERM: unknown algorithm 'asign' (known: ...)
    >>> _ = p.write_text("domain: XX\\nsources: []\\nvariables:\\n  XXTERM: {asign: TERM}\\nsupp:\\n  - {qnam: X, qlable: Y}\\n")
    >>> load_mapping(p)
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: 2 problems in the spec files:
    ...xx.yaml:4: variable XXTERM: unknown algorithm 'asign' (known: ...)
    ...xx.yaml:6: supp[1]: unknown key 'qlable' (known: description, qeval, qlabel, qnam, qorig, source)
    """
    registry = registry or REGISTRY
    path = Path(path)
    own = problems is None
    problems = SpecProblems() if problems is None else problems
    check = problems.check
    data = load_spec(path, text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping with domain, sources and variables")
    here = Where(path, line_of(data))
    with check():  # unknown keys name the file ("mapping: unknown key"), a value of the wrong kind its key
        names = MarkedDict.fromkeys(data)
        names.line, names.lines = data.line, data.lines
        check_keys(names, TOP_KEYS, here, "mapping")
    for key, kind in TOP_KEYS.items():
        with check():
            if data.get(key) is not None:
                check_value(data[key], kind, here.at(data, key), key)
    domain = str(data.get("domain", "")).upper()
    with check():
        if not re.fullmatch(r"[A-Z]{2}|SUPP[A-Z]{2}", domain):
            raise here.at(data, "domain").error(f"domain must be a 2-letter code, got '{data.get('domain')}'")
    variables: dict[str, tuple[Application, ...]] = {}
    variables_node = data.get("variables")
    for var, spec in (variables_node.items() if isinstance(variables_node, dict) else ()):
        with check():
            if not _VARIABLE_NAME.match(str(var)):
                raise here.at(variables_node, var).error(
                    f"variable name '{var}' must be upper case, start with a letter, at most 8 characters")
            variables[str(var)] = _parse_applications(str(var), spec, path, registry)
    sources = []
    for node in (data.get("sources") if isinstance(data.get("sources"), list) else ()):
        with check():
            sources.append(_parse_source(node, path, registry, site_defaults))
    transpose = None
    with check():
        transpose = _parse_transpose(data.get("transpose"), path) if isinstance(data.get("transpose"), dict) else None
    duplicates = str(data.get("duplicates", "quarantine"))
    with check():
        if duplicates not in ("quarantine", "keep"):
            raise here.at(data, "duplicates").error("duplicates must be quarantine or keep")
    derivations = parse_derivations(data.get("derivations"), here.at(data, "derivations"), check)
    supp = _parse_list(data.get("supp"), here.at(data, "supp"), "supp", _parse_supp, problems)
    relrec = _parse_list(data.get("relrec"), here.at(data, "relrec"), "relrec", _parse_relrec, problems)
    derived_records = _parse_list(data.get("derived_records"), here.at(data, "derived_records"), "derived_records",
                                  parse_derived_record, problems)
    if own:
        problems.raise_if_any()
    return DomainMapping(
        domain=domain, path=path, sources=tuple(sources), transpose=transpose, variables=variables,
        required=tuple(data["required"]) if isinstance(data.get("required"), list) else (), derived_records=derived_records, derivations=derivations,
        subject_check=bool(data.get("subject_check", domain != "DM")), duplicates=duplicates, supp=supp, relrec=relrec)
