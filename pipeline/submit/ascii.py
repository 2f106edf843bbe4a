"""Printable-ASCII text for XPT v5 (FDA systems mishandle extended characters) by the study's declared
``text_conversion`` (docs/submission-package.md, "Text"): whole ``values`` first, then per character
``characters``, the built-in table of marks and units (µ -> u, ≥ -> >=) and Latin letters without their
accents; any other character has no faithful ASCII spelling, is reported and never written as ``?``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.common.vector import factorize

# Characters whose NFKD decomposition is not a useful ASCII spelling.
_SPECIAL = {
    "\u00b5": "u", "\u03bc": "u",           # micro sign, Greek mu (umol/L)
    "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
    "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D",
    "\u00fe": "th", "\u00de": "TH", "\u00f0": "d", "\u00d0": "D",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ", "\u200b": "",
    "\u00d7": "x", "\u00f7": "/", "\u00b0": " deg", "\u00b1": "+/-", "\u2264": "<=", "\u2265": ">=",
    "\u2026": "...", "\u2022": "*", "\u00b7": ".", "\u00ae": "(R)", "\u00a9": "(C)", "\u2122": "(TM)",
    "\u00b2": "2", "\u00b3": "3", "\u00b9": "1", "\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4",
    "\u20ac": "EUR", "\u00a3": "GBP", "\u00a5": "JPY",
}
_NOT_PRINTABLE_ASCII = re.compile(r"[^\t\x20-\x7e]")
TEXT_CONVERSION_FILE = "submission.yaml"
RULE_DICTIONARY = "sponsor dictionary"
RULE_TRANSLITERATION = "transliteration"
REPORT_COLUMNS = ["dataset", "variable", "row", "original", "replacement", "rule"]
CHECK_NON_ASCII = "non-ASCII text"   # the checks.csv rows of converted values (listed by the cSDRG)
CHECK_NO_ASCII = "non-ASCII text without an ASCII spelling"


@dataclass(frozen=True)
class TextConversion:
    """The declared rule that turns UTF-8 text into printable ASCII for XPT v5."""

    values: dict[str, str] = field(default_factory=dict)
    characters: dict[str, str] = field(default_factory=dict)
    transliterate_latin: bool = True
    source: str = "default (transliterate: latin)"
    rule_file: str = "specs/<study>/submission.yaml"


def _printable(text: str) -> bool:
    return _NOT_PRINTABLE_ASCII.search(text) is None


def load_text_conversion(specs_dir: str | Path) -> TextConversion:
    """The study's ``text_conversion`` from ``specs_dir/submission.yaml`` (default: transliterate Latin).

    Every replacement must itself be printable ASCII; a broken rule raises :class:`ConfigError`
    naming the file, the line and the entry.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "submission.yaml").write_text("text_conversion:\\n  values: {\\"\\u8ca7\\u8840\\": Anaemia}\\n", encoding="utf-8")
    >>> load_text_conversion(folder).values
    {'貧血': 'Anaemia'}
    >>> load_text_conversion(pathlib.Path(tempfile.mkdtemp())).source
    'default (transliterate: latin)'
    """
    from pipeline.common.specfile import Where, check_keys, load_spec

    path = Path(specs_dir) / TEXT_CONVERSION_FILE
    data = load_spec(path) if path.exists() else None
    spec = data.get("text_conversion") if isinstance(data, dict) else None
    if spec is None:
        return TextConversion(rule_file=str(path))
    where = Where(path, 1).at(data, "text_conversion")
    check_keys(spec, {"transliterate": "text", "characters": "mapping", "values": "mapping"}, where, "text_conversion")
    mode = str(spec.get("transliterate", "latin")).strip().lower()
    if mode not in ("latin", "none"):
        raise where.at(spec, "transliterate").error(f"text_conversion.transliterate {mode!r}: "
                                                    "expected 'latin' or 'none'")

    def table(key: str) -> dict[str, str]:
        out = {}
        for original, replacement in (spec.get(key) or {}).items():
            entry = where.at(spec[key], original)
            original, replacement = str(original), "" if replacement is None else str(replacement)
            if not (replacement.isascii() and _printable(replacement)):
                raise entry.error(f"text_conversion.{key}[{original!r}] = {replacement!r} is not printable ASCII")
            if key == "characters" and len(original) != 1:
                raise entry.error(f"text_conversion.characters key {original!r} must be one character")
            out[original] = replacement
        return out

    return TextConversion(table("values"), table("characters"), mode == "latin", str(path), str(path))


DEFAULT_CONVERSION = TextConversion()


def convert_ascii_text(value: str, conversion: TextConversion = DEFAULT_CONVERSION) -> tuple[str | None, str]:
    """(printable-ASCII spelling, rule) of one text; ``(None, reason)`` when there is none.

    >>> convert_ascii_text("Bein\\u00f6deme")
    ('Beinodeme', 'transliteration')
    >>> convert_ascii_text("Bein\\u00f6deme", TextConversion(characters={"\\u00f6": "oe"}))
    ('Beinoedeme', 'transliteration')
    >>> convert_ascii_text("\\u8ca7\\u8840")
    (None, "no ASCII spelling for '貧' (CJK UNIFIED IDEOGRAPH-8CA7)")
    >>> convert_ascii_text("\\u8ca7\\u8840", TextConversion(values={"\\u8ca7\\u8840": "Anaemia"}))
    ('Anaemia', 'sponsor dictionary')
    """
    if value in conversion.values:
        return conversion.values[value], RULE_DICTIONARY
    if value.isascii() and _printable(value):
        return value, ""
    out = []
    for char in value:
        if char.isascii():
            out.append(char if (char.isprintable() or char == "\t") else " ")
        elif char in conversion.characters:
            out.append(conversion.characters[char])
        elif char in _SPECIAL:
            out.append(_SPECIAL[char])
        else:
            latin = unicodedata.name(char, "").startswith(("LATIN ", "FULLWIDTH LATIN "))
            ascii_part = "".join(c for c in unicodedata.normalize("NFKD", char) if c.isascii() and c.isprintable())
            if not (conversion.transliterate_latin and latin and ascii_part):
                return None, f"no ASCII spelling for {char!r} ({unicodedata.name(char, 'U+%04X' % ord(char))})"
            out.append(ascii_part)
    return "".join(out), RULE_TRANSLITERATION


def derive_vars_ascii(dataset: pd.DataFrame, dataset_name: str = "",
                      conversion: TextConversion = DEFAULT_CONVERSION) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Convert every text column of ``dataset`` to printable ASCII by ``conversion``.

    Returns (a new frame, a report of ``REPORT_COLUMNS`` with 1-based ``row``). A value without an ASCII
    spelling keeps its text, with ``replacement`` None and the reason in ``rule``: the caller decides.

    >>> frame = pd.DataFrame({"LBORRESU": ["\\u00b5mol/L", "g/L", None], "LBSTRESN": [1.0, 2.0, 3.0]})
    >>> new, changes = derive_vars_ascii(frame, "LB")
    >>> new["LBORRESU"].tolist(), changes[["variable", "row", "replacement", "rule"]].values.tolist()
    (['umol/L', 'g/L', None], [['LBORRESU', 1, 'umol/L', 'transliteration']])
    """
    result = dataset.copy(deep=False)   # changed columns are replaced by new arrays below, never written in place
    reports = []
    for variable in result.columns:
        column = dataset[variable]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        codes, uniques = factorize(column)   # each distinct value converted once; a rule says it changed
        spellings = [convert_ascii_text(v, conversion) if isinstance(v, str) else (v, "") for v in uniques]
        if all(rule == "" for _, rule in spellings):
            continue   # nothing to convert: no row-sized arrays needed
        texts = np.array([text for text, _ in spellings] + [None], dtype=object)[codes]
        rules = np.array([rule for _, rule in spellings] + [""], dtype=object)[codes]
        positions = (rules != "").nonzero()[0]
        result[variable] = column.mask((rules != "") & pd.notna(texts), texts)
        reports.append(pd.DataFrame({"dataset": dataset_name, "variable": variable, "row": positions + 1,
                                     "original": column.iloc[positions].to_numpy(), "replacement": texts[positions],
                                     "rule": rules[positions]}))
    report = pd.concat(reports, ignore_index=True) if reports else pd.DataFrame(columns=REPORT_COLUMNS)
    unchanged = report["original"] == report["replacement"]  # a dictionary entry that maps a value to itself
    return result, report.loc[~unchanged, REPORT_COLUMNS].reset_index(drop=True)
