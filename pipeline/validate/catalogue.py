"""Conformance rules as data: ``specs/standards/conformance-rules.yaml`` read by one reader, run by a few kinds.

One function per kind (kinds and parameters: ``docs/validation.md``); every rule records, per dataset in its
scope, whether it ran or why it was skipped (the ``rules.csv`` status columns).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.dates import iso_date
from pipeline.common.expressions import FUNCTIONS, Binary, Call, Column, Expression, ExpressionError, Literal, \
    Logical, Membership, Node, evaluate_mask, parse
from pipeline.common.specfile import Where, check_keys, check_value, load_spec
from pipeline.standards import standards_home
from pipeline.standards.tables import load_standard_datasets
from pipeline.validate.conformance_base import _dataset_finding, _repeated, _row_findings
from pipeline.validate.findings import concat_findings
from pipeline.validate.frames import TEXT_DTYPE, display_text, distinct_rows, is_in, per_distinct
from pipeline.validate.rules import Rule, cite

CATALOGUE_PATH = standards_home() / "conformance-rules.yaml"
CLASSES = ("INTERVENTIONS", "EVENTS", "FINDINGS", "FINDINGS ABOUT", "SPECIAL PURPOSE", "TRIAL DESIGN",
           "RELATIONSHIP", "STUDY REFERENCE")
ENTRY_KEYS = {
    "id": "text", "core": "text", "also": "names", "kind": "text", "title": "text", "description": "text",
    "message": "text", "severity": "text", "domains": "names", "classes": "names", "exclude": "names",
    "fail_when": "text", "optional": "names", "join": "names", "variable": "text", "variables": "names",
    "present": "names", "absent": "names", "when": "text", "reference": "text", "earlier": "text",
    "later": "text", "source": "text",
}
KIND_NEEDS = {
    "record": ("fail_when",), "variable_presence": ("present",), "unique": ("variables",),
    "one_to_one": ("variables",), "in_reference": ("variable", "reference"), "date_order": ("earlier", "later"),
}
KINDS = tuple(KIND_NEEDS)


@dataclass(frozen=True)
class Entry:
    """One catalogue rule as written in the file (``where`` is its place, for messages)."""

    id: str
    core: str
    kind: str
    message: str
    severity: str
    params: dict[str, Any]
    where: str
    check_source = "conformance"   # what its findings say they come from

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass
class Outcome:
    """What one rule did on one run: datasets checked, and why others in or near its scope were skipped.

    >>> o = Outcome()
    >>> o.variable_absent("AE", "AE", ["AETPT"]); o.variable_absent("CM", "CM", ["CMTPT"])
    >>> o.reason()
    'no --TPT in AE, CM'
    """

    checked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    absent: dict[str, list[str]] = field(default_factory=dict)

    def variable_absent(self, name: str, domain: str, missing: list[str]) -> None:
        generic = ", ".join("--" + v[len(domain):] if domain and v.startswith(domain) and len(v) > len(domain)
                            else v for v in missing)
        self.absent.setdefault(generic, []).append(name)

    def reason(self) -> str:
        """Why the rule was skipped where it was: one clause per cause, datasets grouped."""
        clauses = list(dict.fromkeys(self.skipped))
        clauses += [f"no {variables} in {', '.join(names)}" for variables, names in self.absent.items()]
        return "; ".join(clauses)


def citation(entry: Entry) -> str:
    """The rule's citation: CDISC conformance rule or FDA Business Rule, its other ids and the CORE id.

    >>> citation(Entry("FB4001", "CORE-000310", "record", "m", "error", {}, "x"))
    'FDA Business Rule FB4001 (CORE-000310; cdisc-org/cdisc-rules-engine resources/cache/rules.pkl)'
    """
    kind = "FDA Business Rule" if entry.id.startswith("FB") else "CDISC SDTM conformance rule"
    return cite(" / ".join([entry.id, *(entry.get("also") or [])]), entry.core, kind)


def read_catalogue(path: Path = CATALOGUE_PATH) -> list[Entry]:
    """Every rule of the catalogue, checked: known keys and kinds, the kind's parameters, valid
    expressions, unique ids. A problem is reported as ``file:line: key: problem``.

    >>> entries = read_catalogue()
    >>> len(entries) >= 100, all(e.core.startswith("CORE-") for e in entries)
    (True, True)
    """
    spec = load_spec(path)
    base = Where(path, 1)
    if not isinstance(spec, dict) or not isinstance(spec.get("rules"), list):
        raise base.error("rules: expected a list of rules")
    entries, seen = [], {}
    for index, node in enumerate(spec["rules"]):
        where = base.at(spec["rules"], index)
        check_keys(node, ENTRY_KEYS, where, f"rules[{index}]", required=("id", "core", "kind", "message", "severity"))
        kind = node["kind"]
        if kind not in KINDS:
            raise where.at(node, "kind").error(f"kind: '{kind}' is not one of {', '.join(KINDS)}")
        for need in KIND_NEEDS[kind]:
            if need not in node:
                raise where.error(f"rules[{index}] ({node['id']}): kind {kind} needs '{need}'")
        if node["severity"] not in ("error", "warning", "notice"):
            raise where.at(node, "severity").error(f"severity: '{node['severity']}' is not error, warning or notice")
        if not re.fullmatch(r"CORE-\d{6}", node["core"]):
            raise where.at(node, "core").error(f"core: '{node['core']}' is not a CORE id such as CORE-000123")
        for key in ("fail_when", "when"):
            if key in node:
                try:
                    parse(node[key].replace("--", "XX"))
                except ExpressionError as exc:
                    raise where.at(node, key).error(f"{key}: {exc}") from None
        for cls in node.get("classes") or []:
            check_value(cls, "text", where, "classes")
            if cls not in CLASSES:
                raise where.at(node, "classes").error(f"classes: '{cls}' is not one of {', '.join(CLASSES)}")
        if node["id"] in seen:
            raise where.at(node, "id").error(f"id: {node['id']} is already the rule at line {seen[node['id']]}")
        seen[node["id"]] = where.line
        params = {k: v for k, v in node.items() if k not in ("id", "core", "kind", "message", "severity")}
        entries.append(Entry(node["id"], node["core"], kind, node["message"], node["severity"], params, str(where)))
    return entries


@lru_cache(maxsize=1)
def ig_classes() -> dict[str, str]:
    """SDTMIG 3.4 dataset class by domain (``EVENTS``, ``FINDINGS``, ...), from specs/standards.

    >>> ig_classes()["AE"], ig_classes()["DM"]
    ('EVENTS', 'SPECIAL PURPOSE')
    """
    table = load_standard_datasets()
    return dict(zip(table.index, table["class"].str.upper()))


def dataset_class(name: str, domain: str) -> str:
    """SDTMIG class of a dataset: SUPP-- and RELREC are RELATIONSHIP, others by their domain.

    >>> dataset_class("SUPPAE", "AE"), dataset_class("LBCH", "LB")
    ('RELATIONSHIP', 'FINDINGS')
    """
    if name.startswith("SUPP") or domain == "RELREC":
        return "RELATIONSHIP"
    return ig_classes().get(domain, "")


def _in_scope(entry: Entry, name: str, domain: str) -> bool:
    domains = entry.get("domains") or ["ALL"]
    if entry.get("exclude") and (domain in entry.get("exclude") or name in entry.get("exclude")):
        return False
    supp = name.startswith("SUPP")
    if "ALL" not in domains:   # a domain named in the scope is in it (its class, like CO's, may be unknown)
        return domain in domains or name in domains or (supp and "SUPP--" in domains)
    classes = entry.get("classes")
    return not classes or dataset_class(name, domain) in classes


def _scope(entry: Entry, data: Any, outcome: Outcome) -> list[tuple[str, str, pd.DataFrame]]:
    """The SDTM datasets in the rule's scope: (name, domain, frame); none gives a skip reason."""
    picked = []
    for name, frame in data.sdtm.items():
        domain = data.domain_of(name)
        if _in_scope(entry, name, domain):
            picked.append((name, domain, frame))
    if not picked:
        scope = "/".join(entry.get("domains") or ["ALL"])
        classes = entry.get("classes")
        outcome.skipped.append(f"no dataset in scope ({scope}{' ' + '/'.join(classes) if classes else ''})")
    return picked


