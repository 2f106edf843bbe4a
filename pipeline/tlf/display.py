"""From ARD + shell to a display (only text, what every template renders): titles, headers, lines of cells.

Nothing here computes a statistic: values come from the ARD and are only rounded and placed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from pipeline.analysis.ard import BIG_N_ROW
from pipeline.analysis.shell import Shell
from pipeline.common.errors import ConfigError, InputError
from pipeline.tlf.formatting import format_cell, format_stat

HEADING, STAT, BLANK, GROUP = "heading", "stat", "blank", "group"


@dataclass(frozen=True)
class Line:
    """One display line: a label (indented ``indent`` levels), one text cell per column.

    ``block`` numbers the lines kept together on a page; ``kind`` is ``heading``, ``stat``,
    ``blank`` or ``group`` (a listing's treatment heading spanning the page).
    """

    label: str
    cells: tuple[str, ...]
    indent: int = 0
    block: int = 0
    kind: str = STAT


@dataclass(frozen=True)
class Display:
    """A table or listing ready to render."""

    output_id: str
    number: str
    title: str
    population: str
    label_header: str | None
    column_headers: tuple[str, ...]
    lines: tuple[Line, ...]
    footnotes: tuple[str, ...]
    top_left: str = ""
    second_left: str = ""
    kind: str = "table"
    column_widths: tuple[int, ...] = field(default_factory=tuple)
    column_align: tuple[str, ...] = field(default_factory=tuple)
    header_lines: tuple[str, ...] = field(default_factory=tuple)
    decimal_align: bool = False

    @property
    def has_label_column(self) -> bool:
        return self.label_header is not None

    @property
    def rendered_lines(self) -> tuple[Line, ...]:
        """The lines as the renderers place them: cells decimal-aligned per column when asked."""
        return tuple(align_columns(list(self.lines))) if self.decimal_align else self.lines


def stat_lookup(ard: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(row_id, group): {stat: value}}`` of an ARD frame.

    >>> ard = pd.DataFrame({"row_id": ["sae", "sae"], "group": ["A", "A"], "stat": ["n", "pct"], "value": [6.0, 15.4]})
    >>> stat_lookup(ard)[("sae", "A")]
    {'n': 6.0, 'pct': 15.4}
    """
    lookup: dict[tuple[str, str], dict[str, Any]] = {}
    # one pass over the rows (a listing has a key per record: no frame per key)
    for row_id, group, stat, value in zip(ard["row_id"], ard["group"], ard["stat"], ard["value"]):
        if not (_missing(row_id) or _missing(group)):   # as groupby: rows with a missing key are left out
            lookup.setdefault((str(row_id), str(group)), {})[stat] = value
    return lookup


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def column_groups(ard: pd.DataFrame) -> list[str]:
    """Column groups in ARD order, read from the ``big_n`` rows.

    >>> column_groups(pd.DataFrame({"row_id": ["big_n", "big_n", "x"], "group": ["A", "B", "C"]}))
    ['A', 'B']
    """
    groups = ard.loc[ard["row_id"] == BIG_N_ROW, "group"]
    return list(dict.fromkeys(groups.astype(str)))


def _display_items(shell: Shell, output_id: str, row: Mapping[str, Any]) -> list[dict]:
    output = shell.outputs[output_id]
    items = row.get("display") or (output.get("display_by_method") or {}).get(row["method"]) or output.get("display")
    if not items:
        raise ConfigError(f"{shell.where(output_id, row)}: no 'display' (cell formats) for this row or output")
    return list(items)


class _Builder:
    def __init__(self, shell: Shell, output_id: str, ard: pd.DataFrame) -> None:
        self.shell = shell
        self.output_id = output_id
        self.ard = ard
        self.groups = column_groups(ard)
        self.lookup = stat_lookup(ard)
        self.missing = str(shell.setting(output_id, "missing_value", "NE"))
        self.lines: list[Line] = []
        self.block = 0

    def cells(self, row: Mapping[str, Any], row_id: str, item: Mapping[str, Any],
              groups: list[str] | None = None) -> tuple[str, ...]:
        decimals = self.shell.decimals(self.output_id, row)
        decimals.update(item.get("decimals") or {})
        result = []
        for group in self.groups:
            values = self.lookup.get((row_id, group))
            if values is None or (groups is not None and group not in groups):
                result.append("")
                continue
            try:
                result.append(format_cell(item["format"], values, decimals, self.missing, item.get("zero_format")))
            except KeyError as exc:
                raise ConfigError(f"{self.shell.where(self.output_id, row)}: {exc.args[0]}") from None
        return tuple(result)

    def add(self, label: str, cells: tuple[str, ...] | None = None, indent: int = 0, kind: str = STAT) -> None:
        self.lines.append(Line(label, cells if cells is not None else ("",) * len(self.groups), indent,
                               self.block, kind))

    def blank(self) -> None:
        if self.lines and self.lines[-1].kind != BLANK:
            self.add("", kind=BLANK)

    def new_block(self) -> None:
        if self.lines:
            self.blank()
            self.block += 1

    def simple_row(self, row: Mapping[str, Any]) -> None:
        row_id = row["id"]
        if not any(key[0] == row_id for key in self.lookup):
            raise InputError(f"ARD {self.output_id}: no statistics for row {row_id!r} (rerun the analysis)")
        items = _display_items(self.shell, self.output_id, row)
        self.new_block()
        first, rest = (items[0], items[1:]) if items[0].get("label", "") == "" else (None, items)
        self.add(row.get("label", row_id), self.cells(row, row_id, first) if first else None, 0, HEADING)
        for item in rest:
            self.add(item["label"], self.cells(row, row_id, item), 1)
        self.comparison_lines(row, row.get("comparison_row"), 1)

    def comparison_lines(self, row: Mapping[str, Any], comparison_id: str | None, indent: int) -> None:
        """The row's ``comparison_display`` lines, filled in for the groups compared (none: no lines)."""
        compared = [g for (rid, g) in self.lookup if rid == comparison_id] if comparison_id else []
        for item in row.get("comparison_display") or [] if compared else []:
            self.add(item["label"], self.cells(row, comparison_id, item, compared), indent)

    def visit_rows(self, row: Mapping[str, Any]) -> None:
        """A by-visit model (``mmrm``): per visit a heading, the display items and the comparison."""
        items = _display_items(self.shell, self.output_id, row)
        comparison = row.get("comparison_row")
        visits = [str(v) for v in (row.get("visits") or [])] or [
            str(r).split("@", 1)[1] for r in dict.fromkeys(self.ard["row_id"]) if str(r).startswith(f"{row['id']}@")]
        self.new_block()
        self.add(row.get("label", row["id"]), None, 0, HEADING)
        for visit in visits:
            row_id = f"{row['id']}@{visit}"
            if not any(key[0] == row_id for key in self.lookup):
                continue
            self.add(str(row.get("visit_labels", {}).get(visit, visit.title())), None, 1, HEADING)
            for item in items:
                self.add(item["label"], self.cells(row, row_id, item), 2)
            self.comparison_lines(row, f"{comparison}@{visit}" if comparison else None, 2)

    def categorical_row(self, row: Mapping[str, Any]) -> None:
        prefix = f"{row['variable']}="
        row_ids = [r for r in dict.fromkeys(self.ard["row_id"]) if str(r).startswith(prefix)]
        labels = dict(zip(self.ard["row_id"], self.ard["row_label"]))
        items = _display_items(self.shell, self.output_id, row)
        self.new_block()
        self.add(row.get("label", row["variable"]), None, 0, HEADING)
        for row_id in row_ids:
            for item in items:
                label = item.get("label") or labels[row_id]
                self.add(label, self.cells(row, row_id, item), 1)

    def soc_pt_rows(self, row: Mapping[str, Any]) -> None:
        items = _display_items(self.shell, self.output_id, row)
        item = items[0]
        labels = dict(zip(self.ard["row_id"], self.ard["row_label"]))
        for row_id in dict.fromkeys(self.ard["row_id"]):
            if row_id == BIG_N_ROW:
                continue
            is_pt = "|" in str(row_id)
            if not is_pt:
                self.new_block()
            self.add(labels[row_id], self.cells(row, row_id, item), 1 if is_pt else 0, STAT if is_pt else HEADING)

    def listing_rows(self, row: Mapping[str, Any], big_n: dict[str, Any]) -> None:
        columns = [c["variable"] for c in row["columns"]]
        records = self.ard.loc[self.ard["row_id"] != BIG_N_ROW]
        header = str(self.shell.setting(self.output_id, "group_heading", "{group} (N={N})"))
        subject_var = columns[0]  # the first listed column is the subject: repeats of it are blanked
        previous_group, previous_subject = None, None
        for (row_id, group), values in stat_lookup(records).items():
            if group != previous_group:
                self.new_block()
                n = format_stat("N", big_n.get(group), {"N": 0}, self.missing)
                self.add(header.format(group=group, N=n), (), 0, GROUP)
                previous_subject = None
            subject = values.get(subject_var, "")
            if subject != previous_subject and previous_subject is not None:
                self.block += 1
            cells = tuple("" if values.get(c) is None else str(values.get(c)) for c in columns)
            if subject == previous_subject:
                cells = ("",) + cells[1:]
            self.add("", cells, 0, STAT)
            previous_group, previous_subject = group, subject
        if records.empty:
            self.add("No records to list.", (), 0, GROUP)


# how a method's ARD rows become lines; any other method is one heading with its display items
ROW_LAYOUTS = {"categorical_summary": _Builder.categorical_row, "soc_pt_counts": _Builder.soc_pt_rows,
               "mmrm": _Builder.visit_rows}


def source_note(shell: Shell, output_id: str) -> str:
    """The traceability footnote: the ADaM datasets the output reads and its ARD file.

    >>> from pipeline.analysis.examples import example_shell
    >>> source_note(example_shell(), "table1")
    'Source: ADSL, ADLB, ADRS, ADSLEDAI; analysis results ard/table1.parquet.'
    """
    adsl = str(shell.defaults.get("adsl", "adsl"))
    names = [adsl] + [str(row.get("dataset") or adsl) for row in shell.outputs[output_id]["rows"]]
    datasets = ", ".join(name.upper() for name in dict.fromkeys(n.lower() for n in names))
    return f"Source: {datasets}; analysis results ard/{output_id}.parquet."


def header_lines(shell: Shell, output_id: str, run_info: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Header lines of every page: program, run date and data cut, dictionary versions.

    The run date is the data cut (from ``ard/run_info.json``), so outputs stay deterministic.

    >>> from pipeline.analysis.examples import example_shell
    >>> header_lines(example_shell(), "table2", {"data_cut": "2021-05-04", "run_date": "2021-05-04",
    ...                                          "dictionaries": {"MedDRA": "27.0"}})
    ('Program: python -m pipeline tables, shell tlf.yaml outputs.table2', 'Run date: 2021-05-04 (= data cut)   Data cut: 2021-05-04   Dictionaries: MedDRA 27.0')
    """
    if run_info is None:
        return ()
    cut = run_info.get("data_cut") or "not declared"
    dictionaries = ", ".join(f"{k} {v}" for k, v in (run_info.get("dictionaries") or {}).items()) or "none declared"
    return (f"Program: python -m pipeline tables, shell {shell.path.name} outputs.{output_id}",
            f"Run date: {run_info.get('run_date') or cut} (= data cut)   Data cut: {cut}   Dictionaries: {dictionaries}")


def decimal_anchor(cell: str) -> int:
    """Where a cell's leading number has its decimal point (or would have it).

    >>> decimal_anchor("0.369 (0.304, 0.448)"), decimal_anchor("37"), decimal_anchor("3/37 (8.1)"), decimal_anchor("")
    (1, 2, 4, 0)
    """
    token = cell.split(" ", 1)[0]
    return token.index(".") if "." in token else len(token)


def align_decimals(cells: list[str]) -> list[str]:
    """Pad a column's cells so the decimal points of their leading numbers line up, all one width.

    >>> align_decimals(["37", "0.369 (0.304, 0.448)", "-2.8 (7.16)", ""])
    ['37                   ', ' 0.369 (0.304, 0.448)', '-2.8 (7.16)          ', '']
    """
    filled = [c for c in cells if c]
    if not filled:
        return list(cells)
    anchor = max(decimal_anchor(c) for c in filled)
    padded = [" " * (anchor - decimal_anchor(c)) + c if c else "" for c in cells]
    width = max(len(c) for c in padded)
    return [c.ljust(width) if c else "" for c in padded]


def align_columns(lines: list[Line]) -> list[Line]:
    """Decimal-align every treatment column of a table's lines (:func:`align_decimals`)."""
    if not lines:
        return lines
    count = max(len(line.cells) for line in lines)
    columns = [align_decimals([line.cells[k] if k < len(line.cells) else "" for line in lines]) for k in range(count)]
    return [Line(line.label, tuple(columns[k][i] for k in range(len(line.cells))), line.indent, line.block, line.kind)
            for i, line in enumerate(lines)]


def build_display(shell: Shell, output_id: str, ard: pd.DataFrame,
                  run_info: Mapping[str, Any] | None = None) -> Display:
    """Lay out one output of the shell from its ARD.

    >>> from pipeline.analysis.examples import EXAMPLE_DESIGN, example_adam, example_shell
    >>> from pipeline.analysis.stage import build_output_ard
    >>> shell, adam = example_shell(), example_adam()
    >>> ard = build_output_ard(shell, "table2", EXAMPLE_DESIGN, adam.__getitem__)
    >>> display = build_display(shell, "table2", ard)
    >>> display.column_headers
    ('Active\\n(N=5)', 'Placebo\\n(N=3)', 'Total\\n(N=8)')
    >>> [line.cells for line in display.lines if line.label == "Any serious TEAE"]
    [('2 (40.0)', '1 (33.3)', '3 (37.5)')]
    """
    if output_id not in shell.outputs:
        raise ConfigError(f"{shell.path}: no output {output_id!r}")
    output = shell.outputs[output_id]
    builder = _Builder(shell, output_id, ard)
    big_n = {g: builder.lookup.get((BIG_N_ROW, g), {}).get("N") for g in builder.groups}
    is_listing = output.get("kind") == "listing"
    population = shell.populations[output["population"]]["label"]
    widths: tuple[int, ...] = ()
    aligns: tuple[str, ...] = ()
    if is_listing:
        row = output["rows"][0]
        builder.listing_rows(row, big_n)
        headers = tuple(str(c.get("label", c["variable"])) for c in row["columns"])
        widths = tuple(int(c.get("width", 12)) for c in row["columns"])
        aligns = tuple(str(c.get("align", "left")) for c in row["columns"])
        label_header = None
    else:
        header_pattern = str(shell.setting(output_id, "column_header", "{group}\n(N={big_n})"))
        headers = tuple(header_pattern.replace("{group}", g).replace(
            "{big_n}", format_stat("N", big_n[g], {"N": 0}, builder.missing)) for g in builder.groups)
        for row in output["rows"]:
            if row["method"] == "listing":
                raise ConfigError(f"{shell.where(output_id, row)}: method listing needs 'kind: listing' on the output")
            ROW_LAYOUTS.get(row["method"], _Builder.simple_row)(builder, row)
        label_header = str(output.get("label_header", ""))
    lines = builder.lines
    while lines and lines[-1].kind == BLANK:
        lines = lines[:-1]
    decimal_align = not is_listing and bool(output.get("decimal_align", shell.defaults.get("decimal_align", True)))
    period = shell.period(output_id)
    notes = ([period.footnote()] if period else []) + shell.estimand_footnotes(output_id)
    notes += [str(f) for f in output.get("footnotes") or ()]
    return Display(
        output_id=output_id, number=str(output.get("number", "")), title=str(output["title"]),
        population=str(population), label_header=label_header, column_headers=headers, lines=tuple(lines),
        footnotes=tuple(notes) + (source_note(shell, output_id),),
        top_left=str(shell.setting(output_id, "sponsor_line", "")),
        second_left=str(shell.setting(output_id, "status_line", "")), kind="listing" if is_listing else "table",
        column_widths=widths, column_align=aligns, header_lines=header_lines(shell, output_id, run_info),
        decimal_align=decimal_align)
