"""The closed registry of mapping algorithms: one name, one function, one signature.

Every algorithm is ``func(columns, params, env) -> Result``: ``columns`` resolves a name to a
series (target variables computed so far first, then raw columns; ``raw.NAME`` forces the raw
column) and carries the :class:`Batch` it belongs to (each row's site date dialect), ``params`` are the checked options from the mapping file, ``env`` holds terminology,
units, the study design and reference datasets. ``Result.values`` is the new variable,
``Result.reason`` names what is wrong per row (None where fine); the engine sends rows with a
reason to the quarantine (or flags them, ``on_error: flag``).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from pipeline.common.expressions import (
    FUNCTIONS, Binary, Call, Column, Expression, Literal, Logical, Membership, Node, Unary, Variables, evaluate_mask,
    parse)
from pipeline.standards.terminology import Codelist, codelist_from_ct, map_to_codelist
from pipeline.common.specfile import Where, check_value
from pipeline.common.study import study_value
from pipeline.sdtm.derive_var_nrind import range_indicator
from pipeline.sdtm.derive_vars_dm_reference import completed_years
from pipeline.sdtm.mapping.dates import DateFormatError, check_format, combine_date_time, parse_dates, truncate_iso
from pipeline.sdtm.mapping.units import UnitTable, convert_values


@dataclass
class MappingEnv:
    """What algorithms may read besides the row: terminology, units, design, reference datasets.

    >>> MappingEnv().design_value("study.studyid", default="X")
    'X'
    """

    ct: pd.DataFrame | None = None
    units: UnitTable | None = None
    design: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    _codelists: dict[str, Codelist] = field(default_factory=dict)

    def codelist(self, name: str) -> Codelist:
        if name not in self._codelists:
            if self.ct is None:
                raise KeyError(f"no controlled terminology loaded (codelist {name})")
            self._codelists[name] = codelist_from_ct(self.ct, name)
        return self._codelists[name]

    def design_value(self, dotted: str, default: Any = KeyError) -> Any:
        return study_value(self.design, dotted, default)

    def dataset(self, name: str) -> pd.DataFrame:
        if name in self.datasets:
            return self.datasets[name]
        if name.startswith("design."):
            value = self.design_value(name[len("design."):])
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                return pd.DataFrame(value).astype(str)
        raise KeyError(f"no dataset '{name}' (available: {', '.join(sorted(self.datasets)) or 'none'}, or design.<list>)")


def check_date_formats(formats: Any, where: Where) -> None:
    """Every date format of a list usable by the parser, else an error naming the line."""
    for fmt in formats or []:
        try:
            check_format(str(fmt))
        except DateFormatError as exc:
            raise where.error(str(exc)) from None


@dataclass(frozen=True)
class DateDialect:
    """How one site writes dates: formats tried in order, its month names, the time precision it means."""

    formats: tuple[str, ...] = ("iso8601",)
    month_names: dict[str, int] = field(default_factory=dict)
    time_precision: str | None = None


@dataclass(frozen=True, eq=False)
class Batch:
    """The raw files mapped together as one frame: the date dialects and the dialect of each row.

    ``row_dialect`` holds a dialect number per row; None means every row has the first dialect.

    >>> batch = Batch((DateDialect(("%d.%m.%Y",)), DateDialect()), np.array([0, 1, 0]))
    >>> [(d.formats, rows.tolist()) for d, rows in batch.groups()]
    [(('%d.%m.%Y',), [0, 2]), (('iso8601',), [1])]
    """

    dialects: tuple[DateDialect, ...] = (DateDialect(),)
    row_dialect: np.ndarray | None = None

    def groups(self) -> list[tuple[DateDialect, np.ndarray | slice]]:
        """(dialect, row positions) for each dialect that has rows, in dialect order."""
        if self.row_dialect is None or len(self.dialects) == 1:
            return [(self.dialects[0], slice(None))]
        return [(dialect, np.flatnonzero(self.row_dialect == number)) for number, dialect in enumerate(self.dialects)
                if (self.row_dialect == number).any()]


class Columns:
    """Name resolution for algorithms: computed target variables first, then raw columns.

    >>> cols = Columns(pd.DataFrame({"SEX": ["Female"]}), pd.DataFrame({"SEX": ["F"]}))
    >>> cols.get("SEX").tolist(), cols.get("raw.SEX").tolist()
    (['F'], ['Female'])
    """

    def __init__(self, raw: pd.DataFrame, out: pd.DataFrame | dict[str, pd.Series] | None = None,
                 batch: Batch = Batch()):
        self.raw = raw
        self.out = out if out is not None else {}
        self.batch = batch
        self._text: dict[str, DistinctText] = {}

    def forget(self, name: str) -> None:
        """Drop the cached text of ``name`` (after the engine wrote that variable)."""
        self._text.pop(name, None)

    def has(self, name: str) -> bool:
        if name.startswith("raw."):
            return name[4:] in self.raw.columns
        return name in self.out or name in self.raw.columns

    def get(self, name: str) -> pd.Series:
        if name.startswith("raw."):
            return self.raw[name[4:]]
        if name in self.out:
            return self.out[name]
        if name in self.raw.columns:
            return self.raw[name]
        raise KeyError(name)

    def text(self, name: str) -> pd.Series:
        """The column as stripped text, '' for missing; computed once per batch and column."""
        return self.distinct(name).text

    def distinct(self, name: str) -> DistinctText:
        """The column as stripped text with its distinct values, factorised once per batch and column
        and shared by every algorithm and condition that reads it (until the engine writes ``name``)."""
        if name not in self._text:
            self._text[name] = distinct_text(self.get(name))
        return self._text[name]


@dataclass(frozen=True, eq=False)
class DistinctText:
    """A column as stripped text and its factorisation: ``text`` equals ``uniques[codes]`` row by row,
    each distinct text once in ``uniques``."""

    text: pd.Series
    codes: np.ndarray
    uniques: np.ndarray

    def subset(self, rows: np.ndarray | slice) -> DistinctText:
        """The rows at positions ``rows``, with only the distinct values they hold.

        >>> distinct_text(pd.Series(["a", "b", "c", "b"])).subset(np.array([1, 3])).uniques.tolist()
        ['b']
        """
        codes = self.codes[rows]
        used = np.zeros(len(self.uniques), dtype=bool)
        used[codes] = True
        renumbered = np.cumsum(used) - 1
        return DistinctText(self.text.iloc[rows], renumbered[codes], self.uniques[used])


def distinct_text(values: pd.Series) -> DistinctText:
    """:func:`stripped_text` with its distinct values: each distinct raw value is converted once, then the
    converted values are factorised (so `` a `` and ``a`` are one distinct text).

    >>> found = distinct_text(pd.Series([" a ", None, 1.5, "a"]))
    >>> found.text.tolist(), found.uniques.tolist(), found.codes.tolist()
    (['a', '', '1.5', 'a'], ['a', '1.5', ''], [0, 2, 1, 0])
    """
    raw_codes, raw_uniques = pd.factorize(values, use_na_sentinel=True)
    converted = [str(u).strip() for u in raw_uniques]
    if len(raw_codes) and raw_codes.min() < 0:
        converted.append("")  # code -1 (missing) takes the last, ''
    merged, uniques = pd.factorize(np.array(converted, dtype=object))
    codes = merged.astype(np.int32)[raw_codes] if len(merged) else raw_codes  # 4 bytes a row, kept per column
    return DistinctText(pd.Series(uniques[codes], index=values.index, dtype=object), codes, uniques)


def stripped_text(values: pd.Series) -> pd.Series:
    """Values as stripped text, '' for missing: each distinct value converted once, then broadcast.

    >>> stripped_text(pd.Series([" a ", None, 1.5, " a "])).tolist()
    ['a', '', '1.5', 'a']
    """
    return distinct_text(values).text


def per_distinct(text: pd.Series | DistinctText, function: Callable[[pd.Series], Any]) -> Any:
    """``function`` (row by row in nature) run on the distinct values of ``text`` only, its result(s)
    broadcast back to the rows: the cost follows the distinct values, not the records. ``text`` may come
    factorised already (:meth:`Columns.distinct`).

    >>> per_distinct(pd.Series(["a", "b", "a"], index=[5, 6, 7]), lambda t: (t.str.upper(), t == "a"))[0].to_dict()
    {5: 'A', 6: 'B', 7: 'A'}
    """
    if isinstance(text, DistinctText):
        return _spread(function(pd.Series(text.uniques, dtype=object)), text.codes, text.text.index)
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    return _spread(function(pd.Series(uniques, dtype=text.dtype)), codes, text.index)


def per_distinct_rows(frame: pd.DataFrame, function: Callable[[pd.DataFrame], Any],
                      codes: list[np.ndarray] | None = None) -> Any:
    """``function`` (row by row in nature) run on the distinct rows of ``frame`` only, its result(s)
    broadcast back: :func:`per_distinct` for values that come in pairs (a date and its time).

    ``codes`` (one array per column, equal codes for equal values, e.g. :attr:`DistinctText.codes`) saves
    factorising the columns again.

    >>> per_distinct_rows(pd.DataFrame({"a": ["x", "y", "x"], "b": ["1", "1", "1"]}), lambda f: f["a"] + f["b"]).tolist()
    ['x1', 'y1', 'x1']
    """
    if frame.shape[1] == 1 and codes is None:
        return per_distinct(frame.iloc[:, 0], lambda values: function(values.to_frame(frame.columns[0])))
    row_codes = distinct_row_codes(codes if codes is not None else
                                   [pd.factorize(frame[c], use_na_sentinel=True)[0] for c in frame.columns])
    first = np.unique(row_codes, return_index=True)[1]  # the first row of each distinct row, in code order
    return _spread(function(frame.iloc[first].reset_index(drop=True)), row_codes, frame.index)


def distinct_row_codes(codes: list[np.ndarray]) -> np.ndarray:
    """One code per distinct combination of per-column codes (-1 allowed), numbered in order of appearance.

    >>> distinct_row_codes([np.array([0, 1, 0, -1]), np.array([2, 2, 2, 0])]).tolist()
    [0, 1, 0, 2]
    """
    combined = codes[0].astype(np.int64)
    for column in codes[1:]:
        # renumbered after each column, so the combined code stays below the number of rows
        combined = pd.factorize(combined * (int(column.max(initial=0)) + 2) + (column + 1))[0]
    return pd.factorize(combined)[0]


def _spread(out: Any, codes: np.ndarray, index: pd.Index) -> Any:
    """Result(s) computed per distinct value, taken back to every row (``codes``) under ``index``."""

    def spread(series: pd.Series) -> pd.Series:
        return series.iloc[codes].set_axis(index)

    return tuple(None if s is None else spread(s) for s in out) if isinstance(out, tuple) else spread(out)


@dataclass(frozen=True)
class Result:
    values: pd.Series
    reason: pd.Series | None = None


def _none_if_empty(text: pd.Series) -> pd.Series:
    return text.astype(object).where(text != "", None)


def _no_reason(index: pd.Index) -> pd.Series:
    return pd.Series(np.full(len(index), None, dtype=object), index=index)


def _reasons(bad: pd.Series, text: pd.Series, before: str, after: str) -> pd.Series:
    """``before + value + after`` on the ``bad`` rows, None elsewhere."""
    reason = _no_reason(text.index)
    reason[bad] = before + text[bad] + after
    return reason


def _constant(value: Any, index: pd.Index) -> pd.Series:
    column = np.empty(len(index), dtype=object)
    column[:] = [value] if len(index) else []
    return pd.Series(column, index=index)


def _with_suffix(reason: pd.Series, suffix: str) -> pd.Series:
    """``suffix`` appended to the reasons that are set (the others stay None)."""
    bad = reason.notna()
    if not bad.any():
        return reason
    reason = reason.copy()
    reason[bad] = reason[bad].astype(str) + suffix
    return reason


# --- conditions ---------------------------------------------------------------------------------

class ColumnText(Variables):
    """The mapping stage's variables: computed target variables first, then raw columns, as stripped text."""

    def __init__(self, columns: Columns):
        self.columns = columns
        self.index = columns.raw.index

    def column(self, name: str) -> pd.Series:
        if not self.columns.has(name):
            raise KeyError(f"unknown column {name}")
        return self.columns.text(name)