def _names(text: str, domain: str) -> str:
    return text.replace("--", domain)


def _with_columns(frame: pd.DataFrame, needed: list[str], optional: set[str], joined: dict[str, pd.Series],
                  name: str, outcome: Outcome, domain: str = "") -> pd.DataFrame | None:
    """The ``needed`` columns of ``frame`` (and USUBJID), with the joined and optional-absent ones added;
    None (and a skip reason) when a needed variable is absent. Narrow, so nothing copies a wide dataset."""
    missing = [c for c in needed if c not in frame.columns and c not in joined and c not in optional]
    if missing:
        outcome.variable_absent(name, domain, missing)
        return None
    present = list(dict.fromkeys(c for c in [*needed, "USUBJID"] if c in frame.columns))
    narrow = pd.DataFrame({c: frame[c] for c in present}, index=frame.index)
    for c in needed:
        if c not in narrow.columns:
            narrow[c] = joined[c] if c in joined else pd.Series(None, index=frame.index, dtype=object)
    return narrow


def _joined(data: Any, frame: pd.DataFrame, joins: list[str]) -> dict[str, pd.Series]:
    """``DM.RFSTDTC`` style references: the subject's value from the other dataset, by USUBJID."""
    out = {}
    for ref in joins:
        domain, _, variable = ref.partition(".")
        by_subject = _by_subject(data, domain, variable)
        if by_subject is None or "USUBJID" not in frame.columns:
            continue
        out[variable] = per_distinct(frame["USUBJID"], lambda subjects: subjects.map(by_subject))
    return out


