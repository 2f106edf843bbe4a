"""The one expression language of every spec: row filters, conditions and computed values.

Spec and mapping files are data, so their expressions are never handed to ``eval``, pandas
``DataFrame.eval`` or ``query``. Text is parsed with Python's ``ast`` parser (which only builds a
tree and runs nothing), then every node is checked against a closed grammar and copied into this
module's own node types, which are evaluated column-wise by the code below. Anything else (an
attribute, a subscript, a lambda, an unknown function, a name that is not a variable) is refused
with a message that names the expression and the offending part.

The grammar, by example (``docs/expression-language.md`` has the full reference):

- variables and literals: ``AGE``, ``'WEEK 24'``, ``65``, ``2.5``, ``True``, ``None``, ``['A', 'B']``
- arithmetic: ``WEIGHTBL / (HEIGHTBL / 100) ** 2``, ``-AVAL``, ``AVAL - BASE``
- comparison: ``==  !=  <  <=  >  >=``, ``X in ['A', 'B']``, ``X not in [...]``
- logic: ``and``, ``or``, ``not``, parentheses
- functions: ``notna(X)``, ``isna(X)``, ``coalesce(X, Y, ...)``, ``if_else(cond, X, Y)``,
  ``startswith(X, 'SSLD')``, ``matches(X, regex)`` (the whole value), ``extract(X, regex)`` (the first
  group of a whole-value match), ``number(X)``, ``days(X)`` (a date difference in days), ``log``,
  ``exp``, ``sqrt``, ``abs``.

Missing values follow pandas column arithmetic: a comparison with a missing value is false, except
``!=`` which is true; a filter keeps only rows where the condition is true.

>>> frame = pd.DataFrame({"PARAMCD": ["UPCR", "EGFR", None], "AVAL": [1.5, None, 3.0]})
>>> evaluate_mask(frame, "PARAMCD == 'UPCR' or AVAL > 2").tolist()
[True, False, True]
>>> evaluate(frame, "coalesce(AVAL, 0) * 2").tolist()
[3.0, 0.0, 6.0]
>>> parse("AVAL.notna()")
Traceback (most recent call last):
...
pipeline.common.expressions.ExpressionError: expression 'AVAL.notna()': '.notna' is not part of the expression language; write notna(AVAL)
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError

MAX_LENGTH = 4000  # characters; a spec expression is a line, not a program
MAX_NODES = 500


class ExpressionError(ConfigError):
    """An expression cannot be parsed, uses something outside the language, or cannot be evaluated."""


# --- the closed grammar ----------------------------------------------------------------------------

_ARITHMETIC: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub), ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv), ast.Pow: ("**", operator.pow),
}
_COMPARISON: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne), ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge),
}
_CONSTANT_NAMES = {"True": True, "False": False, "None": None}


def _full_regex(pattern: Any, where: str) -> re.Pattern:
    if not isinstance(pattern, str):
        raise ExpressionError(f"{where}: a regular expression must be a quoted string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ExpressionError(f"{where}: invalid regular expression {pattern!r}: {exc}") from None


def _per_text_value(values: pd.Series, function: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``function(values as text)``; for a column of text it is computed once per distinct value and
    spread back to the rows by the factorisation codes (a text column repeats a few values many times),
    which gives the same values, dtype and index as computing it on every row.

    >>> values = pd.Series(["A", None, "A", " "], index=[3, 4, 5, 6])
    >>> _per_text_value(values, lambda text: text.str.strip().eq("")).tolist()
    [False, <NA>, False, True]
    """
    if values.dtype != object and not isinstance(values.dtype, pd.StringDtype) \
            or pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return function(values.astype("string"))  # mixed objects: 1 and 1.0 factorise together, their text does not
    codes, distinct = pd.factorize(values)
    per_value = function(pd.Series([*distinct, pd.NA], dtype="string", name=values.name))  # the last one: missing
    return per_value.take(np.where(codes < 0, len(distinct), codes)).set_axis(values.index)


def _is_missing(values: Any) -> Any:
    if isinstance(values, pd.Series):
        missing = values.isna()
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            missing |= _per_text_value(values, lambda text: text.str.strip().eq("").fillna(False))
        return missing
    return values is None or (isinstance(values, float) and np.isnan(values)) or (isinstance(values, str) and not values.strip())


def _text(values: Any) -> pd.Series:
    return values.astype("string") if isinstance(values, pd.Series) else pd.Series([values], dtype="string")


