"""Validation rules as data: one object per rule documents it and points at the code that runs it (rule ids:
``pipeline/validate/README.md``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


_MARKER = re.compile(r"\x00(\w+)\x00")


class _KeepMissing(dict):
    """format_map helper: unknown placeholders stay as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Rule:
    """One validation rule.

    ``check`` runs the rule: for conformance rules ``check(data: ValidationData) -> findings frame``;
    for expectations the GX expectation type; schema rules have none (:mod:`pipeline.validate.schemas`
    builds their pandera checks from the metadata). The same object writes the rule catalogue
    (:func:`rules_catalogue`).

    >>> r = Rule("ISL-9999", "Title", "What it checks", "{variable} is bad", "warning", "conformance")
    >>> r.format_message(variable="AESTDTC")
    'AESTDTC is bad'
    """

    id: str
    title: str
    description: str
    message: str
    severity: str
    check_source: str
    citation: str = ""
    check: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    kind: str = ""   # catalogue rules: the kind that runs them (pipeline/validate/catalogue.py)

    def format_message(self, **values: Any) -> str:
        """The message with ``{placeholders}`` filled; unknown placeholders stay as written."""
        return self.message.format_map(_KeepMissing(values))

    def format_messages(self, values: pd.Series | None = None, **params: Any) -> pd.Series:
        """One message per record (vectorised): ``{value}`` takes ``values``, a Series parameter fills its
        placeholder record by record (missing as empty text), any other parameter once.

        >>> r = Rule("X", "t", "d", "{variable} value '{value}' is bad", "error", "pandera")
        >>> r.format_messages(pd.Series(["a", None]), variable="SEX").tolist()
        ["SEX value 'a' is bad", "SEX value '' is bad"]
        >>> r.format_messages(variable=pd.Series(["AGE", "SEX"]), value="x").tolist()
        ["AGE value 'x' is bad", "SEX value 'x' is bad"]
        """
        series = {k: v for k, v in {**params, "value": values}.items() if isinstance(v, pd.Series)}
        scalars = {k: v for k, v in params.items() if k not in series}
        template = self.format_message(**scalars, **{k: f"\x00{k}\x00" for k in series})
        pieces = _MARKER.split(template)  # literal text, placeholder name, literal text, ...
        out = pd.Series(pieces[0], index=next(iter(series.values())).index, dtype=object)
        for position, piece in enumerate(pieces[1:], start=1):
            out = out + (series[piece].astype("string").fillna("").astype(object) if position % 2 else piece)
        return out


CORE_CATALOGUE = "cdisc-org/cdisc-rules-engine resources/cache/rules.pkl"


def cite(rule_id: str, core_id: str, kind: str = "CDISC SDTM conformance rule") -> str:
    """The citation of a rule CDISC CORE also runs.

    >>> cite("CG0029", "CORE-000201")
    'CDISC SDTM conformance rule CG0029 (CORE-000201; cdisc-org/cdisc-rules-engine resources/cache/rules.pkl)'
    """
    return f"{kind} {rule_id} ({core_id}; {CORE_CATALOGUE})"


P21_SOURCE = "FDA Validator Rules (phuse-org/SENDConform doc/SHACL-AnimalSubject-ID-Details.md)"

