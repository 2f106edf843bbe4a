"""Analysis Results Metadata (ARM 1.0, paired with Define-XML 2.1) from the study's shells: each output of
``specs/<study>/tlf.yaml`` is an ``arm:ResultDisplay``, each row reading an ADaM dataset an ``arm:AnalysisResult``
(dataset, record filter as a ``def:WhereClauseDef``, population flag, analysis variables, method). ``reason`` and
``purpose`` come from the shell (ARM terms such as ``SPECIFIED IN SAP``); otherwise the text says they were not
specified, instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.common.expressions import Binary, Call, Column, Literal, Logical, Membership, Node, parse
from pipeline.common.text import value_text
from pipeline.submit.datasetjson import item_group_oid, item_oid

NOT_SPECIFIED = "NOT SPECIFIED IN tlf.yaml"


@dataclass(frozen=True)
class WhereClause:
    """One ``def:WhereClauseDef``: (item OID, comparator, values) conditions joined by AND."""

    oid: str
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]


@dataclass
class AnalysisResult:
    """One ``arm:AnalysisResult`` (a row of a display)."""

    oid: str
    description: str
    reason: str
    purpose: str
    parameter_oid: str | None
    datasets: list[dict[str, Any]]  # item_group_oid, where_oid, variables
    documentation: str
    code: str


@dataclass
class ResultDisplay:
    """One ``arm:ResultDisplay`` (a table)."""

    oid: str
    name: str
    description: str
    results: list[AnalysisResult] = field(default_factory=list)


def compute_where_conditions(where: dict[str, Any], dataset_name: str, columns: set[str]) -> tuple[list, list[str]]:
    """Conditions of a shell filter for the variables the dataset has, and the names it lacks.

    ``{V: x}`` -> EQ, ``{V: [a, b]}`` -> IN, ``{V: {ne: x}}`` -> NE, ``{V: {isnull: true}}`` -> EQ "",
    ``{V: {notnull: true}}`` -> NE "".

    >>> compute_where_conditions({"PARAMCD": "CRR", "AVISIT": ["WEEK 24"], "DTYPE": {"isnull": True}, "X": 1}, "ADRS",
    ...                          {"PARAMCD", "AVISIT", "DTYPE"})
    ([('IT.ADRS.PARAMCD', 'EQ', ('CRR',)), ('IT.ADRS.AVISIT', 'IN', ('WEEK 24',)), ('IT.ADRS.DTYPE', 'EQ', ('',))], ['X'])
    """
    if isinstance(where, str):
        return _expression_conditions(parse(where).root, dataset_name, columns)
    conditions, missing = [], []
    for variable, rule in (where or {}).items():
        variable = str(variable).upper()
        if variable not in columns:
            missing.append(variable)
            continue
        item = item_oid(dataset_name, variable)
        if isinstance(rule, dict):
            if rule.get("isnull"):
                conditions.append((item, "EQ", ("",)))
            elif rule.get("notnull"):
                conditions.append((item, "NE", ("",)))
            elif "ne" in rule:
                conditions.append((item, "NE", (value_text(rule["ne"]),)))
            else:
                missing.append(variable)
        elif isinstance(rule, (list, tuple)):
            conditions.append((item, "IN", tuple(value_text(v) for v in rule)))
        else:
            conditions.append((item, "EQ", (value_text(rule),)))
    return conditions, missing


def _expression_conditions(node: Node, dataset_name: str, columns: set[str]) -> tuple[list, list[str]]:
    """Where-clause conditions of an expression filter: a conjunction of comparisons of a variable
    with values. A part that a RangeCheck cannot say (``or``, arithmetic) is named as missing.

    >>> _expression_conditions(parse("PARAMCD == 'CRR' and AVISIT in ['WEEK 24'] and isna(DTYPE)").root, "ADRS",
    ...                        {"PARAMCD", "AVISIT", "DTYPE"})
    ([('IT.ADRS.PARAMCD', 'EQ', ('CRR',)), ('IT.ADRS.AVISIT', 'IN', ('WEEK 24',)), ('IT.ADRS.DTYPE', 'EQ', ('',))], [])
    """
    parts = node.operands if isinstance(node, Logical) and node.symbol == "and" else (node,)
    conditions, missing = [], []
    for part in parts:
        variable, condition = None, None
        if isinstance(part, Binary) and isinstance(part.left, Column) and isinstance(part.right, Literal) \
                and part.symbol in ("==", "!="):
            variable = part.left.name
            condition = ("EQ" if part.symbol == "==" else "NE", (value_text(part.right.value),))
        elif isinstance(part, Membership) and isinstance(part.operand, Column):
            variable = part.operand.name
            condition = ("NOTIN" if part.negated else "IN", tuple(value_text(v) for v in part.options))
        elif isinstance(part, Call) and part.function.name in ("isna", "notna") and isinstance(part.arguments[0], Column):
            variable, condition = part.arguments[0].name, ("EQ" if part.function.name == "isna" else "NE", ("",))
        if variable is None or variable.upper() not in columns:
            missing.extend(part.columns() or [repr(part)])
            continue
        conditions.append((item_oid(dataset_name, variable.upper()), *condition))
    return conditions, missing


def build_result_displays(tlf_spec: dict[str, Any], columns: dict[str, set[str]]) -> tuple[list[ResultDisplay], list[WhereClause]]:
    """ARM displays and their where clauses from ``tlf.yaml`` for the ADaM datasets present.

    ``columns`` maps each packaged ADaM dataset (upper case) to its variables; rows reading a
    dataset that is not packaged are left out.

    >>> spec = {"populations": {"FAS": {"flag": "FASFL"}},
    ...         "outputs": {"table1": {"number": "Table 14.2-1", "title": "Efficacy", "population": "FAS",
    ...                     "rows": [{"id": "crr", "label": "CRR", "method": "binary_response", "dataset": "adrs",
    ...                               "where": {"PARAMCD": "CRR"}, "response": "AVALC"}]}}}
    >>> displays, clauses = build_result_displays(spec, {"ADRS": {"PARAMCD", "AVALC"}, "ADSL": {"FASFL"}})
    >>> result = displays[0].results[0]
    >>> displays[0].name, result.parameter_oid, [d["item_group_oid"] for d in result.datasets], [c.oid for c in clauses]
    ('Table 14.2-1', 'IT.ADRS.PARAMCD', ['IG.ADSL', 'IG.ADRS'], ['WC.ARM.TABLE1.CRR.ADSL', 'WC.ARM.TABLE1.CRR'])
    """
    displays: list[ResultDisplay] = []
    clauses: list[WhereClause] = []
    populations = tlf_spec.get("populations") or {}
    adsl_name = str((tlf_spec.get("defaults") or {}).get("adsl", "adsl")).upper()
    for output_id, output in (tlf_spec.get("outputs") or {}).items():  # shell order, as in tlf.yaml
        if not isinstance(output, dict):
            continue
        display = ResultDisplay(oid=f"RD.{output_id.upper()}", name=str(output.get("number") or output_id),
                                description=" ".join(str(output.get("title") or output_id).split()))
        population = populations.get(output.get("population"), {}) if output.get("population") else {}
        flag = str(population.get("flag", "")).upper() if isinstance(population, dict) else ""
        for row in output.get("rows") or []:
            if not isinstance(row, dict) or not row.get("dataset"):
                continue
            dataset_name = str(row["dataset"]).upper()
            if dataset_name not in columns:
                continue
            row_id = str(row.get("id") or len(display.results) + 1)
            base_oid = f"ARM.{output_id.upper()}.{row_id.upper()}"
            conditions, missing = compute_where_conditions(row.get("where") or {}, dataset_name, columns[dataset_name])
            datasets = []
            if flag and adsl_name in columns and flag in columns[adsl_name] and dataset_name != adsl_name:
                population_clause = WhereClause(f"WC.{base_oid}.{adsl_name}",
                                                ((item_oid(adsl_name, flag), "EQ", ("Y",)),))
                clauses.append(population_clause)
                datasets.append({"item_group_oid": item_group_oid(adsl_name), "where_oid": population_clause.oid,
                                 "variables": [item_oid(adsl_name, flag)]})
            elif flag and flag in columns[dataset_name]:
                conditions.append((item_oid(dataset_name, flag), "EQ", ("Y",)))
            where_oid = f"WC.{base_oid}" if conditions else None
            if conditions:
                clauses.append(WhereClause(where_oid, tuple(conditions)))
            variables = [row.get("response")] + list(row.get("covariates") or []) + [row.get("variable")]
            item_oids = [item_oid(dataset_name, str(v).upper()) for v in variables
                         if v and str(v).upper() in columns[dataset_name]]
            datasets.append({"item_group_oid": item_group_oid(dataset_name), "where_oid": where_oid,
                             "variables": item_oids})
            method, label = str(row.get("method") or ""), str(row.get("label") or row_id)
            words = [f"{label}: method {method}" if method else label,
                     row.get("response") and f"response {row['response']}",
                     row.get("covariates") and "covariates " + ", ".join(map(str, row["covariates"])),
                     population and f"population {output.get('population')} ({flag} = Y)",
                     missing and "filter variables not in the dataset: " + ", ".join(missing)]
            parameter = item_oid(dataset_name, "PARAMCD") if "PARAMCD" in columns[dataset_name] and \
                "PARAMCD" in {str(k).upper() for k in (row.get("where") or {})} else None
            display.results.append(AnalysisResult(
                oid=f"AR.{output_id.upper()}.{row_id.upper()}",
                description=" ".join(label.split()),
                reason=str(row.get("reason") or output.get("reason") or NOT_SPECIFIED),
                purpose=str(row.get("purpose") or output.get("purpose") or NOT_SPECIFIED),
                parameter_oid=parameter, datasets=datasets, documentation="; ".join(w for w in words if w) + ".",
                code=(f"python -m pipeline tables (output {output_id}, row {row_id}; "
                      f"method {method} in pipeline/analysis/methods.py)"),
            ))
        if display.results:
            displays.append(display)
    return displays, clauses