def _by_subject(data: Any, domain: str, variable: str) -> pd.Series | None:
    """The subject's value of ``domain.variable`` by USUBJID, worked out once per run."""
    cache = data.__dict__.setdefault("_by_subject", {})
    if (domain, variable) not in cache:
        other = data.first(domain)
        cache[(domain, variable)] = None if other is None or variable not in other.columns \
            or "USUBJID" not in other.columns else other.drop_duplicates("USUBJID").set_index("USUBJID")[variable]
    return cache[(domain, variable)]


def _findings(entry: Entry, name: str, frame: pd.DataFrame, mask: pd.Series, variable: str | None) -> pd.DataFrame:
    def values(picked: np.ndarray) -> pd.Series:   # shown for the reported records only
        return display_text(frame[variable][picked])
    return _row_findings(entry, name, frame, mask, variable, values if variable in frame.columns else None,
                         entry.message)


def anchors(node: Any) -> set[str]:
    """Variables that must be present for the expression to hold (a comparison or match with a missing
    value is false): the expression runs only on records having them, which is most of the speed.

    >>> sorted(anchors(parse("notna(A) and (B == 'x' or number(B) > 1) and C != 'y'").root))
    ['A', 'B']
    """
    if isinstance(node, Logical):
        parts = [anchors(o) for o in node.operands]
        if node.symbol == "and":
            return set().union(*parts)
        return set.intersection(*parts) if parts else set()
    if isinstance(node, Call) and node.function.name in ("notna", "matches", "startswith") \
            and node.arguments and isinstance(node.arguments[0], Column):
        return {node.arguments[0].name}
    if isinstance(node, Membership) and not node.negated and isinstance(node.operand, Column):
        return {node.operand.name}
    if isinstance(node, Binary) and node.symbol in ("==", "<", ">", "<=", ">="):
        found = set()
        for side in (node.left, node.right):
            if isinstance(side, Column):
                found.add(side.name)
            elif isinstance(side, Call) and side.function.name == "number" and isinstance(side.arguments[0], Column):
                found.add(side.arguments[0].name)
            elif isinstance(side, Literal) and side.value is None:
                return set()
        return found
    return set()