# --- schema rules (run through pandera, see schemas.py) ------------------------------------------
SCHEMA_RULES: dict[str, Rule] = {r.id: r for r in [
    Rule("CG0014", "Required variable present and populated",
         "A Required (Req) variable must be present in the dataset and never null.",
         "Required variable {variable} {problem}", "error", "pandera", cite("CG0014", "CORE-000355 / CORE-000356")),
    Rule("CG0016", "Expected variable present",
         "An Expected (Exp) variable must be present as a column (it may be null).",
         "Expected variable {variable} is not in the dataset", "warning", "pandera", cite("CG0016", "CORE-000334")),
    Rule("CG0012", "Variable type matches the standard",
         "Char variables hold text, Num variables hold numbers.",
         "{variable} should be {type} but the column holds {dtype}", "error", "pandera", cite("CG0012", "CORE-001082")),
    Rule("CG0028", "--SEQ unique within subject",
         "--SEQ must be a unique number per USUBJID within a domain.",
         "{variable} value {value} is not unique within USUBJID", "error", "pandera", cite("CG0028", "CORE-000544")),
    Rule("SD0083", "Duplicate USUBJID in DM",
         "DM holds exactly one record per subject: USUBJID is unique.",
         "Duplicate USUBJID {value} in DM", "error", "pandera", P21_SOURCE),
    Rule("FB3101", "--STRESN populated when --STRESC is numeric",
         "When --STRESC holds a number, --STRESN should hold the same number.",
         "{variable} is null although --STRESC holds the number {value}", "warning", "pandera",
         cite("FB3101", "CORE-000863", "FDA Business Rule")),
    Rule("FB3103", "--STRESN null when --STRESC is not numeric",
         "When --STRESC is not numeric, --STRESN should be null.",
         "{variable} is populated although --STRESC '{value}' is not numeric", "warning", "pandera",
         cite("FB3103", "CORE-000732", "FDA Business Rule")),
    Rule("ISL-0001", "Character value within its length",
         "A character value fits the variable's declared length and never exceeds 200 characters (XPT v5).",
         "{variable} value is {actual} characters long, more than {length}", "error", "pandera"),
    Rule("ISL-0002", "Value in a non-extensible codelist",
         "A value of a variable with a non-extensible codelist must be one of its submission values.",
         "{variable} value '{value}' is not in non-extensible codelist {codelist}", "error", "pandera"),
    Rule("ISL-0003", "Value in an extensible codelist",
         "A value outside an extensible codelist is allowed only as a declared sponsor extension.",
         "{variable} value '{value}' is not in extensible codelist {codelist}", "warning", "pandera"),
    Rule("ISL-0004", "ISO 8601 date/time",
         "--DTC, --STDTC, --ENDTC and RF*DTC values are ISO 8601 (complete or partial) and calendar-valid.",
         "{variable} value '{value}' is not a valid ISO 8601 date/time", "error", "pandera"),
    Rule("ISL-0005", "ISO 8601 duration",
         "--DUR, --EVLINT, TEDUR values are ISO 8601 durations such as P10D or -P10D.",
         "{variable} value '{value}' is not a valid ISO 8601 duration", "error", "pandera"),
    Rule("ISL-0006", "Natural key unique",
         "The dataset's natural keys (define.xml KeySequence) identify one record.",
         "Duplicate key ({keys}) = ({value})", "error", "pandera"),
    Rule("ISL-0007", "--STRESN equals numeric --STRESC",
         "When both are populated, --STRESN is the numeric value of --STRESC.",
         "{variable} {value} differs from --STRESC {other}", "error", "pandera"),
    Rule("ISL-0008", "Variable described in the dataset spec",
         "Every column of the dataset is described in specs/<study>/datasets.yaml or the standard.",
         "{variable} is not in the dataset spec", "warning", "pandera"),
    Rule("ISL-0009", "Country code ISO 3166-1 alpha-3",
         "COUNTRY holds a three-letter upper-case ISO 3166-1 alpha-3 code.",
         "{variable} value '{value}' is not an ISO 3166-1 alpha-3 code", "warning", "pandera"),
    Rule("ISL-0010", "Dataset described in the dataset spec",
         "Every dataset file is described in specs/<study>/datasets.yaml; an undescribed dataset is "
         "checked against the standard alone (SDTMIG domain, SUPPQUAL or ADaMIG class) when the standard knows it.",
         "dataset {dataset} is not in the dataset spec", "warning", "pandera"),
    Rule("ISL-0011", "ADaM required variable present and populated",
         "An ADaMIG Required variable must be present and never null.",
         "Required ADaM variable {variable} {problem}", "error", "pandera"),
    Rule("ISL-0105", "ADSL one record per subject",
         "ADSL has exactly one record per USUBJID.",
         "Duplicate USUBJID {value} in ADSL", "error", "pandera"),
]}


def rules_catalogue(rules: list[Rule]) -> pd.DataFrame:
    """The documentation table of rules (id, title, description, severity, source, citation).

    >>> rules_catalogue([SCHEMA_RULES["CG0014"]])[["id", "severity"]].values.tolist()
    [['CG0014', 'error']]
    """
    return pd.DataFrame([
        {"id": r.id, "title": r.title, "description": r.description, "message": r.message,
         "severity": r.severity, "check_source": r.check_source, "kind": r.kind or r.check_source,
         "citation": r.citation}
        for r in sorted(rules, key=lambda r: r.id)
    ])
