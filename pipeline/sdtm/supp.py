"""Supplemental qualifiers: build SUPP-- frames, and split text longer than 200 bytes (SDTMIG 4.5.3).

Public interface:
- ``build_supp(dataset, domain, qnam_specs)``: one SUPP-- row per parent record per non-null QNAM.
- ``split_long_text(text, width=200)``: pieces of at most ``width`` bytes, broken between words.
- ``nulls_as_none(frame)``: every column as objects with None for missing (the SDTM frames' null).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pipeline.common.errors import ConfigError, InputError
from pipeline.sdtm.derive_helpers import (
    blank_to_na, check_domain, check_frame, check_variable_name, first_rows, format_number)

SUPP_COLUMNS = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG", "QEVAL"]
MAX_TEXT_BYTES = 200
MAX_LABEL = 40
AUTO = "auto"


def nulls_as_none(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """A copy of ``frame`` whose columns (but ``exclude``) hold objects, None where missing.

    >>> nulls_as_none(pd.DataFrame({"A": [1.5, None], "N": [1.0, None]}), exclude=("N",)).values.tolist()
    [[1.5, 1.0], [None, nan]]
    """
    out = frame.copy()
    for column in out.columns:
        if column not in exclude:
            out[column] = out[column].astype("object").where(out[column].notna(), None)
    return out


def split_long_text(text: pd.Series, width: int = MAX_TEXT_BYTES) -> pd.DataFrame:
    """Split text into pieces of at most ``width`` UTF-8 bytes; column 0 is the first piece.

    A piece ends at the last space that fits (the space itself is dropped, so rejoin pieces with
    a space); a word longer than ``width`` is cut hard. Short values come back whole in column 0;
    unused pieces are None. Only values longer than ``width`` are looked at one by one.

    >>> pieces = split_long_text(pd.Series(["short", "aaa bbb ccc", None]), width=8)
    >>> pieces
             0     1
    0    short  None
    1  aaa bbb   ccc
    2     None  None
    """
    if not isinstance(width, int) or width < 1:
        raise ConfigError(f"argument width: {width!r} must be a positive integer")
    values = text.astype("object").where(text.notna(), None)
    as_string = values.astype("string")
    too_long = (as_string.str.encode("utf-8").str.len() > width).fillna(False).astype(bool)
    pieces: dict[Any, list[str]] = {}
    for index, value in values[too_long].items():
        pieces[index] = _split_one(str(value), width)
    n_columns = max([1, *map(len, pieces.values())])
    frame = pd.DataFrame({col: pd.Series(None, index=text.index, dtype=object) for col in range(n_columns)})
    frame[0] = values
    for index, parts in pieces.items():
        for col, part in enumerate(parts):
            frame.at[index, col] = part
    return frame.astype(object).where(frame.notna(), None)


def _split_one(value: str, width: int) -> list[str]:
    parts = []
    rest = value
    while len(rest.encode("utf-8")) > width:
        window = rest[:width]
        while len(window.encode("utf-8")) > width:
            window = window[:-1]
        if rest[len(window) : len(window) + 1] == " ":  # the window ends exactly at a word end
            parts.append(window)
            rest = rest[len(window) + 1 :]
            continue
        cut = window.rfind(" ")
        if cut > 0:
            parts.append(window[:cut])
            rest = rest[cut + 1 :]
        else:
            parts.append(window)
            rest = rest[len(window) :]
    if rest:
        parts.append(rest)
    return parts


def _specs(qnam_specs: Sequence[Mapping[str, Any]] | pd.DataFrame, domain: str) -> list[dict[str, Any]]:
    if isinstance(qnam_specs, pd.DataFrame):
        records = qnam_specs.to_dict("records")
    elif isinstance(qnam_specs, Sequence) and not isinstance(qnam_specs, str):
        records = [dict(spec) if isinstance(spec, Mapping) else spec for spec in qnam_specs]
    else:
        raise ConfigError(f"SUPP{domain}: qnam_specs must be a list of {{qnam, qlabel, ...}} or a DataFrame")
    specs = []
    for position, spec in enumerate(records):
        where = f"SUPP{domain} qnam_specs[{position}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping with qnam and qlabel, got {spec!r}")
        lower = {str(key).lower(): value for key, value in spec.items()}
        qnam = check_variable_name(lower.get("qnam"), f"{where}.qnam")
        qlabel = lower.get("qlabel")
        if not isinstance(qlabel, str) or not qlabel.strip() or len(qlabel) > MAX_LABEL:
            raise ConfigError(f"{where}: qlabel {qlabel!r} must be text of 1 to {MAX_LABEL} characters")
        specs.append({"qnam": qnam, "qlabel": qlabel.strip(), "source": lower.get("source") or qnam,
                      "qorig": lower.get("qorig") or "CRF", "qeval": lower.get("qeval")})
    names = [spec["qnam"] for spec in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"SUPP{domain} qnam_specs: QNAM repeated ({', '.join(sorted({n for n in names if names.count(n) > 1}))})")
    return specs


def idvar_values(dataset: pd.DataFrame, domain: str, idvar: str, target: str) -> pd.Series:
    """IDVARVAL of each record: ``idvar`` as text (numbers without ``.0``); a missing one names the rows."""
    raw = dataset[idvar]
    text = format_number(raw) if pd.api.types.is_numeric_dtype(raw) else blank_to_na(raw.astype("object"))
    if text.isna().any():
        raise InputError(f"dataset {domain}: {idvar} is missing, {target} cannot point at "
                         + first_rows(text.isna(), dataset, ["USUBJID", idvar]))
    return text


def _parent_keys(dataset: pd.DataFrame, domain: str, idvar: str | None) -> pd.DataFrame:
    if idvar is None:
        duplicated = dataset.duplicated("USUBJID", keep=False)
        if duplicated.any():
            raise InputError(f"dataset {domain}: subject-level SUPP{domain} (IDVAR null) needs one record per subject "
                             f"({first_rows(duplicated, dataset, ['USUBJID'])})")
        return pd.DataFrame({"IDVAR": None, "IDVARVAL": None, "_order": 0.0}, index=dataset.index)
    check_frame(dataset, domain, [idvar])
    text = idvar_values(dataset, domain, idvar, f"SUPP{domain}")
    duplicated = pd.DataFrame({"u": dataset["USUBJID"], "v": text}).duplicated(keep=False)
    if duplicated.any():
        raise InputError(f"dataset {domain}: {idvar} is not unique within USUBJID ({first_rows(duplicated, dataset, ['USUBJID', idvar])})")
    order = pd.to_numeric(text, errors="coerce")
    return pd.DataFrame({"IDVAR": idvar, "IDVARVAL": text, "_order": order}, index=dataset.index)


def build_supp(
    dataset: pd.DataFrame,
    domain: str,
    qnam_specs: Sequence[Mapping[str, Any]] | pd.DataFrame,
    idvar: str | None = AUTO,
    width: int = MAX_TEXT_BYTES,
) -> pd.DataFrame:
    """Build SUPP<domain>: one row per parent record per QNAM whose value is not null or blank.

    Args:
        qnam_specs: one entry per QNAM: ``qnam`` (<= 8 chars), ``qlabel`` (<= 40 chars), ``source``
            (column holding the value, default = qnam), ``qorig`` (default ``CRF``), ``qeval`` (optional).
        idvar: variable that identifies the parent record; ``"auto"`` = ``<domain>SEQ`` except for DM,
            where SUPPDM rows are subject-level (IDVAR and IDVARVAL null); ``None`` forces subject level.

    QVAL is text: numbers are written without a trailing ``.0``. A value longer than ``width``
    bytes continues in extra rows with QNAM + ``1``, ``2`` ... (the base QNAM must then leave room
    for the suffix) and QLABEL + `` 1``, `` 2`` .... Rows are sorted by USUBJID, IDVARVAL (numeric),
    QNAM order of the spec. The parent dataset is not modified.

    >>> ae = pd.DataFrame({"STUDYID": "X", "USUBJID": ["S1", "S1", "S2"], "AESEQ": [1, 2, 1],
    ...                    "AETRTEM": ["Y", None, "Y"], "AESPEC": [None, "Rash on both arms", ""]})
    >>> build_supp(ae, "AE", [{"qnam": "AETRTEM", "qlabel": "Treatment Emergent Flag", "qorig": "Derived"},
    ...                       {"qnam": "AESPEC", "qlabel": "Specify Event"}])[["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL", "QORIG"]]
      USUBJID  IDVAR IDVARVAL     QNAM               QVAL    QORIG
    0      S1  AESEQ        1  AETRTEM                  Y  Derived
    1      S1  AESEQ        2   AESPEC  Rash on both arms      CRF
    2      S2  AESEQ        1  AETRTEM                  Y  Derived
    """
    check_domain(domain)
    specs = _specs(qnam_specs, domain)
    check_frame(dataset, domain, ["STUDYID", "USUBJID", *[spec["source"] for spec in specs]])
    if idvar == AUTO:
        idvar = None if domain == "DM" else f"{domain}SEQ"
    keys = _parent_keys(dataset, domain, idvar)
    frames = []
    for position, spec in enumerate(specs):
        raw = dataset[spec["source"]]
        value = format_number(raw) if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw) else blank_to_na(raw.astype("object").where(raw.notna(), None).map(lambda v: v if v is None or isinstance(v, str) else str(v)))
        present = value.notna()
        if not present.any():
            continue
        pieces = split_long_text(value[present], width)
        if pieces.shape[1] > 1 and len(spec["qnam"]) + len(str(pieces.shape[1] - 1)) > 8:
            raise ConfigError(f"SUPP{domain}: {spec['qnam']} has values over {width} bytes; the QNAM must be short "
                              f"enough to add a suffix 1..{pieces.shape[1] - 1} within 8 characters")
        for piece in range(pieces.shape[1]):
            part = pieces[piece].dropna()
            if part.empty:
                continue
            suffix = "" if piece == 0 else str(piece)
            label = spec["qlabel"] if piece == 0 else f"{spec['qlabel'][: MAX_LABEL - len(suffix) - 1]} {suffix}"
            rows = part.index
            frames.append(pd.DataFrame({
                "STUDYID": dataset.loc[rows, "STUDYID"].to_numpy(), "RDOMAIN": domain,
                "USUBJID": dataset.loc[rows, "USUBJID"].to_numpy(), "IDVAR": keys.loc[rows, "IDVAR"].to_numpy(),
                "IDVARVAL": keys.loc[rows, "IDVARVAL"].to_numpy(), "QNAM": spec["qnam"] + suffix, "QLABEL": label,
                "QVAL": part.to_numpy(), "QORIG": spec["qorig"], "QEVAL": spec["qeval"],
                "_order": keys.loc[rows, "_order"].to_numpy(), "_spec": position, "_piece": piece}))
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in SUPP_COLUMNS})
    supp = pd.concat(frames, ignore_index=True)
    supp = supp.sort_values(["STUDYID", "USUBJID", "_order", "IDVARVAL", "_spec", "_piece"], kind="mergesort", na_position="first")
    return nulls_as_none(supp[SUPP_COLUMNS].reset_index(drop=True))