def _mask(frame: pd.DataFrame, text: str) -> pd.Series:
    """The expression on every record of ``frame``; evaluated only on the records having its anchors, once per
    distinct combination of the values it reads (it reads nothing else of a record)."""
    expression = parse(text)
    if all(c in frame.columns for c in expression.columns):
        try:
            return _mask_per_distinct(frame[expression.columns], expression)
        except (TypeError, ValueError):
            pass   # evaluated on the records themselves below, so an error names what it names there
        frame = frame[expression.columns]
    needed = [c for c in anchors(expression.root) if c in frame.columns]
    if not needed:
        return evaluate_mask(frame, expression).reset_index(drop=True).set_axis(frame.index)
    rows = frame[needed].notna().all(axis=1).to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    if rows.any():
        out[rows] = evaluate_mask(frame.loc[rows], expression).to_numpy(dtype=bool)
    return pd.Series(out, index=frame.index)


def presence_only(node: Node) -> set[str]:
    """Columns an expression reads only through ``notna()`` or ``isna()``: records that differ only in such a
    column's value, not in whether it is missing, give the same result.

    >>> sorted(presence_only(parse("(notna(A) or B == 'Y') and isna(C) and notna(B)").root))
    ['A', 'C']
    """
    whole: set[str] = set()
    presence: set[str] = set()

    def walk(node: Node) -> None:
        if isinstance(node, Call) and node.function.name in ("notna", "isna") and isinstance(node.arguments[0], Column):
            presence.add(node.arguments[0].name)
        elif isinstance(node, Column):
            whole.add(node.name)
        else:
            for part in fields(node):
                value = getattr(node, part.name)
                for child in value if isinstance(value, tuple) else (value,):
                    if isinstance(child, Node):
                        walk(child)
    walk(node)
    return presence - whole


def _language_missing(values: pd.Series) -> pd.Series:
    """The expression language's ``isna()`` of each value; a text value with a visible ASCII character is never
    blank, so only the others (few) go through ``isna()`` itself.

    >>> _language_missing(pd.Series(["a", " ", None, "\u00a0"], dtype="string[pyarrow]")).tolist()
    [False, True, True, True]
    """
    import pyarrow.compute as pc

    isna = FUNCTIONS["isna"].implementation
    if values.dtype != TEXT_DTYPE:
        return isna(values)
    missing = values.isna().to_numpy(dtype=bool, copy=True)   # written below
    visible = pc.fill_null(pc.match_substring_regex(values.array._pa_array, "[!-~]"), False)
    unsure = ~missing & ~np.asarray(visible.to_numpy(zero_copy_only=False), dtype=bool)
    if unsure.any():
        missing[unsure] = isna(values[unsure]).to_numpy(dtype=bool)
    return pd.Series(missing, index=values.index)


def _mask_per_distinct(frame: pd.DataFrame, expression: Expression) -> pd.Series:
    presence = presence_only(expression.root)   # keyed on whether they are missing, worked out per distinct value
    keys = pd.DataFrame({c: per_distinct(frame[c], _language_missing) if c in presence else frame[c]
                         for c in expression.columns}, index=frame.index)
    first, combination = distinct_rows(keys, expression.columns)
    anchored = [c for c in anchors(expression.root) if c in frame.columns]
    evaluated = np.ones(len(first), dtype=bool)   # whether a record has the anchors depends on its values alone
    if anchored:
        evaluated = frame[anchored].iloc[first].notna().all(axis=1).to_numpy()
    fails = np.zeros(len(first), dtype=bool)
    if evaluated.any():
        fails[evaluated] = evaluate_mask(frame.iloc[first[evaluated]], expression).to_numpy(dtype=bool)
    return pd.Series(fails[combination], index=frame.index)


# --- the kinds ------------------------------------------------------------------------------------
def _record(entry: Entry, data: Any, outcome: Outcome) -> Iterator[pd.DataFrame]:
    for name, domain, frame in _scope(entry, data, outcome):
        text = _names(entry.get("fail_when"), domain)
        needed = parse(text).columns
        if entry.get("variable") and _names(entry.get("variable"), domain) in frame.columns:
            needed = list(dict.fromkeys([*needed, _names(entry.get("variable"), domain)]))
        optional = {_names(v, domain) for v in entry.get("optional") or []}
        joined = _joined(data, frame, [_names(j, domain) for j in entry.get("join") or []])
        ready = _with_columns(frame, needed, optional, joined, name, outcome, domain)
        if ready is None:
            continue
        outcome.checked.append(name)
        variable = _names(entry.get("variable") or needed[0], domain)
        yield _findings(entry, name, ready, _mask(ready, text), variable if variable in ready else None)


