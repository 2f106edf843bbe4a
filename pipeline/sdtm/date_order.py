"""Day and month order of declared date formats, checked against the values a site actually sent.

``%d/%m/%Y`` and ``%m/%d/%Y`` both read ``03/04/2024``: a wrong declaration passes silently for
every day up to the 12th, and only the later days are quarantined as impossible dates. So before
anything is mapped, every raw column whose values match a declared numeric day-month format is
read both ways; each row is *declared only* (the day is above 12), *swapped only* (the "month" is
above 12) or *either* (both at most 12). A column with swapped-only rows and no declared-only row
looks like it was written in the other order; a file whose swapped-only share exceeds the
quarantine threshold stops the stage, because most of its dates would be wrong or lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from pipeline.sdtm.mapping.dates import format_to_regex

LINEAGE = ("_file", "_row", "_site", "_subject")


def swapped_format(fmt: str) -> str | None:
    """The format with day and month exchanged, for a format with numeric day and month; else None.

    >>> swapped_format("%d/%m/%Y"), swapped_format("%m-%d-%Y %H:%M"), swapped_format("%d-%b-%Y")
    ('%m/%d/%Y', '%d-%m-%Y %H:%M', None)
    """
    if "%d" not in fmt or "%m" not in fmt:
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


@dataclass(frozen=True)
class DateOrderFinding:
    """One raw column read with a day-month format: how many rows only the declared or the swapped order reads."""

    file: str
    site: str
    column: str
    declared: str
    swapped: str
    rows: int                 # rows of the file
    matching: int             # rows whose value has the format's shape
    declared_only: int
    swapped_only: int
    either: int

    @property
    def swapped_share(self) -> float:
        return self.swapped_only / self.rows if self.rows else 0.0

    @property
    def looks_swapped(self) -> bool:
        return self.swapped_only > 0 and self.declared_only == 0

    def message(self) -> str:
        verdict = (f"looks like '{self.swapped}'" if self.looks_swapped else
                   f"{self.declared_only} row(s) read only as declared")
        return (f"{self.file}: column '{self.column}' (site {self.site}): declared date format '{self.declared}' but "
                f"{self.swapped_only} of {self.rows} rows ({self.swapped_share:.1%}) are valid only as "
                f"'{self.swapped}' ({verdict}; {self.either} more read either way would get day and month swapped)")


def check_date_order(frame: pd.DataFrame, formats: tuple[str, ...] | list[str], file: str = "", site: str = ""
                     ) -> list[DateOrderFinding]:
    """Every column of ``frame`` read with a declared day-month format that some row can only be read swapped.

    >>> frame = pd.DataFrame({"visit_date": ["03/13/2024", "01/20/2024", "02/03/2024", ""], "n": ["1", "2", "3", "4"]})
    >>> [f.message() for f in check_date_order(frame, ["%d/%m/%Y"], "site_03/vs.csv", "03")]  # doctest: +NORMALIZE_WHITESPACE
    ["site_03/vs.csv: column 'visit_date' (site 03): declared date format '%d/%m/%Y' but 2 of 4 rows (50.0%) are
      valid only as '%m/%d/%Y' (looks like '%m/%d/%Y'; 1 more read either way would get day and month swapped)"]
    >>> check_date_order(frame, ["%m/%d/%Y"])
    []
    """
    findings = []
    columns = [c for c in frame.columns if c not in LINEAGE]
    for fmt in formats:
        swapped = swapped_format(fmt)
        if swapped is None:
            continue
        pattern = re.compile(format_to_regex(fmt))
        for column in columns:
            distinct = frame[column].dropna().unique()
            if not any(pattern.search(str(v).strip()) for v in distinct if str(v)):
                continue  # no value has the format's shape (most columns): skip the pandas work below
            counts = frame[column].value_counts()
            counts = counts[counts.index.astype(str).str.len() > 0]
            if counts.empty:
                continue
            parts = counts.index.to_series().astype(str).str.strip().str.extract(pattern.pattern)
            if "d" not in parts or "m" not in parts:
                continue
            day = pd.to_numeric(parts["d"], errors="coerce")
            month = pd.to_numeric(parts["m"], errors="coerce")
            shaped = day.notna() & month.notna()
            if not shaped.any():
                continue
            declared_ok = shaped & month.between(1, 12) & day.between(1, 31)
            swapped_ok = shaped & day.between(1, 12) & month.between(1, 31)
            weights = counts.to_numpy()
            swapped_only = int(weights[(swapped_ok & ~declared_ok).to_numpy()].sum())
            if not swapped_only:
                continue
            findings.append(DateOrderFinding(
                file=file, site=site, column=str(column), declared=fmt, swapped=swapped, rows=len(frame),
                matching=int(weights[shaped.to_numpy()].sum()),
                declared_only=int(weights[(declared_ok & ~swapped_ok).to_numpy()].sum()),
                swapped_only=swapped_only, either=int(weights[(declared_ok & swapped_ok).to_numpy()].sum())))
    return findings