def condition_expression(condition: Any) -> Expression:
    """The expression a mapping condition stands for: either expression text (``"SAE in ['Y', 'Yes']"``)
    or the structured form of docs/mapping-language.md, compiled into the same closed tree.

    Values compare as text, a missing value is the empty text.

    >>> condition_expression({"all": [{"column": "A", "equals": 1}, {"not": {"column": "B", "is_empty": True}}]}).columns
    ['A', 'B']
    """
    if isinstance(condition, Expression):
        return condition
    if isinstance(condition, str):
        return parse(condition)
    return Expression(repr(condition), _condition_node(condition))


def _condition_node(condition: Any) -> Node:
    if isinstance(condition, str):
        return parse(condition).root
    if "all" in condition or "any" in condition:
        key = "all" if "all" in condition else "any"
        return Logical("and" if key == "all" else "or", tuple(_condition_node(part) for part in condition[key]))
    if "not" in condition:
        return Unary("not", _condition_node(condition["not"]))
    column = Column(str(condition["column"]))
    if "equals" in condition:
        return Binary("==", operator.eq, column, Literal(str(condition["equals"])))
    if "not_equals" in condition:
        return Binary("!=", operator.ne, column, Literal(str(condition["not_equals"])))
    if "in" in condition or "not_in" in condition:
        negated = "not_in" in condition
        return Membership(negated, column, tuple(str(v) for v in condition["not_in" if negated else "in"]))
    if "is_empty" in condition or "not_empty" in condition:
        empty = bool(condition["is_empty"]) if "is_empty" in condition else not bool(condition["not_empty"])
        return Call(FUNCTIONS["isna" if empty else "notna"], (column,))
    if "matches" in condition:
        return Call(FUNCTIONS["matches"], (column, Literal(str(condition["matches"]))), re.compile(str(condition["matches"])))
    raise KeyError(f"unknown condition {condition}")


