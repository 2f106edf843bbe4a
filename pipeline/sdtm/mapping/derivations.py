"""The closed registries of the mapping file's derivation sections, parsed into typed steps at load.

``derivations:`` names record derivations run after mapping (admiral's vocabulary: each entry calls
one verb of ``pipeline/sdtm/derive_*.py``); ``derived_records:`` names functions that add records
(:mod:`pipeline.sdtm.mapping.records`). Like the algorithms registry, an entry declares its keys
(each of a :data:`pipeline.common.specfile.KINDS` kind), the required ones and the allowed choices,
so a misspelt key or value fails when the mapping file is loaded, naming its line.

Steps run in registry order (visit, dy, epoch, seq, lobxfl); ``reference`` is the subject-level
step the stage runs on DM first (with its defaults when the block is absent).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable

import pandas as pd

from pipeline.common.specfile import Where, check_keys, check_value
from pipeline.sdtm.derive_var_dy import derive_var_dy
from pipeline.sdtm.derive_var_epoch import BEFORE_FIRST_RULES, PARTIAL_RULES, SAME_DAY_RULES, derive_var_epoch
from pipeline.sdtm.derive_var_lobxfl import derive_var_lobxfl
from pipeline.sdtm.derive_var_seq import derive_var_seq
from pipeline.sdtm.derive_vars_dm_reference import (
    ARM_NULL_STYLES, RFENDTC_SOURCES, RFSTDTC_SOURCES, derive_vars_dm_reference)
from pipeline.sdtm.derive_vars_visit import derive_vars_visit
from pipeline.sdtm.mapping.records import RATIO_SCHEMA, RatioSpec


@dataclass(frozen=True)
class DerivationContext:
    """What a derivation step may read besides the domain's records: DM, SE, TV, EX, DS and the design."""

    domain: str
    dm: pd.DataFrame
    se: pd.DataFrame | None = None
    tv: pd.DataFrame | None = None
    ex: pd.DataFrame | None = None
    ds: pd.DataFrame | None = None
    design: dict[str, Any] = field(default_factory=dict)
    increment: float = 0.01


@dataclass(frozen=True)
class VisitParams:
    dtc: str
    visit_var: str = "VISIT"
    increment: float | None = None


@dataclass(frozen=True)
class DyParams:
    dtc: str
    new_var: str


@dataclass(frozen=True)
class EpochParams:
    dtc: str
    same_day: str = "later"
    before_first: str = "null"
    partial: str = "null"


@dataclass(frozen=True)
class SeqParams:
    order: tuple[str, ...]


@dataclass(frozen=True)
class LobxflParams:
    by: tuple[str, ...]
    dtc: str
    result: str


@dataclass(frozen=True)
class ReferenceParams:
    arm_null: str | None = None
    rfstdtc_from: str | None = None
    rfendtc_from: str | None = None
    consent_decod: str | None = None
    randomized_decod: str | None = None
    screen_failure_decod: str | None = None
    death_decod: str | None = None


def _visit(data: pd.DataFrame, p: VisitParams, ctx: DerivationContext) -> pd.DataFrame:
    if ctx.tv is None:
        return data
    return derive_vars_visit(data, ctx.tv, dtc_var=p.dtc, visit_var=p.visit_var,
                             increment=float(p.increment if p.increment is not None else ctx.increment))


def _epoch(data: pd.DataFrame, p: EpochParams, ctx: DerivationContext) -> pd.DataFrame:
    if ctx.se is None:
        return data
    return derive_var_epoch(data, ctx.se, dtc_var=p.dtc, same_day=p.same_day, before_first=p.before_first,
                            partial=p.partial)


def _seq(data: pd.DataFrame, p: SeqParams, ctx: DerivationContext) -> pd.DataFrame:
    data = data.assign(**{c: None for c in p.order if c not in data.columns})  # a Perm variable nobody collected
    return derive_var_seq(data, ctx.domain, order=list(p.order))


def _reference(dm: pd.DataFrame, p: ReferenceParams, ctx: DerivationContext) -> pd.DataFrame:
    empty_ex = pd.DataFrame(columns=["USUBJID", "EXTRT", "EXSTDTC"])
    empty_ds = pd.DataFrame(columns=["USUBJID", "DSDECOD", "DSSTDTC"])
    given = {f.name: getattr(p, f.name) for f in fields(p) if getattr(p, f.name) is not None}
    return derive_vars_dm_reference(dm, ctx.ex if ctx.ex is not None else empty_ex,
                                    ctx.ds if ctx.ds is not None else empty_ds, ctx.design, **given)


def required_fields(spec: type) -> tuple[str, ...]:
    """The fields of a spec dataclass without a default (its required keys); ``where`` is the loader's."""
    return tuple(f.name for f in fields(spec)
                 if f.default is MISSING and f.default_factory is MISSING and f.name != "where")


def _as_typed(value: Any) -> Any:
    """YAML lists as tuples, so parsed steps are immutable."""
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Derivation:
    """A registry entry: the mapping key, the verb it calls, its keys (name -> kind) and choices."""

    name: str
    verb: str
    params: type
    keys: dict[str, str]
    run: Callable[[pd.DataFrame, Any, DerivationContext], pd.DataFrame]
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    many: bool = False            # a list of steps (dy: one per date)
    subject_level: bool = False   # run on DM before the records' steps (reference)

    @property
    def required(self) -> tuple[str, ...]:
        return required_fields(self.params)

    def default_step(self) -> "DerivationStep":
        """The step with every parameter at its default (DM's reference when the mapping names none)."""
        return DerivationStep(self, self.params(), None)

    def parse_one(self, node: Any, where: Where, label: str) -> "DerivationStep":
        check_keys(node, self.keys, where, label, self.required)
        for key, allowed in self.choices.items():
            if key in node and node[key] not in allowed:
                raise where.at(node, key).error(f"{label}.{key}: one of {', '.join(allowed)}, got {node[key]!r}")
        params = self.params(**{k: _as_typed(v) for k, v in node.items() if v is not None})
        return DerivationStep(self, params, where)


