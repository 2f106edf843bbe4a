"""The one reader of spec and mapping files: safe YAML with line numbers and limits, and typed checks.

Spec files are shared between sponsors and CROs like data, so reading one must never run code,
never exhaust the machine and never end in a traceback. Every file under ``specs/`` and
``mappings/`` is read here:

- the safe loader (no Python objects, ``!!python/...`` tags refused), with libyaml when available;
- UTF-8 only: another encoding is refused naming the line of the first bad byte;
- at most :data:`MAX_SPEC_BYTES` bytes, and at most :data:`MAX_EXPANDED_NODES` nodes once every
  alias is expanded (a "billion laughs" alias bomb fails at once, naming its line);
- a key must be a plain value (not a list or a mapping), and appear once per mapping;
- every mapping and list remembers its line, every mapping the line of each key, so a check can
  say ``file:line: key: what is wrong`` (:class:`Where`, :func:`line_of`, :func:`check_value`).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.common.errors import ConfigError

MAX_SPEC_BYTES = 5_000_000
MAX_EXPANDED_NODES = 1_000_000


class MarkedDict(dict):
    """A dict that remembers the YAML line (1-based) of itself and of each key."""

    line: int = 0
    lines: dict[Any, int]


class MarkedList(list):
    """A list that remembers the YAML line (1-based) where it starts and where each item starts."""

    line: int = 0
    lines: list[int]


_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: same safety, faster


class LineLoader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """Safe YAML loader whose mappings and sequences carry line numbers.

    >>> data = yaml.load("a: 1\\nb:\\n  c: 2\\n", Loader=LineLoader)
    >>> data.lines["b"], data["b"].line
    (2, 3)
    """

    source_name = "<yaml>"


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    result = MarkedDict()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
            raise ConfigError(f"{loader.source_name}:{line}: a key must be a plain name or value, not {kind}")
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise ConfigError(f"{loader.source_name}:{line}: duplicated key '{key}'")
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _construct_sequence(loader: LineLoader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _expanded_size(root: yaml.Node, name: str) -> None:
    """Refuse a document whose alias expansion exceeds :data:`MAX_EXPANDED_NODES` nodes."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            list(node.value) if isinstance(node, yaml.SequenceNode) else []
        if children_done or not children:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_EXPANDED_NODES:
                raise ConfigError(f"{name}:{node.start_mark.line + 1}: aliases expand to more than "
                                  f"{MAX_EXPANDED_NODES:,} values; refusing (an alias bomb?)")
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


# No YAML node takes fewer than a quarter of a character (an indicator such as '-', ':' or ',' yields at most
# three: an implicit mapping, its empty key and its empty value), so a document without aliases and shorter than
# this has fewer nodes than the limit.
_ALIAS_FREE_SAFE_CHARS = MAX_EXPANDED_NODES // 4


def _may_expand_past_limit(text: str) -> bool:
    """False when the document cannot exceed :data:`MAX_EXPANDED_NODES`: no anchor ('&'), hence no alias, and
    short enough; then the walk of :func:`_expanded_size` is skipped.

    >>> _may_expand_past_limit("a: [1, 2]\\n"), _may_expand_past_limit("a: &x [1]\\nb: *x\\n")
    (False, True)
    """
    return "&" in text or len(text) >= _ALIAS_FREE_SAFE_CHARS


def load_spec(path: str | Path, text: str | None = None) -> Any:
    """Read a spec or mapping file safely (see the module docstring); errors name the file and line.

    >>> load_spec(Path("m.yaml"), text="a:\\n  - 1\\n").lines
    {'a': 1}
    >>> load_spec(Path("m.yaml"), text="a: [1\\n")
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: m.yaml:2: invalid YAML: did not find expected ',' or ']'
    >>> load_spec(Path("m.yaml"), text="? [a, b]\\n: 1\\n")
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: m.yaml:1: a key must be a plain name or value, not a list
    """
    path = Path(path)
    if text is None:
        text = _read_text(path)
    loader = LineLoader(text)
    loader.source_name = str(path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _may_expand_past_limit(text):
            _expanded_size(node, str(path))
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    finally:
        loader.dispose()


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes, more than a spec file may hold ({MAX_SPEC_BYTES:,})")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); "
                          "save the file as UTF-8") from None


def line_of(node: Any, key: Any = None, default: int = 0) -> int:
    """The line of ``node`` (or of ``key`` inside it: a mapping key or a list index) when known.

    >>> line_of(load_spec(Path("m.yaml"), text="a: 1\\nb: [x, y]\\n"), "b")
    2
    """
    if key is not None and isinstance(node, MarkedDict):
        return node.lines.get(key, node.line)
    if isinstance(key, int) and isinstance(node, MarkedList) and 0 <= key < len(node.lines):
        return node.lines[key]
    return getattr(node, "line", default) or default


def line_at(node: Any, *path: Any, default: int = 0) -> int:
    """The line of the key or list item at ``path`` below ``node`` (``default`` when it is not there).

    >>> spec = load_spec(Path("m.yaml"), text="a:\\n  b: [x, y]\\n  c:\\n    - 1\\n    - 2\\n")
    >>> line_at(spec, "a", "b"), line_at(spec, "a", "c", 1), line_at(spec, "a", "z", default=9)
    (2, 5, 9)
    """
    parent = None
    for key in path:
        if not (key in node if isinstance(node, dict) else isinstance(node, list) and isinstance(key, int)
                and 0 <= key < len(node)):
            return default
        parent, node = node, node[key]
    return line_of(parent, path[-1], default) if path else line_of(node, default=default)