def evaluate_condition(condition: Any, columns: Columns) -> pd.Series:
    """A boolean row mask from a condition (see docs/mapping-language.md, ``condition``).

    >>> cols = Columns(pd.DataFrame({"SAE": ["Yes", "No", ""]}))
    >>> evaluate_condition({"column": "SAE", "in": ["Yes", "Y"]}, cols).tolist()
    [True, False, False]
    >>> evaluate_condition({"not": {"column": "SAE", "is_empty": True}}, cols).tolist()
    [True, True, False]
    >>> evaluate_condition("SAE == 'Yes' or SAE == 'No'", cols).tolist()
    [True, True, False]
    """
    if condition is None:
        return pd.Series(True, index=columns.raw.index)
    expression = condition_expression(condition)
    names = list(dict.fromkeys(expression.columns))
    for name in names:
        if not columns.has(name):
            raise KeyError(f"unknown column {name}")
    if not names:
        return evaluate_mask(ColumnText(columns), expression)
    # evaluated once per distinct combination of the values it reads, then broadcast to the rows
    keys = [f"c{i}" for i in range(len(names))]
    texts = [columns.distinct(name) for name in names]
    values = pd.DataFrame({key: text.text for key, text in zip(keys, texts)}, index=columns.raw.index)

    def mask(distinct: pd.DataFrame) -> pd.Series:
        raw = pd.DataFrame({n[4:]: distinct[k] for k, n in zip(keys, names) if n.startswith("raw.")}, index=distinct.index)
        out = {n: distinct[k] for k, n in zip(keys, names) if not n.startswith("raw.")}
        return evaluate_mask(ColumnText(Columns(raw, out)), expression)

    return per_distinct_rows(values, mask, [text.codes for text in texts])