def _per_text(values: Any, function: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``function(_text(values))``, per distinct value for a column (:func:`_per_text_value`)."""
    return _per_text_value(values, function) if isinstance(values, pd.Series) else function(_text(values))


def _coalesce(*values: Any) -> Any:
    result = values[0]
    for value in values[1:]:
        result = result.fillna(value) if isinstance(result, pd.Series) else (value if _is_missing(result) else result)
    return result


def _if_else(condition: Any, when_true: Any, when_false: Any) -> Any:
    if not isinstance(condition, pd.Series):
        return when_true if bool(condition) else when_false
    mask = condition.astype("boolean").fillna(False).astype(bool)
    if isinstance(when_true, pd.Series):
        return when_true.where(mask, when_false)
    return pd.Series(when_true, index=mask.index).where(mask, when_false)


def _days(values: Any) -> Any:
    if isinstance(values, pd.Series) and pd.api.types.is_timedelta64_dtype(values):
        return values.dt.days
    if isinstance(values, pd.Timedelta):
        return values.days
    raise TypeError("days() needs a difference of two dates, e.g. days(ADT - TRTSDT)")


def _numeric(function: Callable) -> Callable:
    def apply(values: Any) -> Any:
        if isinstance(values, pd.Series):
            return function(pd.to_numeric(values, errors="raise").astype(float))
        return function(float(values))
    return apply


@dataclass(frozen=True)
class Function:
    """One function of the language: arity bounds and, per argument, whether it must be a literal regex."""

    name: str
    implementation: Callable[..., Any]
    min_args: int
    max_args: int | None
    regex_arg: int | None = None


def _startswith(values: Any, prefix: Any) -> Any:
    return _per_text(values, lambda text: text.str.startswith(str(prefix)).fillna(False).astype(bool))


def _matches(values: Any, pattern: re.Pattern) -> Any:
    return _per_text(values, lambda text: text.str.fullmatch(pattern).fillna(False).astype(bool))


def _extract(values: Any, pattern: re.Pattern) -> Any:
    if pattern.groups < 1:
        raise TypeError(f"extract() needs a regular expression with a group, got {pattern.pattern!r}")

    def first_group(text: pd.Series) -> pd.Series:
        matched = text.str.fullmatch(pattern).fillna(False).astype(bool)
        return text.str.extract(pattern, expand=True)[0].where(matched)
    return _per_text(values, first_group)


def _number(values: Any) -> Any:
    if isinstance(values, pd.Series):
        return pd.to_numeric(values, errors="coerce").astype("float64")
    try:
        return float(values)
    except (TypeError, ValueError):
        return np.nan


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("notna", lambda v: ~_is_missing(v), 1, 1),
    Function("isna", _is_missing, 1, 1),
    Function("coalesce", _coalesce, 2, None),
    Function("if_else", _if_else, 3, 3),
    Function("startswith", _startswith, 2, 2),
    Function("matches", _matches, 2, 2, regex_arg=1),
    Function("extract", _extract, 2, 2, regex_arg=1),
    Function("number", _number, 1, 1),
    Function("days", _days, 1, 1),
    Function("log", _numeric(np.log), 1, 1),
    Function("exp", _numeric(np.exp), 1, 1),
    Function("sqrt", _numeric(np.sqrt), 1, 1),
    Function("abs", _numeric(np.abs), 1, 1),
)}
# pandas spellings users bring, and what to write instead
_PANDAS_HINTS = {"notna": "notna({0})", "notnull": "notna({0})", "isna": "isna({0})", "isnull": "isna({0})",
                 "fillna": "coalesce({0}, ...)", "where": "if_else(condition, {0}, ...)",
                 "startswith": "startswith({0}, ...)", "match": "matches({0}, ...)", "fullmatch": "matches({0}, ...)",
                 "extract": "extract({0}, ...)", "days": "days({0})", "astype": "number({0})", "str": "a function",
                 "dt": "days(...)", "isin": "{0} in [...]"}


# --- variables -------------------------------------------------------------------------------

class Variables:
    """Where an expression finds its variables: a data frame's columns, or (for the mapping
    stage) the raw and mapped columns of a batch as text. ``index`` is the rows' index."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.index = frame.index

    def column(self, name: str) -> pd.Series:
        if name not in self.frame.columns:
            have = ", ".join(map(str, list(self.frame.columns)[:40]))
            raise KeyError(f"unknown variable {name} (has: {have})")
        return self.frame[name]


def _variables(frame: pd.DataFrame | Variables) -> Variables:
    return frame if isinstance(frame, Variables) else Variables(frame)


# --- nodes -------------------------------------------------------------------------------------

