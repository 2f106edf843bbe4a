"""What every conformance rule is built on: the run's datasets (:class:`ValidationData`), the rule
registry (:data:`CONFORMANCE_RULES`, :func:`conformance_rule`) and the finding helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd

from pipeline.standards.tables import trial_design_domains
from pipeline.validate.findings import concat_findings, empty_findings, make_findings
from pipeline.validate.frames import distinct_codes
from pipeline.validate.rules import Rule, cite  # noqa: F401 (cite re-exported)

TRIAL_DESIGN = trial_design_domains()


@dataclass
class ValidationData:
    """The datasets of one validation run, by upper-case dataset name, with their domains.

    >>> data = ValidationData({"DM": pd.DataFrame({"USUBJID": ["S-1"]})}, {})
    >>> data.domain_of("DM"), list(data.sdtm_with("USUBJID"))
    ('DM', ['DM'])
    """

    sdtm: dict[str, pd.DataFrame]
    adam: dict[str, pd.DataFrame]
    domains: dict[str, str] = field(default_factory=dict)
    instruments: dict[str, dict] = field(default_factory=dict)
    _combined: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)
    _domain_cache: dict[str, str] = field(default_factory=dict, repr=False)
    lookups: list[tuple[str, bool]] = field(default_factory=list, repr=False)  # (what, found) per rule run

    def domain_of(self, name: str) -> str:
        """The SDTM domain of a dataset (DOMAIN column, spec, or the name itself)."""
        known = self.domains.get(name, self._domain_cache.get(name))
        if known is not None:
            return known
        frame = self.sdtm.get(name)
        first = frame["DOMAIN"].first_valid_index() if frame is not None and "DOMAIN" in frame.columns else None
        domain = name if first is None else str(frame["DOMAIN"].loc[first]).upper()
        if frame is not None:
            self._domain_cache[name] = domain   # worked out once per dataset (rules ask for it many times)
        return domain

    def sdtm_with(self, *columns: str) -> dict[str, pd.DataFrame]:
        """SDTM datasets having every named column (``--`` is replaced by the domain prefix)."""
        out = {name: frame for name, frame in self.sdtm.items()
               if all(c.replace("--", self.domain_of(name)) in frame.columns for c in columns)}
        self.lookups.append((f"no dataset with {', '.join(columns)}", bool(out)))
        return out

    def first(self, domain: str) -> pd.DataFrame | None:
        """The dataset of a domain; split datasets (LBCH, LBHE) are concatenated in the order of ``sdtm``, so
        record numbers of findings on a combined domain count across the concatenation."""
        if domain not in self._combined:
            parts = [self.sdtm[name] for name in self.sdtm if self.domain_of(name) == domain]  # reads only those
            self._combined[domain] = pd.concat(parts, ignore_index=True) if len(parts) > 1 else next(iter(parts), None)
        self.lookups.append((f"{domain} absent", self._combined[domain] is not None))
        return self._combined[domain]


Picked = Callable[[np.ndarray], pd.Series]   # the values of the records picked by a boolean array, worked out then


def picked_messages(rule: Rule, values: pd.Series | None = None, **params: object) -> Picked:
    """``rule.format_messages(values, **params)`` for the reported records only (most records pass)."""
    def messages(picked: np.ndarray) -> pd.Series:
        return rule.format_messages(values[picked] if values is not None else None,
                                    **{k: v[picked] if isinstance(v, pd.Series) else v for k, v in params.items()})
    return messages


def _row_findings(rule: Rule, dataset: str, frame: pd.DataFrame, mask: pd.Series, variable: str | None,
                  values: pd.Series | Picked | None, message: pd.Series | Picked | str) -> pd.DataFrame:
    """Findings for the records of ``frame`` where ``mask`` is True; ``values`` and ``message`` are Series over
    every record or functions that give them for the picked records (:func:`picked_messages`)."""
    mask = mask.fillna(False).astype(bool)
    if not mask.any():
        return empty_findings()
    picked = mask.to_numpy(dtype=bool)
    if callable(message):
        msgs = message(picked).tolist()
    else:
        msgs = message[picked].tolist() if isinstance(message, pd.Series) else [message] * int(picked.sum())
    shown = (values(picked) if callable(values) else values[picked]).tolist() if values is not None else None
    subjects = frame.loc[picked, "USUBJID"].tolist() if "USUBJID" in frame.columns else None
    return make_findings(rule.id, rule.severity, dataset, msgs, rule.check_source, variable=variable,
                         usubjid=subjects, record=(np.flatnonzero(picked) + 1).tolist(), value=shown)


def _dataset_finding(rule: Rule, dataset: str, variable: str | None, value: object = None,
                     message: str | None = None) -> pd.DataFrame:
    """One finding on a whole dataset (no record); the rule's message unless ``message`` is given."""
    return make_findings(rule.id, rule.severity, dataset, rule.message if message is None else message,
                         rule.check_source, variable=variable, value=value)