def condition_columns(condition: Any) -> list[str]:
    """Every column a condition refers to (for load-time checks).

    >>> condition_columns({"all": [{"column": "A", "equals": 1}, {"not": {"column": "B", "is_empty": True}}]})
    ['A', 'B']
    """
    return [] if condition is None else condition_expression(condition).columns


# --- algorithms ---------------------------------------------------------------------------------

def assign(columns: Columns, params: dict[str, Any], env: MappingEnv) -> Result:
    """Copy a raw column (stripped; ``type: num`` -> number, ``upper: true`` -> upper case).

    >>> assign(Columns(pd.DataFrame({"T": [" Headache ", "", "x"]})), {"column": "T", "upper": True}, MappingEnv()).values.tolist()
    ['HEADACHE', None, 'X']
    >>> assign(Columns(pd.DataFrame({"V": ["1.5", "abc"]})), {"column": "V", "type": "num"}, MappingEnv()).reason.tolist()
    [None, "not a number 'abc' in column V"]
    """
    return Result(*per_distinct(columns.distinct(params["column"]), lambda text: _assign(text, params)))


def _assign(text: pd.Series, params: dict[str, Any]) -> tuple[pd.Series, pd.Series | None]:
    if params.get("upper"):
        text = text.str.upper()
    if params.get("type") in ("num", "int"):
        number = pd.to_numeric(text.where(text != ""), errors="coerce")
        reason = _reasons(number.isna() & (text != ""), text, "not a number '", f"' in column {params['column']}")
        if params.get("type") == "int":
            frac = number.notna() & (number % 1 != 0)
            reason[frac] = "not a whole number '" + text[frac] + f"' in column {params['column']}"
        return number.astype(float), reason
    return _none_if_empty(text), None


def hardcode(columns: Columns, params: dict[str, Any], env: MappingEnv) -> Result:
    """A constant, or a value read from study.yaml (``design: study.studyid``).

    >>> hardcode(Columns(pd.DataFrame(index=[0, 1])), {"value": "Y"}, MappingEnv()).values.tolist()
    ['Y', 'Y']
    """
    value = env.design_value(params["design"]) if "design" in params else params.get("value")
    return Result(_constant(value, columns.raw.index))


def assign_ct(columns: Columns, params: dict[str, Any], env: MappingEnv) -> Result:
    """Raw or CRF display values to submission values (study value map, then codelist and synonyms).

    >>> env = MappingEnv(ct=pd.DataFrame({"codelist_code": ["C1", "C1"], "codelist": ["SEX", "SEX"],
    ...     "codelist_name": "Sex", "extensible": "No", "term_code": ["a", "b"], "submission_value": ["F", "M"],
    ...     "synonyms": ["Female", "Male"], "nci_preferred_term": ["Female", "Male"]}))
    >>> assign_ct(Columns(pd.DataFrame({"S": ["female", "W"]})), {"column": "S", "codelist": "SEX", "values": {"W": "F"}}, env).values.tolist()
    ['F', 'F']
    """
    codelist = env.codelist(params["codelist"]) if params.get("codelist") else None

    def to_codelist(text: pd.Series) -> tuple[pd.Series, pd.Series]:
        mapped, reason = map_to_codelist(text, codelist, params.get("values"),
                                         allow_extension=bool(params.get("allow_extension")),
                                         label=f"of column {params['column']}")
        # an unknown code keeps its raw text: quarantined by default, or kept visible with on_error: flag
        return mapped.where(reason.isna(), text), _with_suffix(reason, f" in column {params['column']}")

    return Result(*per_distinct(columns.distinct(params["column"]), to_codelist))


def assign_unit(columns: Columns, params: dict[str, Any], env: MappingEnv) -> Result:
    """A raw unit spelling as the CDISC UNIT submission value (``umol/l`` -> ``umol/L``).

    >>> env = MappingEnv(units=UnitTable.from_dict({"units": {"umol/L": {"dimension": "m", "factor": 1}}, "aliases": {"µmol/L": "umol/L"}}))
    >>> assign_unit(Columns(pd.DataFrame({"U": ["µmol/L", "", "bogus"]})), {"column": "U"}, env).values.tolist()
    ['umol/L', None, None]
    """
    def normalise(text: pd.Series) -> tuple[pd.Series, pd.Series]:
        values = pd.Series([env.units.normalise(u) if u else None for u in text], index=text.index, dtype=object)
        return values, _reasons(values.isna() & (text != ""), text, "unknown unit '", f"' in column {params['column']}")

    return Result(*per_distinct(columns.distinct(params["column"]), normalise))