def _variable_presence(entry: Entry, data: Any, outcome: Outcome) -> Iterator[pd.DataFrame]:
    for name, domain, frame in _scope(entry, data, outcome):
        outcome.checked.append(name)
        present = [_names(v, domain) for v in entry.get("present")]
        absent = [_names(v, domain) for v in entry.get("absent") or []]
        if all(v in frame.columns for v in present) and not any(v in frame.columns for v in absent):
            yield _dataset_finding(entry, name, present[0])


def _checkable(entry: Entry, data: Any, outcome: Outcome, columns: list[str]
               ) -> Iterator[tuple[str, list[str], pd.DataFrame, pd.DataFrame, pd.Series]]:
    """The datasets in scope having ``columns`` and the variables of ``when``, counted as checked: (name, the
    columns resolved, frame, its narrow copy with ``DM.RFSTDTC`` style columns joined, the rows ``when`` keeps)."""
    for name, domain, frame in _scope(entry, data, outcome):
        named = [_names(c, domain) for c in columns]
        joined = _joined(data, frame, [c for c in named if "." in c])
        named = [c.partition(".")[2] if "." in c else c for c in named]
        ready = _with_columns(frame, named, set(), joined, name, outcome, domain)
        if ready is None:
            continue
        when = _names(entry.get("when") or "", domain)
        if when and _with_columns(frame, parse(when).columns, set(), {}, name, outcome, domain) is None:
            continue
        outcome.checked.append(name)
        yield name, named, frame, ready, _mask(frame, when) if when else pd.Series(True, index=frame.index)


def _unique(entry: Entry, data: Any, outcome: Outcome) -> Iterator[pd.DataFrame]:
    for name, variables, frame, _, rows in _checkable(entry, data, outcome, entry.get("variables")):
        yield _findings(entry, name, frame, _repeated(frame, rows, variables, "\x00"), variables[-1])


def _one_to_one(entry: Entry, data: Any, outcome: Outcome) -> Iterator[pd.DataFrame]:
    for name, (a, b), frame, _, _ in _checkable(entry, data, outcome, entry.get("variables")):
        first, combination = distinct_rows(frame, [a, b])   # each distinct pair of values once
        left, right = display_text(frame[a].iloc[first]), display_text(frame[b].iloc[first])
        both = (left != "") & (right != "")
        pairs = pd.DataFrame({"a": left[both], "b": right[both]}).drop_duplicates()
        many_b = set(pairs["a"][pairs["a"].duplicated(keep=False)])
        many_a = set(pairs["b"][pairs["b"].duplicated(keep=False)])
        bad = (both & (left.isin(many_b) | right.isin(many_a))).fillna(False).to_numpy(dtype=bool)
        yield _findings(entry, name, frame, pd.Series(bad[combination], index=frame.index), a)


def _in_reference(entry: Entry, data: Any, outcome: Outcome) -> Iterator[pd.DataFrame]:
    if entry.get("reference") == "DOMAINS":   # the domains of the study's datasets (RDOMAIN rules)
        known = {data.domain_of(name) for name in data.sdtm if not name.startswith("SUPP")}
    else:
        ref_domain, _, ref_variable = entry.get("reference").partition(".")
        reference = data.first(ref_domain)
        if reference is None or ref_variable not in reference.columns:
            outcome.skipped.append(f"reference {entry.get('reference')} absent")
            return
        known = set(display_text(reference[ref_variable]))
    def outside(values: pd.Series) -> pd.Series:
        text = display_text(values)
        return (text != "") & ~is_in(text, known)
    for name, (variable,), frame, _, rows in _checkable(entry, data, outcome, [entry.get("variable")]):
        yield _findings(entry, name, frame, rows & per_distinct(frame[variable], outside), variable)