class Node:
    """A checked expression node; ``evaluate`` works on whole columns of ``frame`` (a :class:`Variables`)."""

    def evaluate(self, frame: Variables) -> Any:
        raise NotImplementedError

    def columns(self) -> list[str]:
        """Variables the node reads, in order: those of its child nodes (fields holding a node or nodes)."""
        found: list[str] = []
        for field in fields(self):  # type: ignore[arg-type]  # every node type is a dataclass
            value = getattr(self, field.name)
            for child in value if isinstance(value, tuple) else (value,):
                if isinstance(child, Node):
                    found += child.columns()
        return found


@dataclass(frozen=True)
class Literal(Node):
    value: Any

    def evaluate(self, frame: Variables) -> Any:
        return list(self.value) if isinstance(self.value, tuple) else self.value


@dataclass(frozen=True)
class Column(Node):
    name: str

    def evaluate(self, frame: Variables) -> Any:
        return frame.column(self.name)

    def columns(self) -> list[str]:
        return [self.name]


@dataclass(frozen=True)
class Unary(Node):
    symbol: str
    operand: Node

    def evaluate(self, frame: Variables) -> Any:
        value = self.operand.evaluate(frame)
        if self.symbol == "not":
            return ~_as_mask(value, frame) if isinstance(value, pd.Series) else not value
        return -value if self.symbol == "-" else +value


@dataclass(frozen=True)
class Binary(Node):
    symbol: str
    function: Callable[[Any, Any], Any]
    left: Node
    right: Node

    def evaluate(self, frame: Variables) -> Any:
        return self.function(self.left.evaluate(frame), self.right.evaluate(frame))


@dataclass(frozen=True)
class Membership(Node):
    negated: bool
    operand: Node
    options: tuple

    def evaluate(self, frame: Variables) -> Any:
        value = self.operand.evaluate(frame)
        inside = value.isin(list(self.options)) if isinstance(value, pd.Series) else value in self.options
        return ~inside if self.negated else inside


@dataclass(frozen=True)
class Logical(Node):
    symbol: str  # "and" | "or"
    operands: tuple[Node, ...]

    def evaluate(self, frame: Variables) -> Any:
        values = [operand.evaluate(frame) for operand in self.operands] or [self.symbol == "and"]
        combine = operator.and_ if self.symbol == "and" else operator.or_
        result = values[0]
        for value in values[1:]:
            if isinstance(result, pd.Series) or isinstance(value, pd.Series):
                result = combine(_as_mask(result, frame), _as_mask(value, frame))
            else:
                result = combine(bool(result), bool(value))
        return result


@dataclass(frozen=True)
class Call(Node):
    function: Function
    arguments: tuple[Node, ...]
    regex: re.Pattern | None = None

    def evaluate(self, frame: Variables) -> Any:
        values = [a.evaluate(frame) for a in self.arguments]
        if self.function.regex_arg is not None:
            values[self.function.regex_arg] = self.regex
        return self.function.implementation(*values)


def _as_mask(value: Any, frame: Variables) -> pd.Series:
    if isinstance(value, pd.Series):
        return value if value.dtype == bool else value.astype("boolean").fillna(False).astype(bool)
    return pd.Series(bool(value), index=frame.index)


# --- parsing -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression: its text, its tree and the variables it reads."""

    text: str
    root: Node

    @property
    def columns(self) -> list[str]:
        """Variables the expression reads, in order of first use."""
        return list(dict.fromkeys(self.root.columns()))

    def evaluate(self, frame: pd.DataFrame | Variables) -> Any:
        try:
            return self.root.evaluate(_variables(frame))
        except ExpressionError:
            raise
        except KeyError as exc:
            raise ExpressionError(f"expression {self.text!r}: {exc.args[0]}") from None
        except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise ExpressionError(f"expression {self.text!r} cannot be evaluated: {type(exc).__name__}: {exc}") from None