def iso8601(columns: Columns, params: dict[str, Any], env: MappingEnv) -> Result:
    """Raw date (and optional separate time) to ISO 8601; formats from the mapping or each row's site
    (the batch's date dialects: a batch may mix sites that write dates differently).

    >>> batch = Batch((DateDialect(("%d.%m.%Y",)),))
    >>> cols = Columns(pd.DataFrame({"D": ["05.03.2024", "UN.03.2024", "30.02.2024"]}), batch=batch)
    >>> iso8601(cols, {"column": "D"}, MappingEnv()).values.tolist()
    ['2024-03-05', '2024-03', None]
    """
    text = columns.distinct(params["column"])
    groups = columns.batch.groups()

    def parser(formats: list[str], dialect: DateDialect) -> Callable[[pd.Series], tuple[pd.Series, pd.Series]]:
        return lambda distinct: (lambda p: (p.iso, p.reason))(
            parse_dates(distinct, formats, month_names=dialect.month_names))

    per_dialect = not params.get("formats") and len(groups) > 1
    if per_dialect:
        iso = _no_reason(text.text.index)
        reason = iso.copy()
        for dialect, rows in groups:
            part_iso, part_reason = per_distinct(text.subset(rows), parser(list(dialect.formats), dialect))
            iso.iloc[rows], reason.iloc[rows] = part_iso.values, part_reason.values
    else:
        first = columns.batch.dialects[0]
        iso, reason = per_distinct(text, parser(list(params.get("formats") or first.formats), first))
        reason = reason.copy()
    if params.get("time"):
        time = columns.distinct(params["time"])
        pairs = pd.DataFrame({"date": iso, "time": time.text})
        # the date's iso text follows from its raw text (and the row's dialect): their codes tell distinct pairs
        keys = [text.codes, time.codes] + ([columns.batch.row_dialect] if per_dialect else [])
        iso, time_reason = per_distinct_rows(
            pairs, lambda p: (lambda c: (c.iso, c.reason))(combine_date_time(p["date"], p["time"])), keys)
        reason = reason.where(reason.notna(), time_reason)
    reason = _with_suffix(reason, f" in column {params['column']}")
    if params.get("precision"):
        iso = truncate_iso(iso, params["precision"])
    else:
        # a site whose export pads times (HH:MM:SS of a HH:MM field) declares time_precision: minute
        for dialect, rows in groups:
            if dialect.time_precision:
                part = iso.iloc[rows]
                has_time = part.astype("string").str.len().fillna(0) > 16
                iso.iloc[rows] = part.where(~has_time, truncate_iso(part, dialect.time_precision)).values
    return Result(iso.where(iso.notna(), None), reason)


def _resolve_unit_target(columns: Columns, target: Any, index: pd.Index) -> pd.Series:
    if isinstance(target, dict) and "by" in target:
        keys = columns.text(target["by"])
        return keys.map({str(k): v for k, v in target["units"].items()}).fillna("")
    if isinstance(target, dict) and "column" in target:
        return columns.text(target["column"])
    return pd.Series([str(target)] * len(index), index=index)


def convert_unit(columns: Columns, params: dict[str, Any], env: MappingEnv) -> Result:
    """A numeric result converted to the standard unit (factors from specs/standards/units.yaml).

    ``unit`` names the column holding the unit (or ``from`` gives one unit for all rows); ``to`` is a
    unit, ``{column: VAR}`` holding the unit per row, or ``{by: LBTESTCD, units: {...}}``;
    ``analyte`` (a variable, usually the test code) picks the molar mass for mass <-> molar units.

    >>> env = MappingEnv(units=UnitTable.from_dict({"units": {"umol/L": {"dimension": "c", "factor": 1e-6},
    ...     "mg/dL": {"dimension": "m", "factor": 0.01}, "mmol/L": {"dimension": "c", "factor": 1e-3}},
    ...     "molar_masses": {"CREAT": 113.12}}))
    >>> env.units.factor("mg/dL", "umol/L", "CREAT") is None  # dimensions 'm'/'c' are not a known pair
    True
    >>> cols = Columns(pd.DataFrame({"V": ["88.42"], "U": ["umol/L"], "T": ["CREAT"]}))
    >>> convert_unit(cols, {"value": "V", "unit": "U", "to": "mmol/L", "analyte": "T"}, env).values.round(5).tolist()
    [0.08842]
    """
    values = columns.text(params["value"])
    number = pd.to_numeric(values.where(values != ""), errors="coerce")
    units = columns.text(params["unit"]) if params.get("unit") else \
        pd.Series([str(params.get("from") or "")] * len(values), index=values.index)
    target = _resolve_unit_target(columns, params["to"], values.index)
    analyte = columns.text(params["analyte"]) if params.get("analyte") else None
    converted, reason = convert_values(number, units, target, env.units, analyte)
    converted = converted.where(target != "", number) if params.get("keep_without_target") else converted
    digits = params.get("digits")
    if isinstance(digits, dict):
        places = columns.text(digits["by"]).map({str(k): int(v) for k, v in digits["values"].items()})
        for place in places.dropna().unique():
            rows = places == place
            converted[rows] = converted[rows].round(int(place))
    elif digits is not None:
        converted = converted.round(int(digits))
    bad_number = number.isna() & (values != "")
    reason = reason.where(~bad_number, None)
    if params.get("keep_without_target"):
        reason = reason.where(target != "", None)
    reason = reason.where(reason.isna(), reason.astype(str) + f" (column {params.get('unit') or params['value']})")
    return Result(converted.astype(float), reason)


