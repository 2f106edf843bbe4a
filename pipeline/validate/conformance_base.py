"""What every conformance rule is built on: the run's datasets (:class:`ValidationData`), the rule
registry (:data:`CONFORMANCE_RULES`, :func:`conformance_rule`) and the finding helpers. The rules
live in :mod:`pipeline.validate.conformance` and :mod:`pipeline.validate.conformance_core`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from pipeline.standards.tables import trial_design_domains
from pipeline.validate.findings import empty_findings, make_findings
from pipeline.validate.rules import CORE_CATALOGUE, Rule

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
        if name in self.domains:
            return self.domains[name]
        if name in self._domain_cache:
            return self._domain_cache[name]
        frame = self.sdtm.get(name)
        domain = name
        if frame is not None and "DOMAIN" in frame.columns:
            first = frame["DOMAIN"].first_valid_index()
            if first is not None:
                domain = str(frame["DOMAIN"].loc[first]).upper()
        if frame is not None:
            self._domain_cache[name] = domain   # worked out once per dataset (rules ask for it many times)
        return domain

    def sdtm_with(self, *columns: str) -> dict[str, pd.DataFrame]:
        """SDTM datasets having every named column (``--`` is replaced by the domain prefix)."""
        out = {}
        for name, frame in self.sdtm.items():
            wanted = [c.replace("--", self.domain_of(name)) for c in columns]
            if all(c in frame.columns for c in wanted):
                out[name] = frame
        self.lookups.append((f"no dataset with {', '.join(columns)}", bool(out)))
        return out

    def first(self, domain: str) -> pd.DataFrame | None:
        """The dataset of a domain; split datasets (LBCH, LBHE) are concatenated in the order of ``sdtm``, so
        record numbers of findings on a combined domain count across the concatenation."""
        if domain in self._combined:
            self.lookups.append((f"{domain} absent", self._combined[domain] is not None))
            return self._combined[domain]
        names = [n for n in self.sdtm if self.domain_of(n) == domain]
        if not names:
            combined = None
        elif len(names) == 1:
            combined = self.sdtm[names[0]]
        else:
            combined = pd.concat([self.sdtm[n] for n in names], ignore_index=True)
        self._combined[domain] = combined
        self.lookups.append((f"{domain} absent", combined is not None))
        return combined


def _row_findings(rule: Rule, dataset: str, frame: pd.DataFrame, mask: pd.Series, variable: str | None,
                  values: pd.Series | None, message: pd.Series | str) -> pd.DataFrame:
    """Findings for the records of ``frame`` where ``mask`` is True."""
    mask = mask.fillna(False).astype(bool)
    if not mask.any():
        return empty_findings()
    picked = mask.to_numpy(dtype=bool)
    msgs = message[picked].tolist() if isinstance(message, pd.Series) else [message] * int(picked.sum())
    subjects = frame.loc[picked, "USUBJID"].tolist() if "USUBJID" in frame.columns else None
    return make_findings(rule.id, rule.severity, dataset, msgs, rule.check_source, variable=variable,
                         usubjid=subjects, record=(np.flatnonzero(picked) + 1).tolist(),
                         value=values[picked].tolist() if values is not None else None)


def _dataset_finding(rule: Rule, dataset: str, variable: str | None, value: object = None,
                     message: str | None = None) -> pd.DataFrame:
    """One finding on a whole dataset (no record); the rule's message unless ``message`` is given."""
    return make_findings(rule.id, rule.severity, dataset, rule.message if message is None else message,
                         rule.check_source, variable=variable, value=value)


CONFORMANCE_RULES: dict[str, Rule] = {}


def conformance_rule(id: str, title: str, description: str, message: str, severity: str,
                     citation: str = "") -> Callable:
    """Register a check function as a :class:`Rule` (the rule object documents and runs it, ``rule.check(data)``).

    >>> from pipeline.validate.conformance import check_start_not_after_end
    >>> CONFORMANCE_RULES["FB3209"].severity, check_start_not_after_end.id
    ('error', 'FB3209')
    """
    def decorate(fn: Callable[[Rule, ValidationData], pd.DataFrame]) -> Rule:
        rule = Rule(id, title, description, message, severity, "conformance", citation)
        registered = Rule(id, title, description, message, severity, "conformance", citation,
                          check=lambda data, rule=rule: fn(rule, data))
        CONFORMANCE_RULES[id] = registered
        return registered  # the module-level name is the rule object itself
    return decorate


def cite(rule_id: str, core_id: str, kind: str = "CDISC SDTM conformance rule") -> str:
    """The citation of a rule CDISC CORE also runs.

    >>> cite("CG0029", "CORE-000201")
    'CDISC SDTM conformance rule CG0029 (CORE-000201; cdisc-org/cdisc-rules-engine resources/cache/rules.pkl)'
    """
    return f"{kind} {rule_id} ({core_id}; {CORE_CATALOGUE})"


def register_rules(check: Callable[..., pd.DataFrame], table: list[tuple]) -> None:
    """Register one rule per row ``(id, title, description, message, severity, citation, options)``, each run
    by ``check(rule, data, **options)``: rules that share an algorithm and differ in their variables."""
    for rule_id, title, description, message, severity, citation, options in table:
        conformance_rule(rule_id, title, description, message, severity, citation)(partial(check, **options))