def parse(text: str) -> Expression:
    """Parse and check ``text``; raise ``ExpressionError`` naming the expression and the problem.

    >>> parse("AGE >= 65 and SEX in ['F', 'M']").columns
    ['AGE', 'SEX']
    >>> parse("AEACN == ")
    Traceback (most recent call last):
    ...
    pipeline.common.expressions.ExpressionError: expression 'AEACN == ': incomplete or invalid syntax (invalid syntax)
    >>> parse("open('/etc/passwd').read()")
    Traceback (most recent call last):
    ...
    pipeline.common.expressions.ExpressionError: expression "open('/etc/passwd').read()": '.read' is not part of the expression language
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expression {text!r}: must be text, got {type(text).__name__}")
    return _parse_cached(text)


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Expression:
    where = f"expression {text!r}"
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression of {len(text)} characters: longer than the limit of {MAX_LENGTH}")
    if not text.strip():
        raise ExpressionError(f"{where}: empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        at = f" at character {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"{where}: incomplete or invalid syntax ({exc.msg}){at}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"{where}: too deeply nested or not text") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"{where}: more than {MAX_NODES} parts; split it into steps")
    return Expression(text, _convert(tree.body, where))


def _convert(node: ast.AST, where: str) -> Node:
    if isinstance(node, ast.Constant):
        if node.value is None or isinstance(node.value, (bool, int, float, str)):
            return Literal(node.value)
        raise ExpressionError(f"{where}: literal {node.value!r} is not a number, text, True, False or None")
    if isinstance(node, ast.Name):
        if node.id in _CONSTANT_NAMES:
            return Literal(_CONSTANT_NAMES[node.id])
        if node.id in FUNCTIONS:
            raise ExpressionError(f"{where}: {node.id} is a function; call it as {node.id}(...)")
        return Column(node.id)
    if isinstance(node, (ast.List, ast.Tuple)):
        return Literal(tuple(_literal(element, where) for element in node.elts))
    if isinstance(node, ast.UnaryOp):
        symbols = {ast.Not: "not", ast.USub: "-", ast.UAdd: "+"}
        if type(node.op) not in symbols:
            raise ExpressionError(f"{where}: operator {type(node.op).__name__} is not part of the expression language")
        operand = _convert(node.operand, where)
        if isinstance(operand, Literal) and isinstance(operand.value, (int, float)) and not isinstance(operand.value, bool) \
                and symbols[type(node.op)] != "not":
            return Literal(-operand.value if isinstance(node.op, ast.USub) else operand.value)
        return Unary(symbols[type(node.op)], operand)
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITHMETIC:
            raise ExpressionError(f"{where}: operator {type(node.op).__name__} is not part of the expression language "
                                  "(use + - * / **)")
        symbol, function = _ARITHMETIC[type(node.op)]
        return Binary(symbol, function, _convert(node.left, where), _convert(node.right, where))
    if isinstance(node, ast.BoolOp):
        return Logical("and" if isinstance(node.op, ast.And) else "or", tuple(_convert(v, where) for v in node.values))
    if isinstance(node, ast.Compare):
        return _compare(node, where)
    if isinstance(node, ast.Call):
        return _call(node, where)
    if isinstance(node, ast.Attribute):
        owner = node.value.id if isinstance(node.value, ast.Name) else "..."
        hint = _PANDAS_HINTS.get(node.attr)
        base = f"{where}: '.{node.attr}' is not part of the expression language"
        raise ExpressionError(base + (f"; write {hint.format(owner)}" if hint else ""))
    raise ExpressionError(f"{where}: {type(node).__name__} is not part of the expression language")


def _literal(node: ast.AST, where: str) -> Any:
    converted = _convert(node, where)
    if not isinstance(converted, Literal) or isinstance(converted.value, tuple):
        raise ExpressionError(f"{where}: a list may hold only numbers, text, True, False or None")
    return converted.value


def _compare(node: ast.Compare, where: str) -> Node:
    parts: list[Node] = []
    left = _convert(node.left, where)
    for op, right_node in zip(node.ops, node.comparators):
        if isinstance(op, (ast.In, ast.NotIn)):
            options = _convert(right_node, where)
            if not isinstance(options, Literal) or not isinstance(options.value, tuple):
                raise ExpressionError(f"{where}: 'in' needs a list of values, e.g. X in ['A', 'B']")
            parts.append(Membership(isinstance(op, ast.NotIn), left, options.value))
            left = options
            continue
        if type(op) not in _COMPARISON:
            raise ExpressionError(f"{where}: comparison {type(op).__name__} is not part of the expression language")
        right = _convert(right_node, where)
        symbol, function = _COMPARISON[type(op)]
        parts.append(Binary(symbol, function, left, right))
        left = right
    return parts[0] if len(parts) == 1 else Logical("and", tuple(parts))


def _call(node: ast.Call, where: str) -> Node:
    if not isinstance(node.func, ast.Name):
        return _convert(node.func, where)  # a method call: refused with a hint by the attribute branch
    function = FUNCTIONS.get(node.func.id)
    if function is None:
        raise ExpressionError(f"{where}: unknown function {node.func.id}() (known: {', '.join(sorted(FUNCTIONS))})")
    if node.keywords:
        raise ExpressionError(f"{where}: {function.name}() takes no named arguments")
    count = len(node.args)
    if count < function.min_args or (function.max_args is not None and count > function.max_args):
        wanted = str(function.min_args) if function.min_args == function.max_args else \
            f"{function.min_args} or more" if function.max_args is None else f"{function.min_args}-{function.max_args}"
        raise ExpressionError(f"{where}: {function.name}() takes {wanted} argument(s), got {count}")
    arguments = tuple(_convert(a, where) for a in node.args)
    regex = None
    if function.regex_arg is not None:
        pattern = arguments[function.regex_arg]
        regex = _full_regex(pattern.value if isinstance(pattern, Literal) else None, f"{where}: {function.name}()")
    return Call(function, arguments, regex)


# --- evaluation entry points -------------------------------------------------------------------

def evaluate(frame: pd.DataFrame | Variables, expression: str | Expression) -> pd.Series:
    """The value of ``expression`` for every row of ``frame`` (a scalar result is repeated).

    >>> evaluate(pd.DataFrame({"A": [1, 2]}), "A * 10").tolist()
    [10, 20]
    """
    parsed = parse(expression) if isinstance(expression, str) else expression
    variables = _variables(frame)
    value = parsed.evaluate(variables)
    if isinstance(value, pd.Series):
        return value
    return pd.Series([value] * len(variables.index), index=variables.index,
                     dtype=object if isinstance(value, str) or value is None else None)


def evaluate_mask(frame: pd.DataFrame | Variables, expression: str | Expression) -> pd.Series:
    """A true/false Series, one per row of ``frame``; a missing result counts as false.

    >>> evaluate_mask(pd.DataFrame({"X": ["A", None]}), "notna(X)").tolist()
    [True, False]
    """
    parsed = parse(expression) if isinstance(expression, str) else expression
    variables = _variables(frame)
    if len(variables.index) == 0:
        return pd.Series(False, index=variables.index, dtype=bool)
    value = parsed.evaluate(variables)
    if not isinstance(value, (pd.Series, bool, np.bool_)):
        raise ExpressionError(f"expression {parsed.text!r} does not give true/false values")
    try:
        return _as_mask(value, variables)
    except (TypeError, ValueError):
        raise ExpressionError(f"expression {parsed.text!r} does not give true/false values") from None


# --- the mapping spelling of a filter ----------------------------------------------------------

OPERATORS = ("eq", "ne", "in", "notin", "notnull", "isnull")


def _condition_node(variable: str, condition: Any, where_name: str) -> Node:
    column = Column(variable)
    if isinstance(condition, Mapping):
        if len(condition) != 1 or next(iter(condition)) not in OPERATORS:
            raise ConfigError(f"{where_name}: filter on {variable} must be a value, a list or one of "
                              f"{{{', '.join(OPERATORS)}}}: got {dict(condition)}")
        op, value = next(iter(condition.items()))
        present = Call(FUNCTIONS["notna"], (column,))  # blank text counts as missing
        if op == "eq":
            return Binary("==", operator.eq, column, Literal(value))
        if op == "ne":
            return Logical("and", (Binary("!=", operator.ne, column, Literal(value)), present))
        if op in ("in", "notin"):
            inside = Membership(op == "notin", column, tuple(value))
            return Logical("and", (inside, present)) if op == "notin" else inside
        wants_present = bool(value) if op == "notnull" else not bool(value)
        return present if wants_present else Call(FUNCTIONS["isna"], (column,))
    if isinstance(condition, (list, tuple)):
        return Membership(False, column, tuple(condition))
    return Binary("==", operator.eq, column, Literal(condition))


def where_expression(where: Mapping[str, Any] | str, where_name: str = "where") -> Expression:
    """The expression a filter stands for: expression text, or the mapping spelling of shell and
    expectation filters ``{VARIABLE: value | [values] | {op: value}}`` (every condition must hold;
    ``op`` one of :data:`OPERATORS`) compiled into the same tree.

    >>> where_expression({"AESER": "Y", "AESEV": {"ne": "MILD"}}).columns
    ['AESER', 'AESEV']
    """
    if isinstance(where, str):
        try:
            return parse(where)
        except ExpressionError as exc:
            raise ConfigError(f"{where_name}: {exc}") from None
    if not isinstance(where, Mapping):
        raise ConfigError(f"{where_name}: 'where' must be an expression or a mapping of variable to value, got {where!r}")
    parts = tuple(_condition_node(str(variable), condition, where_name) for variable, condition in where.items())
    return Expression(repr(dict(where)), parts[0] if len(parts) == 1 else Logical("and", parts))