def concat(columns: Columns, params: dict[str, Any], env: MappingEnv) -> Result:
    """An identifier from parts: names of columns/variables, ``{value: literal}``, ``{column: X, pad: 3}``.

    Any empty part makes the result empty (a key is never half-built).

    >>> cols = Columns(pd.DataFrame({"SITE": ["101", "102"], "SUBJ": ["7", ""]}))
    >>> concat(cols, {"columns": [{"value": "S1"}, "SITE", {"column": "SUBJ", "pad": 3}], "sep": "-"}, MappingEnv()).values.tolist()
    ['S1-101-007', None]
    """
    index, sep = columns.raw.index, str(params.get("sep", ""))
    joined: np.ndarray | None = None
    empty = np.zeros(len(index), dtype=bool)
    for part in params["columns"]:
        if isinstance(part, dict) and ("value" in part or "design" in part):
            constant = str(part["value"]) if "value" in part else str(env.design_value(part["design"]))
            text = np.full(len(index), constant, dtype=object)
            empty |= constant == ""
        else:
            name = part["column"] if isinstance(part, dict) else part
            series = columns.text(name)
            if isinstance(part, dict) and part.get("pad"):
                width = int(part["pad"])
                series = per_distinct(columns.distinct(name), lambda t: t.where(t == "", t.str.zfill(width)))
            text = series.to_numpy(dtype=object)
            empty |= text == ""
        joined = text if joined is None else joined + sep + text
    values = pd.Series(joined if joined is not None else np.full(len(index), "", dtype=object), index=index, dtype=object)
    return Result(values.where(~empty, None))