@dataclass(frozen=True)
class DerivationStep:
    """One parsed item of ``derivations:``: the registry entry and its typed parameters."""

    derivation: Derivation
    params: Any
    where: Where | None

    def apply(self, data: pd.DataFrame, ctx: DerivationContext) -> pd.DataFrame:
        return self.derivation.run(data, self.params, ctx)


DERIVATIONS: dict[str, Derivation] = {d.name: d for d in [
    Derivation("visit", "derive_vars_visit", VisitParams, {"dtc": "name", "visit_var": "name", "increment": "positive"},
               _visit),
    Derivation("dy", "derive_var_dy", DyParams, {"dtc": "name", "new_var": "name"},
               lambda data, p, ctx: derive_var_dy(data, ctx.dm, dtc_var=p.dtc, new_var=p.new_var), many=True),
    Derivation("epoch", "derive_var_epoch", EpochParams,
               {"dtc": "name", "same_day": "text", "before_first": "text", "partial": "text"}, _epoch,
               choices={"same_day": tuple(sorted(SAME_DAY_RULES)), "before_first": BEFORE_FIRST_RULES, "partial": PARTIAL_RULES}),
    Derivation("seq", "derive_var_seq", SeqParams, {"order": "names"}, _seq),
    Derivation("lobxfl", "derive_var_lobxfl", LobxflParams, {"by": "names", "dtc": "name", "result": "name"},
               lambda data, p, ctx: derive_var_lobxfl(data, ctx.dm, by_vars=list(p.by), dtc_var=p.dtc,
                                                      result_var=p.result)),
    Derivation("reference", "derive_vars_dm_reference", ReferenceParams,
               {"arm_null": "text", "rfstdtc_from": "text", "rfendtc_from": "text", "consent_decod": "text",
                "randomized_decod": "text", "screen_failure_decod": "text", "death_decod": "text"}, _reference,
               choices={"arm_null": ARM_NULL_STYLES, "rfstdtc_from": RFSTDTC_SOURCES, "rfendtc_from": RFENDTC_SOURCES},
               subject_level=True),
]}


def parse_derivations(node: Any, where: Where, check: Callable[[], Any]) -> tuple[DerivationStep, ...]:
    """The ``derivations:`` block as steps in registry order; each problem is reported through
    ``check`` (a :meth:`~pipeline.common.specfile.SpecProblems.check`) and the step left out.

    >>> from pathlib import Path
    >>> from pipeline.common.specfile import SpecProblems
    >>> problems = SpecProblems()
    >>> steps = parse_derivations({"dy": "abc", "seq": {"order": ["AESTDTC"]}, "epoch": {"dtc": "AESTDTC", "same_day": "soon"}},
    ...                           Where(Path("ae.yaml"), 60), problems.check)
    >>> [s.derivation.verb for s in steps], problems.lines
    (['derive_var_seq'], ["ae.yaml:60: derivations.dy: expected a list, got 'abc'", "ae.yaml:60: derivations.epoch.same_day: one of earlier, later, got 'soon'"])
    """
    if node is None:
        return ()
    with check():
        check_keys(node, {name: "list" if d.many else "mapping" for name, d in DERIVATIONS.items()}, where, "derivations")
    steps: list[DerivationStep] = []
    for name, derivation in DERIVATIONS.items():
        if not isinstance(node, dict) or node.get(name) is None:
            continue
        block = node[name]
        items = block if derivation.many and isinstance(block, list) else [block]
        for index, item in enumerate(items):
            with check():
                if derivation.many:
                    check_value(block, "list", where.at(node, name), f"derivations.{name}")
                item_where = where.at(block, index) if derivation.many else where.at(node, name)
                label = f"derivations.{name}" + (f"[{index + 1}]" if derivation.many else "")
                steps.append(derivation.parse_one(item, item_where, label))
    return tuple(steps)


# --- derived_records ---------------------------------------------------------------------------

RECORD_FUNCTIONS: dict[str, tuple[dict[str, str], type]] = {"ratio": (RATIO_SCHEMA, RatioSpec)}  # (keys, typed spec)


def parse_derived_record(node: Any, where: Where, label: str) -> Any:
    """One ``derived_records`` item as its function's typed spec.

    >>> from pathlib import Path
    >>> parse_derived_record({"function": "ratio", "numerator": {"K": "A"}, "denominatr": {}}, Where(Path("lb.yaml"), 9),
    ...                      "derived_records[1]")
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: lb.yaml:9: derived_records[1]: unknown key 'denominatr' (known: analyte, common_unit, denominator, description, digits, function, match_on, numerator, set_values_to, text_to, unit, unless_present, value)
    """
    if not isinstance(node, dict) or node.get("function") not in RECORD_FUNCTIONS:
        shown = node.get("function") if isinstance(node, dict) else node
        raise where.error(f"{label}.function: one of {', '.join(RECORD_FUNCTIONS)}, got {shown!r}")
    keys, spec = RECORD_FUNCTIONS[node["function"]]
    check_keys(node, keys, where, label, required_fields(spec))
    values = {k: _as_typed(v) for k, v in node.items() if k != "function" and v is not None}
    return spec(**values, where=where)