def _repeated(frame: pd.DataFrame, rows: pd.Series, by: list[str], missing: str = "") -> pd.Series:
    """The ``rows`` whose ``by`` values another of the ``rows`` shares (compared as text, null as ``missing``).

    >>> frame = pd.DataFrame({"A": ["x", "x", None, "y"], "B": [1.0, 1.0, 2.0, 3.0]})
    >>> _repeated(frame, pd.Series([True, True, True, False]), ["A"]).tolist()
    [True, True, False, False]
    """
    picked = rows.fillna(False).to_numpy(dtype=bool)
    key = np.zeros(len(frame), dtype=np.int64)
    for column in by:
        key = pd.factorize(key * (len(frame) + 1) + _text_codes(frame[column], missing))[0]
    shared = np.zeros(len(frame), dtype=bool)
    shared[np.flatnonzero(picked)] = pd.Series(key[picked]).duplicated(keep=False).to_numpy()
    return pd.Series(shared, index=frame.index)


def _text_codes(values: pd.Series, missing: str) -> np.ndarray:
    """A code per record, equal where ``values.astype("string").fillna(missing)`` is equal (the text worked out
    once per distinct value)."""
    found = distinct_codes(values)
    if found is None:
        return pd.factorize(values.astype("string").fillna(missing))[0]
    codes, uniques = found
    text = pd.concat([uniques.astype("string"), pd.Series([pd.NA], dtype="string")], ignore_index=True)
    text_codes = pd.factorize(text.fillna(missing))[0]   # the last is the code of a missing value
    return np.where(codes < 0, text_codes[-1], text_codes[codes.clip(0)])


def _domain_records(rule: Rule, data: ValidationData, domain: str, needs: set[str], variable: str,
                    fails: Callable[[pd.DataFrame], pd.Series], shown: str | None = None,
                    fields: dict[str, str] | None = None) -> pd.DataFrame:
    """Records of ``domain`` where ``fails`` holds (none when it lacks a column of ``needs``), reported on
    ``variable`` with the value of ``shown`` (default: ``variable``); ``fields`` fill placeholders from columns."""
    frame = data.first(domain)
    if frame is None or not needs <= set(frame.columns):
        return empty_findings()
    values = frame[shown or variable]
    messages = picked_messages(rule, values, **{key: frame[column] for key, column in (fields or {}).items()})
    return _row_findings(rule, domain, frame, fails(frame), variable, values, messages)


CONFORMANCE_RULES: dict[str, Rule] = {}


def conformance_rule(id: str, title: str, description: str, message: str, severity: str,
                     citation: str = "") -> Callable:
    """Register a check function as a :class:`Rule` (the rule object documents and runs it, ``rule.check(data)``).

    >>> from pipeline.validate.conformance import check_start_not_after_end
    >>> CONFORMANCE_RULES["FB3209"].severity, check_start_not_after_end.id
    ('error', 'FB3209')
    """
    def decorate(fn: Callable[[Rule, ValidationData], pd.DataFrame | Iterator[pd.DataFrame]]) -> Rule:
        rule = Rule(id, title, description, message, severity, "conformance", citation)

        def check(data: ValidationData) -> pd.DataFrame:   # fn returns findings, or yields them dataset by dataset
            found = fn(rule, data)
            return found if isinstance(found, pd.DataFrame) else concat_findings(found)
        CONFORMANCE_RULES[id] = replace(rule, check=check)
        return CONFORMANCE_RULES[id]  # the module-level name is the rule object itself
    return decorate


def register_rules(check: Callable[..., pd.DataFrame], table: list[tuple]) -> None:
    """Register one rule per row ``(id, title, description, message, severity, citation, options)``, each run
    by ``check(rule, data, **options)``: rules that share an algorithm and differ in their variables."""
    for rule_id, title, description, message, severity, citation, options in table:
        conformance_rule(rule_id, title, description, message, severity, citation)(partial(check, **options))