def lookup(columns: Columns, params: dict[str, Any], env: MappingEnv) -> Result:
    """A value from another dataset matched on keys (``by: {DATASET_COLUMN: OUR_NAME}``).

    >>> env = MappingEnv(datasets={"TV": pd.DataFrame({"VISIT": ["WEEK 2"], "VISITNUM": [4.0]})})
    >>> r = lookup(Columns(pd.DataFrame({"V": ["WEEK 2", "WEEK 99"]})), {"dataset": "TV", "by": {"VISIT": "V"}, "value": "VISITNUM"}, env)
    >>> r.values.tolist(), r.reason.tolist()[1]
    ([4.0, None], "no TV record with VISIT='WEEK 99'")
    """
    table = env.dataset(params["dataset"])
    by = params["by"]
    missing = [k for k in list(by) + [params["value"]] if k not in table.columns]
    if missing:
        raise KeyError(f"dataset {params['dataset']} has no column(s) {', '.join(missing)}")

    def key(text: pd.Series) -> pd.Series:
        text = text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)  # 10.0 and 10 are the same key
        return text.str.upper() if params.get("ignore_case") else text

    names = [f"_k{i}" for i in range(len(by))]
    ref = pd.DataFrame({n: per_distinct(distinct_text(table[k]), key) for n, k in zip(names, by)})
    ref["_value"] = table[params["value"]].values
    ref = ref.drop_duplicates(subset=names, keep="first")

    def find(distinct: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        keys = pd.DataFrame({n: per_distinct(distinct[n], key) for n in names}, index=distinct.index)
        merged = keys.merge(ref, on=names, how="left")
        values = pd.Series(merged["_value"].values, index=keys.index)
        values = values.astype(object).where(values.notna(), None)
        keys.columns = list(by)
        reason = _no_reason(keys.index)
        missing = values.isna() & (keys != "").all(axis=1)
        if params.get("on_missing", "quarantine") == "quarantine" and missing.any():
            described = keys[missing].apply(lambda r: ", ".join(f"{k}='{v}'" for k, v in r.items()), axis=1)
            reason[missing] = f"no {params['dataset']} record with " + described
        return values, reason

    # looked up once per distinct combination of key texts, then broadcast to the rows
    texts = [columns.distinct(v) for v in by.values()]
    frame = pd.DataFrame({n: text.text for n, text in zip(names, texts)}, index=columns.raw.index)
    return Result(*per_distinct_rows(frame, find, [text.codes for text in texts]))


# --- derive: a small closed set of named functions -------------------------------------------------

def _derive_age_years(columns: Columns, args: dict[str, Any], env: MappingEnv) -> Result:
    """Whole years between two complete ISO dates (birth, reference)."""
    birth = pd.to_datetime(columns.text(args["birth"]).str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    ref = pd.to_datetime(columns.text(args["reference"]).str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    return Result(completed_years(birth, ref).astype(float))


def _derive_truncate_date(columns: Columns, args: dict[str, Any], env: MappingEnv) -> Result:
    """ISO date cut to a precision given literally or read from study.yaml (``precision_from``)."""
    precision = args.get("precision") or env.design_value(args["precision_from"], default="year")
    return Result(truncate_iso(_none_if_empty(columns.text(args["column"])), str(precision)))


def _derive_score_if_present(columns: Columns, args: dict[str, Any], env: MappingEnv) -> Result:
    """The item weight when the answer is one of ``present`` values, 0 when one of ``absent``."""
    answer = columns.text(args["column"]).str.upper()
    weight = pd.to_numeric(columns.text(args["weight"]), errors="coerce")
    present = answer.isin([str(v).upper() for v in args.get("present", ["PRESENT", "Y", "YES", "1"])])
    absent = answer.isin([str(v).upper() for v in args.get("absent", ["ABSENT", "N", "NO", "0"])])
    score = pd.Series(np.nan, index=answer.index).where(~present, weight).where(~absent, 0.0)
    return Result(score.astype(float), _reasons(~present & ~absent & (answer != ""), answer, "unknown code '",
                                                f"' in column {args['column']} (expected present or absent)"))


def _derive_nrind(columns: Columns, args: dict[str, Any], env: MappingEnv) -> Result:
    """LOW / NORMAL / HIGH from a numeric value, its reference range and (``text``) the result as
    written, for censored results: the verb's :func:`~pipeline.sdtm.derive_var_nrind.range_indicator`."""
    get = columns.get
    return Result(range_indicator(get(args["value"]), get(args["low"]) if args.get("low") else None,
                                  get(args["high"]) if args.get("high") else None,
                                  get(args["text"]) if args.get("text") else None))


def _derive_number_text(columns: Columns, args: dict[str, Any], env: MappingEnv) -> Result:
    """A number as text without trailing zeros (``--STRESC`` from ``--STRESN``), rounded to ``digits``."""
    value = pd.to_numeric(columns.get(args["column"]), errors="coerce")
    digits = int(args.get("digits", 6))

    def as_text(numbers: pd.Series) -> pd.Series:
        text = numbers.round(digits).map(lambda v: None if pd.isna(v) else (f"{v:.{digits}f}".rstrip("0").rstrip(".")))
        return text.where(text != "-0", "0").astype(object)

    return Result(per_distinct(value, as_text))


def _derive_first_non_empty(columns: Columns, args: dict[str, Any], env: MappingEnv) -> Result:
    """The first non-empty value among ``columns``."""
    out = _no_reason(columns.raw.index)
    for name in reversed(args["columns"]):
        text = columns.text(name)
        out = text.where(text != "", out)
    return Result(out.where(out.notna(), None))


def _derive_extract(columns: Columns, args: dict[str, Any], env: MappingEnv) -> Result:
    """The first group of a regular expression (``pattern``) matched against a column; no match -> reason."""
    def extract(text: pd.Series) -> tuple[pd.Series, pd.Series]:
        found = text.str.extract(f"^(?:{args['pattern']})$", expand=True)[0]
        reason = _reasons(found.isna() & (text != ""), text, "unexpected value '",
                          f"' in column {args['column']} (expected {args['pattern']})")
        return found.astype(object).where(found.notna(), None), reason

    return Result(*per_distinct(columns.distinct(args["column"]), extract))


def _derive_normalise_id(columns: Columns, args: dict[str, Any], env: MappingEnv) -> Result:
    """An identifier part: text after the last ``after_last`` separator, as an integer, zero-padded to ``pad``.

    ``201-0012``, ``012`` and ``12`` all become ``0012`` with ``after_last: "-"`` and ``pad: 4``.
    """
    def normalise(text: pd.Series) -> tuple[pd.Series, pd.Series]:
        sep = args.get("after_last")
        if sep:
            text = text.str.rsplit(str(sep), n=1).str[-1]
        digits = text.str.fullmatch(r"\d+").fillna(False)
        number = text.where(digits, "").str.lstrip("0").replace("", "0").where(digits, "")
        out = number.str.zfill(int(args.get("pad", 1))).where(digits, "")
        return _none_if_empty(out), _reasons(~digits & (text != ""), text, "not a number '",
                                             f"' in identifier column {args['column']}")

    return Result(*per_distinct(columns.distinct(args["column"]), normalise))


DERIVE_FUNCTIONS: dict[str, tuple[Callable[..., Result], set[str], tuple[str, ...]]] = {
    # name: (function, required args, args that name columns)
    "age_years": (_derive_age_years, {"birth", "reference"}, ("birth", "reference")),
    "truncate_date": (_derive_truncate_date, {"column"}, ("column",)),
    "score_if_present": (_derive_score_if_present, {"column", "weight"}, ("column", "weight")),
    "nrind": (_derive_nrind, {"value"}, ("value", "low", "high", "text")),
    "number_text": (_derive_number_text, {"column"}, ("column",)),
    "first_non_empty": (_derive_first_non_empty, {"columns"}, ("columns",)),
    "extract": (_derive_extract, {"column", "pattern"}, ("column",)),
    "normalise_id": (_derive_normalise_id, {"column"}, ("column",)),
}


def derive(columns: Columns, params: dict[str, Any], env: MappingEnv) -> Result:
    """Call a named function from the closed ``DERIVE_FUNCTIONS`` registry.

    >>> cols = Columns(pd.DataFrame({"B": ["1980-05-17"], "R": ["2020-05-16"]}))
    >>> derive(cols, {"function": "age_years", "birth": "B", "reference": "R"}, MappingEnv()).values.tolist()
    [39.0]
    """
    function = DERIVE_FUNCTIONS[params["function"]][0]
    return function(columns, params, env)


# --- registry -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Algorithm:
    """A registry entry: the function, its options, and which options name columns."""

    name: str
    function: Callable[[Columns, dict[str, Any], MappingEnv], Result]
    shorthand: str | None
    required: frozenset[str]
    optional: frozenset[str]
    column_params: tuple[str, ...]

    def normalise(self, node: Any, where: Where, variable: str) -> dict[str, Any]:
        """Expand the shorthand (``{assign: COL}``) and check the option names."""
        if not isinstance(node, dict) or (self.name == "hardcode" and "value" not in node and "design" not in node):
            if self.shorthand is None:
                raise where.error(f"variable {variable}: {self.name} needs options {sorted(self.required)}")
            node = {self.shorthand: node}
        params = dict(node)
        unknown = set(params) - self.required - self.optional
        if unknown:
            raise where.error(f"variable {variable}: unknown option(s) {', '.join(sorted(unknown))} for {self.name} "
                              f"(known: {', '.join(sorted(self.required | self.optional))})")
        missing = self.required - set(params)
        if self.name == "hardcode" and "design" in params:
            missing = set()
        if missing:
            raise where.error(f"variable {variable}: {self.name} needs {', '.join(sorted(missing))}")
        if self.name == "derive":
            fn = params["function"]
            if fn not in DERIVE_FUNCTIONS:
                raise where.error(f"variable {variable}: unknown derive function '{fn}' "
                                  f"(known: {', '.join(sorted(DERIVE_FUNCTIONS))})")
            need = DERIVE_FUNCTIONS[fn][1] - set(params)
            if need:
                raise where.error(f"variable {variable}: derive {fn} needs {', '.join(sorted(need))}")
            if fn == "extract":
                check_value(params["pattern"], "regex", where, f"variable {variable}: derive extract pattern")
        if self.name == "iso8601":
            check_date_formats(params.get("formats"), where)
        return params

    def referenced_columns(self, params: dict[str, Any]) -> list[str]:
        """Every column or variable name the application reads."""
        names: list[str] = []
        keys = list(self.column_params)
        if self.name == "derive":
            keys = list(DERIVE_FUNCTIONS[params["function"]][2])
        for key in keys:
            value = params.get(key)
            if value is None or (key in ("digits", "to") and not isinstance(value, dict)):
                continue  # a literal number of digits or unit names no column
            if key == "columns":
                names += [str(part["column"]) if isinstance(part, dict) else str(part) for part in value
                          if not isinstance(part, dict) or "column" in part]
            elif key == "by" and isinstance(value, dict):
                names += [str(v) for v in value.values()]
            elif key in ("digits", "to"):
                names += [str(value[k]) for k in ("by", "column") if k in value][:1]
            else:
                names.append(str(value))
        return names


def _alg(name, function, shorthand, required, optional=(), column_params=()):
    return Algorithm(name, function, shorthand, frozenset(required), frozenset(optional) | {"description"},
                     tuple(column_params))


REGISTRY: dict[str, Algorithm] = {
    a.name: a for a in [
        _alg("assign", assign, "column", {"column"}, {"upper", "type"}, ("column",)),
        _alg("hardcode", hardcode, "value", set(), {"value", "design"}),
        _alg("assign_ct", assign_ct, "column", {"column"}, {"codelist", "values", "allow_extension"}, ("column",)),
        _alg("assign_unit", assign_unit, "column", {"column"}, set(), ("column",)),
        _alg("iso8601", iso8601, "column", {"column"}, {"time", "formats", "precision"}, ("column", "time")),
        _alg("convert_unit", convert_unit, None, {"value", "to"}, {"unit", "from", "analyte", "digits", "keep_without_target"},
             ("value", "unit", "to", "analyte", "digits")),
        _alg("concat", concat, "columns", {"columns"}, {"sep"}, ("columns",)),
        _alg("lookup", lookup, None, {"dataset", "by", "value"}, {"on_missing", "ignore_case"}, ("by",)),
        _alg("derive", derive, None, {"function"},
             {"birth", "reference", "column", "precision", "precision_from", "weight", "present", "absent", "value",
              "low", "high", "text", "digits", "columns", "pattern", "after_last", "pad"}, set()),
    ]
}