def truncated_le(left: pd.Series, right: pd.Series) -> pd.Series:
    """ISO 8601 ``left <= right`` at the precision both have (a date against a datetime: by date); False
    when either lacks a complete date.

    >>> truncated_le(pd.Series(["2020-01-02T10:00", "2020-01", "2020-01-03"]),
    ...              pd.Series(["2020-01-02", "2020-01-01", "2020-01-02T23:00"])).tolist()
    [True, False, False]
    """
    import pyarrow.compute as pc

    a, b = (_stripped_text(values.astype(TEXT_DTYPE)) for values in (left, right))
    width = np.minimum(pc.utf8_length(a).fill_null(0).to_numpy(), pc.utf8_length(b).fill_null(0).to_numpy())
    width = np.where(width < 10, 0, np.where(width < 16, 10, np.minimum(width, 19)))
    out = np.zeros(len(width), dtype=bool)
    for w in np.unique(width[width > 0]):   # a few precisions: date, minutes, seconds
        rows = width == w
        picked = [pc.utf8_slice_codeunits(side.filter(rows), 0, int(w)) for side in (a, b)]   # w characters
        out[rows] = pc.less_equal(*picked).fill_null(False).to_numpy(zero_copy_only=False)
    return pd.Series(out, index=left.index, dtype=bool)


def _stripped_text(values: pd.Series) -> Any:
    """The Arrow array of Arrow text values with ``str.strip()`` applied (once per distinct value)."""
    import pyarrow as pa

    stripped = per_distinct(values, lambda distinct: distinct.astype("string").str.strip().astype(TEXT_DTYPE))
    return pa.chunked_array(stripped.array._pa_array).combine_chunks()


def _complete(values: pd.Series) -> pd.Series:
    """A complete, real calendar date (the one date reader: partial or impossible dates are not ordered)."""
    return iso_date(values.astype("string")).notna()


def _date_order(entry: Entry, data: Any, outcome: Outcome) -> Iterator[pd.DataFrame]:
    sides = [entry.get("earlier"), entry.get("later")]
    for name, columns, _, ready, rows in _checkable(entry, data, outcome, sides):
        both = (ready[columns[0]].notna() & ready[columns[1]].notna() & rows).to_numpy()
        first, combination = distinct_rows(ready, columns)   # dates repeat: compare each pair once
        pairs = ready[columns].iloc[first]
        compared = pairs.notna().all(axis=1).to_numpy()
        earlier, later = (pairs.loc[compared, c].astype(str).reset_index(drop=True) for c in columns)
        bad_pair = np.zeros(len(first), dtype=bool)
        bad_pair[compared] = (_complete(earlier) & _complete(later) & ~truncated_le(earlier, later)).to_numpy()
        bad = pd.Series(both & bad_pair[combination], index=ready.index)
        reported = columns[1] if "." not in sides[1] else columns[0]
        yield _findings(entry, name, ready, bad, reported)


RUNNERS = {"record": _record, "variable_presence": _variable_presence, "unique": _unique,
           "one_to_one": _one_to_one, "in_reference": _in_reference, "date_order": _date_order}


def run_entry(entry: Entry, data: Any, outcome: Outcome | None = None) -> pd.DataFrame:
    """Run one catalogue rule; ``outcome`` collects the datasets checked and the skip reasons."""
    outcome = outcome if outcome is not None else Outcome()
    return concat_findings(RUNNERS[entry.kind](entry, data, outcome))


def catalogue_rules(entries: list[Entry]) -> dict[str, Rule]:
    """A :class:`Rule` per entry; ``rule.check(data)`` runs it, ``rule.check(data, outcome)`` records the outcome."""
    rules = {}
    for entry in entries:
        title = entry.get("title") or entry.message
        description = entry.get("description") or title
        rules[entry.id] = Rule(entry.id, title, description, entry.message, entry.severity, "conformance",
                               citation(entry), check=lambda data, outcome=None, e=entry: run_entry(e, data, outcome),
                               kind=entry.kind)
    return rules