@dataclass(frozen=True)
class Where:
    """A place in a spec or mapping file, for messages: ``mappings/x/ae.yaml:12``."""

    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self}: {message}")

    def at(self, node: Any, key: Any = None) -> "Where":
        """The place of ``key`` inside ``node`` (this place when unknown)."""
        return Where(self.path, line_of(node, key, self.line))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _accepted_by(parse: Any, refusal: type[Exception]) -> Any:
    """A test: the value is text that ``parse`` accepts (``refusal`` is how it refuses)."""
    def test(value: Any) -> bool:
        try:
            return isinstance(value, str) and parse(value) is not None
        except refusal:
            return False
    return test


# kind -> (test, what the message says is expected)
KINDS: dict[str, tuple[Any, str]] = {
    "text": (lambda v: isinstance(v, str), "text"),
    "name": (lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) is not None, "a variable or column name"),
    "names": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
              "a list of names, e.g. [USUBJID, AESTDTC]"),
    "count": (lambda v: _is_int(v) and v >= 0, "a whole number (0 or more)"),
    "number": (lambda v: (_is_int(v) or isinstance(v, float)) and not isinstance(v, bool), "a number"),
    "positive": (lambda v: (_is_int(v) or isinstance(v, float)) and not isinstance(v, bool) and v > 0, "a number above 0"),
    "flag": (lambda v: isinstance(v, bool), "true or false"),
    "char": (lambda v: isinstance(v, str) and (len(v) == 1 or v in ("\\t", "tab")), "one character"),
    "regex": (_accepted_by(re.compile, re.error), "a valid regular expression"),
    "encoding": (_accepted_by(codecs.lookup, LookupError), "a known text encoding such as utf-8 or latin-1"),
    "mapping": (lambda v: isinstance(v, dict), "a mapping (key: value)"),
    "sheet": (lambda v: isinstance(v, str) or (_is_int(v) and v >= 0), "a sheet name or a 0-based sheet number"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "condition": (lambda v: isinstance(v, (str, dict)), "an expression or a condition mapping such as {column: X, equals: Y}"),
}


def check_value(value: Any, kind: str, where: Where, key: str) -> Any:
    """``value`` when it is of ``kind`` (see :data:`KINDS`), else a ConfigError naming file, line and key.

    >>> check_value(2, "count", Where(Path("sites.yaml"), 4), "reader.skip_rows")
    2
    >>> check_value("two", "count", Where(Path("sites.yaml"), 4), "reader.skip_rows")
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: sites.yaml:4: reader.skip_rows: expected a whole number (0 or more), got 'two'
    >>> check_value("(", "regex", Where(Path("dm.yaml"), 9), "pattern")
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: dm.yaml:9: pattern: expected a valid regular expression, got '(' (missing ), unterminated subpattern at position 0)
    """
    test, expected = KINDS[kind]
    if test(value):
        return value
    detail = ""
    if kind == "regex" and isinstance(value, str):
        try:
            re.compile(value)
        except re.error as exc:
            detail = f" ({exc})"
    shown = repr(value) if not isinstance(value, (dict, list)) or len(repr(value)) < 80 else f"a {type(value).__name__}"
    raise where.error(f"{key}: expected {expected}, got {shown}{detail}")


def check_keys(node: Any, schema: dict[str, str], where: Where, what: str, required: tuple[str, ...] = ()) -> None:
    """Check a mapping against ``{key: kind}``: unknown keys, missing required keys and each value's kind.

    >>> check_keys({"order": 5}, {"order": "names"}, Where(Path("ae.yaml"), 7), "derivations.seq")
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: ae.yaml:7: derivations.seq.order: expected a list of names, e.g. [USUBJID, AESTDTC], got 5
    """
    if not isinstance(node, dict):
        raise where.error(f"{what}: expected a mapping with keys {', '.join(schema)}, got {node!r}")
    for key in node:
        if key not in schema:
            raise where.at(node, key).error(f"{what}: unknown key '{key}' (known: {', '.join(sorted(schema))})")
    for key in required:
        if key not in node:
            raise where.error(f"{what}: needs '{key}'")
    for key, kind in schema.items():
        if key in node and node[key] is not None:
            check_value(node[key], kind, where.at(node, key), f"{what}.{key}")


@dataclass
class SpecProblems:
    """Collects the problems of one run's spec files so they are reported together, not one per run.

    Each checked section runs inside :meth:`check`; a ConfigError there is recorded and checking
    goes on with the next section. :meth:`raise_if_any` ends the load with one ConfigError whose
    ``problems`` are every ``file:line: key: problem`` line, in the order found.

    >>> problems = SpecProblems()
    >>> with problems.check():
    ...     check_value("two", "count", Where(Path("sites.yaml"), 4), "reader.skip_rows")
    >>> with problems.check():
    ...     check_value("(", "regex", Where(Path("dm.yaml"), 9), "pattern")
    >>> len(problems.lines)
    2
    >>> problems.raise_if_any()
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: 2 problems in the spec files:
    sites.yaml:4: reader.skip_rows: expected a whole number (0 or more), got 'two'
    dm.yaml:9: pattern: expected a valid regular expression, got '(' (missing ), unterminated subpattern at position 0)
    """

    lines: list[str] = field(default_factory=list)

    @contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except ConfigError as exc:
            self.lines.extend(line for line in exc.problems if line not in self.lines)

    def raise_if_any(self) -> None:
        if len(self.lines) == 1:
            raise ConfigError(self.lines[0])
        if self.lines:
            raise ConfigError(f"{len(self.lines)} problems in the spec files:\n" + "\n".join(self.lines), self.lines)
