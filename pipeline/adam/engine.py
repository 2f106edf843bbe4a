"""Run the derivations written in ``specs/<study>/adam.yaml``: each step names one verb and its arguments.

A spec line and a line of code correspond (sdtm.oak's habit): a dataset is a ``source`` plus an
ordered list of ``steps``; each step is a mapping with exactly one key, the verb, whose value holds
the verb's keyword arguments. Verbs come from a closed registry (:data:`VERBS`). Wherever a verb
takes a data frame (``dataset_add``, ``dataset_ref``), the spec gives a *dataset reference*:

- ``{sdtm: ex}``: an SDTM domain; ``{adam: adsl}``: a dataset built earlier in the same spec;
- ``{design: arms}``: a list in ``study.yaml`` (dotted path) as a table;
- ``{standard: instruments/selena-sledai, path: items}``: a list in a ``specs/standards`` YAML file;
- ``{table: [{...}, ...]}``: an inline table (e.g. the PARAMCD <- LBTESTCD map);
- ``{windows: {visits: [...], first_lower: 2, extra: [...]}}``: analysis windows from study.yaml visits;

each optionally with ``filter`` (rows to keep), ``steps`` (its own derivations) and ``keep``
(columns). Filters, conditions and computed values are written in the expression language of
``pipeline.common.expressions`` (docs/expression-language.md) and all parsed before any data is
read. Strings may contain ``${path}`` placeholders replaced by the literal of a ``study.yaml``
value, e.g. ``"CMDECOD in ${rescue_therapy.medications}"``.

A step may add ``optional: true``: when it names an SDTM domain the study does not have, it is
skipped with a warning (variables it would create should then be ``optional`` in ``variables``),
or replaced by the single step given as ``otherwise:`` (e.g. ``{assign: {MAJDVFL: "N"}}``).

Besides the verbs, a few table operations exist as steps: ``filter`` (keep rows), ``compute``
(``{VAR: expression}``), ``assign`` (``{VAR: constant}``), ``round`` (``{VAR: digits}``, half away
from zero), ``rename``, ``drop``, ``union`` (append records of other references) and ``sort``.

A dataset may appear twice: the later entry (``source: {adam: adsl}``) replaces the first, so ADSL
can be built in two passes around the BDS datasets that need its TRTSDT. Each dataset ends with
``variables`` (name, label, type, method, ``optional``) that order, type and select the output
and document it for define.xml; ``keys`` sort it and must be unique.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline import adam
from pipeline.adam._utils import DerivationError, as_text, copy_frame, eval_condition, sort_frame
from pipeline.common.errors import ConfigError, PipelineError
from pipeline.common.expressions import ExpressionError, evaluate, parse
from pipeline.common.logs import get_logger
from pipeline.common.numbers import round_half_away
from pipeline.common.specfile import MarkedDict, SpecProblems, line_of, load_spec
from pipeline.common.study import resolve_placeholders, study_value

VERBS: dict[str, Callable[..., pd.DataFrame]] = {name: getattr(adam, name) for name in adam.__all__
                                                  if name.startswith("derive_")}
FRAME_ARGS = ("dataset_add", "dataset_ref")
TABLE_OPS = ("filter", "compute", "assign", "round", "rename", "drop", "union", "sort")
log = get_logger("adam")
# Spec keys whose text is an expression, and keys whose mapping values each are one
EXPRESSION_KEYS = {"filter", "filter_add", "filter_join", "condition", "analysis_value"}
EXPRESSION_MAPS = {"compute", "rules"}


class MissingSource(PipelineError):
    """A dataset reference names an SDTM domain that the study does not have."""


class Engine:
    """Builds the datasets of one ADaM spec from source frames.

    >>> dm = pd.DataFrame({"USUBJID": ["1", "2"], "AGE": [40, 70]})
    >>> spec = {"datasets": [{"name": "ADSL", "source": {"sdtm": "dm"}, "steps": [
    ...     {"derive_vars_cat": {"definition": [{"condition": "AGE < ${cut}", "AGEGR1": "<65"},
    ...                                         {"condition": "AGE >= ${cut}", "AGEGR1": ">=65"}]}}]}]}
    >>> Engine(spec, {"dm": dm}, design={"cut": 65}).build()["ADSL"]["AGEGR1"].tolist()
    ['<65', '>=65']
    """

    def __init__(self, spec: Mapping[str, Any], sdtm: Mapping[str, pd.DataFrame],
                 design: Mapping[str, Any] | None = None, spec_path: str | Path = "adam.yaml",
                 standards_dir: str | Path | None = None) -> None:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("datasets"), list):
            raise ConfigError(f"{spec_path}: expected a mapping with a 'datasets' list")
        self.spec = spec
        self.sdtm = sdtm
        self.sdtm_names = {str(k).lower(): k for k in sdtm.keys()}
        self.design = design or {}
        self.spec_path = str(spec_path)
        self.standards_dir = standards_dir
        self.built: dict[str, pd.DataFrame] = {}
        self.sdtm_reads_left: dict[str, int] = {}  # counted only by build_each
        self.check_expressions()

    # -- placeholders -------------------------------------------------------------------------
    def design_value(self, path: str, where: str) -> Any:
        try:
            return study_value(self.design, path)
        except KeyError:
            raise ConfigError(f"{self.spec_path}: {where}: study.yaml has no '{path}'") from None

    def resolve(self, value: Any, where: str) -> Any:
        """Replace ``${path}`` placeholders in strings, recursively."""
        return resolve_placeholders(value, lambda path: self.design_value(path, where))

    def check_expressions(self) -> None:
        """Parse every filter, condition and computed value, and check every step's verb, before any
        data is touched; every problem of the file is reported together (``file:line: where: problem``).

        A spec error then stops the stage at once, naming the dataset, step and key, instead of
        after minutes of derivations (or, for an optional step, never).

        >>> spec = load_spec(Path("adam.yaml"), text="datasets:\\n  - name: ADSL\\n    source: {sdtm: dm}\\n"
        ...     "    steps:\\n      - derive_magic: {}\\n      - filter: 'AGE >'\\n")
        >>> Engine(spec, {})
        Traceback (most recent call last):
        pipeline.common.errors.ConfigError: 2 problems in the spec files:
        adam.yaml:5: dataset ADSL step 1 (derive_magic): unknown verb 'derive_magic' ...
        adam.yaml:6: dataset ADSL: steps 2 filter: ...
        """
        problems = SpecProblems()

        def place(node: Any, key: Any, fallback: str = self.spec_path) -> str:
            line = line_of(node, key)
            return f"{self.spec_path}:{line}" if line else fallback

        def check(text: Any, where: str, at: str) -> None:
            if isinstance(text, str):
                with problems.check():
                    try:
                        parse(self.resolve(text, where))
                    except ExpressionError as exc:
                        raise ConfigError(f"{at}: {where}: {exc}") from None

        def check_verbs(steps: Any, name: str) -> None:
            for number, step in enumerate(steps if isinstance(steps, list) else [], start=1):
                verbs = [k for k in step if k not in ("optional", "otherwise")] if isinstance(step, Mapping) else []
                if len(verbs) == 1 and verbs[0] not in VERBS and verbs[0] not in TABLE_OPS:
                    with problems.check():
                        raise ConfigError(f"{place(steps, number - 1)}: dataset {name} step {number} ({verbs[0]}): "
                                          f"unknown verb '{verbs[0]}' (known: {', '.join(sorted(VERBS) + list(TABLE_OPS))})")

        def visit(value: Any, where: str, at: str) -> None:
            if isinstance(value, Mapping):
                for key, child in value.items():
                    here, child_at = f"{where} {key}", place(value, key, at)
                    if key in EXPRESSION_MAPS and isinstance(child, Mapping):
                        for variable, text in child.items():
                            check(text, f"{here} {variable}", place(child, variable, child_at))
                    elif key in EXPRESSION_KEYS:
                        check(child, here, child_at)
                    else:
                        visit(child, here, child_at)
            elif isinstance(value, list):
                for number, item in enumerate(value, start=1):
                    visit(item, f"{where} {number}", place(value, number - 1, at))

        for index, dataset_spec in enumerate(self.spec["datasets"]):
            if isinstance(dataset_spec, Mapping):
                name = str(dataset_spec.get("name", "")).upper()
                at = place(self.spec["datasets"], index)
                scoped = {k: v for k, v in dataset_spec.items() if k in ("source", "steps")}
                if isinstance(dataset_spec, MarkedDict):  # keep the lines of the keys kept
                    scoped = MarkedDict(scoped)
                    scoped.line, scoped.lines = dataset_spec.line, dataset_spec.lines
                check_verbs(dataset_spec.get("steps"), name)
                visit(scoped, f"dataset {name}:", at)
        problems.raise_if_any()

    # -- references ---------------------------------------------------------------------------
    def frame(self, ref: Any, where: str) -> pd.DataFrame:
        """A data frame from a dataset reference (see the module docstring)."""
        if isinstance(ref, str):
            ref = {"sdtm": ref}
        if not isinstance(ref, Mapping):
            raise ConfigError(f"{self.spec_path}: {where}: a dataset reference must be a mapping, got {ref!r}")
        kinds = [k for k in ("sdtm", "adam", "design", "standard", "table", "windows") if k in ref]
        if len(kinds) != 1:
            raise ConfigError(f"{self.spec_path}: {where}: give exactly one of sdtm, adam, design, standard, "
                              "table, windows")
        kind = kinds[0]
        if kind == "sdtm":
            name = str(ref["sdtm"]).lower()
            if name not in self.sdtm_names:
                raise MissingSource(f"{self.spec_path}: {where}: SDTM domain {name.upper()} is not available "
                                    f"(have: {', '.join(sorted(self.sdtm_names)) or 'none'})")
            frame = self.sdtm[self.sdtm_names[name]]
            self.count_sdtm_read(name)
        elif kind == "adam":
            name = str(ref["adam"]).upper()
            if name not in self.built:
                raise ConfigError(f"{self.spec_path}: {where}: ADaM dataset {name} is not built yet "
                                  "(datasets are built in the order listed)")
            frame = self.built[name]
        elif kind == "design":
            value = self.design_value(str(ref["design"]), where)
            if not isinstance(value, list):
                raise ConfigError(f"{self.spec_path}: {where}: study.yaml '{ref['design']}' is not a list")
            frame = pd.DataFrame([v if isinstance(v, Mapping) else {"value": v} for v in value])
        elif kind == "standard":
            frame = self.standard_table(str(ref["standard"]), str(ref.get("path", "")), where)
        elif kind == "table":
            frame = pd.DataFrame(list(self.resolve(ref["table"], where)))
        else:
            frame = self.windows(ref["windows"], where)
        if "filter" in ref:
            label = f"{kind} {ref[kind]}" if kind in ("sdtm", "adam", "design", "standard") else kind
            frame = frame.loc[eval_condition(frame, self.resolve(ref["filter"], where), "filter", label)]
        if "steps" in ref:
            frame = self.run_steps(frame, ref["steps"], where)
        if "keep" in ref:
            keep = list(ref["keep"])
            missing = [c for c in keep if c not in frame.columns]
            if missing:
                raise ConfigError(f"{self.spec_path}: {where}: keep names unknown variables {missing}")
            frame = frame[keep]
        return frame

    def standard_table(self, name: str, path: str, where: str) -> pd.DataFrame:
        """A list inside a YAML file of ``specs/standards`` (e.g. an instrument's ``items``) as a table."""
        if self.standards_dir is None:
            raise ConfigError(f"{self.spec_path}: {where}: no standards folder given to the engine")
        file = (Path(self.standards_dir) / name)
        file = file if file.suffix else file.with_suffix(".yaml")
        value: Any = load_spec(file)
        for part in [p for p in path.split(".") if p]:
            if not isinstance(value, Mapping) or part not in value:
                raise ConfigError(f"{self.spec_path}: {where}: {file} has no '{path}'")
            value = value[part]
        if not isinstance(value, list):
            raise ConfigError(f"{self.spec_path}: {where}: {file} '{path}' is not a list")
        return pd.DataFrame(list(value))

    def windows(self, spec: Mapping[str, Any], where: str) -> pd.DataFrame:
        """Analysis windows from ``study.yaml`` visits: ``{visits: [...], first_lower, last_upper, extra}``."""
        source = str(spec.get("from", "visits"))
        visits = pd.DataFrame(self.design_value(source, where))
        missing = [key for key in ("visit", "visitnum", "day") if key not in visits.columns]
        if missing:
            raise ConfigError(f"{self.spec_path}: {where}: study.yaml '{source}' entries need "
                              f"{', '.join(missing)} for analysis windows")
        names = spec.get("visits")
        if names:
            unknown = sorted(set(names) - set(visits["visit"]))
            if unknown:
                raise ConfigError(f"{self.spec_path}: {where}: windows name visits not in study.yaml: {unknown}")
            visits = visits[visits["visit"].isin(names)]
        targets = [{"AVISIT": r.visit, "AVISITN": float(r.visitnum), "AWTARGET": float(r.day)}
                   for r in visits.itertuples()]
        table = adam.compute_windows(targets, spec.get("first_lower"), spec.get("last_upper"))
        extra = pd.DataFrame(list(spec.get("extra", [])))
        if not extra.empty:
            for col in ("AVISITN", "AWTARGET", "AWLO", "AWHI"):
                extra[col] = pd.to_numeric(extra.get(col), errors="coerce").astype(float)
            table = pd.concat([extra[table.columns], table], ignore_index=True)
        return table

    # -- steps --------------------------------------------------------------------------------
    def run_steps(self, frame: pd.DataFrame, steps: Any, where: str) -> pd.DataFrame:
        if not isinstance(steps, list):
            raise ConfigError(f"{self.spec_path}: {where}: steps must be a list")
        for number, step in enumerate(steps, start=1):
            step = dict(step) if isinstance(step, Mapping) else step
            optional = bool(step.pop("optional", False)) if isinstance(step, dict) else False
            otherwise = step.pop("otherwise", None) if isinstance(step, dict) and optional else None
            if not isinstance(step, Mapping) or len(step) != 1:
                raise ConfigError(f"{self.spec_path}: {where} step {number}: a step is a mapping with one key "
                                  f"(the verb) and optionally 'optional: true' (with 'otherwise: <step>'), got {step!r}")
            (verb, args), = step.items()
            here = f"{where} step {number} ({verb})"
            try:
                frame = self.run_step(frame, verb, args, here)
            except MissingSource as exc:
                if not optional:
                    raise
                log.warning("skipped optional step: %s", exc)
                if otherwise is not None:  # e.g. {assign: {MAJDVFL: "N"}} when the study has no DV domain
                    frame = self.run_steps(frame, [otherwise], f"{where} step {number} (otherwise)")
            except DerivationError as exc:
                raise DerivationError(f"{self.spec_path}: {here}: {exc}") from None
        return frame

    def run_step(self, frame: pd.DataFrame, verb: str, args: Any, where: str) -> pd.DataFrame:
        args = self.resolve(args, where)
        if verb in TABLE_OPS:
            return self.table_op(frame, verb, args, where)
        if verb not in VERBS:
            raise ConfigError(f"{self.spec_path}: {where}: unknown verb '{verb}' "
                              f"(known: {', '.join(sorted(VERBS) + list(TABLE_OPS))})")
        if not isinstance(args, Mapping):
            raise ConfigError(f"{self.spec_path}: {where}: arguments must be a mapping")
        kwargs = dict(args)
        for name in FRAME_ARGS:
            if name in kwargs:
                kwargs[name] = self.frame(kwargs[name], f"{where} {name}")
        if "windows" in kwargs and isinstance(kwargs["windows"], Mapping):
            kwargs["windows"] = self.frame(kwargs["windows"], f"{where} windows")
        try:
            return VERBS[verb](frame, **kwargs)
        except TypeError as exc:
            if "argument" in str(exc):
                raise ConfigError(f"{self.spec_path}: {where}: {exc}") from None
            raise

    def table_op(self, frame: pd.DataFrame, op: str, args: Any, where: str) -> pd.DataFrame:
        if op == "filter":
            return frame.loc[eval_condition(frame, args, "filter", where)]
        if op == "compute":
            out = copy_frame(frame)
            for var, expression in dict(args).items():
                try:
                    out[var] = evaluate(out, str(expression)) if not out.empty else pd.Series(dtype=float)
                except ExpressionError as exc:
                    raise DerivationError(f"{self.spec_path}: {where}: compute {var}: {exc}") from None
            return out
        if op == "assign":
            out = copy_frame(frame)
            for var, value in dict(args).items():
                out[var] = pd.Series([value] * len(out), index=out.index, dtype=object if isinstance(value, str)
                                     or value is None else None)
            return out
        if op == "round":
            out = copy_frame(frame)
            missing = [var for var in dict(args) if var not in out.columns]
            if missing:
                raise ConfigError(f"{self.spec_path}: {where}: round names unknown variables {missing}")
            for var, digits in dict(args).items():
                out[var] = round_half_away(pd.to_numeric(out[var]).astype(float), int(digits))
            return out
        if op == "rename":
            return frame.rename(columns=dict(args))
        if op == "drop":
            return frame.drop(columns=[c for c in args if c in frame.columns])
        if op == "union":
            refs = args if isinstance(args, list) else [args]
            parts = [frame] + [self.frame(ref, f"{where} union {i + 1}") for i, ref in enumerate(refs)]
            return pd.concat([p for p in parts if not p.empty] or [frame], ignore_index=True)
        if op == "sort":
            return sort_frame(frame, [], list(args)).reset_index(drop=True)
        raise ConfigError(f"{self.spec_path}: {where}: unknown table operation {op}")

    # -- datasets -----------------------------------------------------------------------------
    def build_dataset(self, dataset_spec: Mapping[str, Any]) -> pd.DataFrame:
        name = str(dataset_spec.get("name", "")).upper()
        if not name:
            raise ConfigError(f"{self.spec_path}: a dataset has no name")
        where = f"dataset {name}"
        # no local name holds the source or the derived frame: each can be freed once the next step has
        # replaced it, and finalise can let go of the columns it replaces
        steps = dataset_spec.get("steps", [])
        return finalise(self.run_steps(self.frame(dataset_spec.get("source"), f"{where} source"), steps, where),
                        dataset_spec, f"{self.spec_path}: {where}")

    def build(self, only: list[str] | None = None) -> dict[str, pd.DataFrame]:
        """Build every dataset in spec order (or only those named and what they need before them)."""
        for dataset_spec in self.spec["datasets"]:
            name = str(dataset_spec.get("name", "")).upper()
            self.built[name] = self.build_dataset(dataset_spec)
            if only and all(n.upper() in self.built for n in only):
                break
        return dict(self.built)

    def last_uses(self) -> tuple[dict[str, int], dict[str, int]]:
        """For each SDTM domain and each ADaM dataset, the index of the last ``datasets`` entry that reads
        it (any ``{sdtm: ...}`` / ``{adam: ...}`` reference in its source or steps) or, for ADaM, builds it.

        A name given by a placeholder that does not resolve cannot be known: every domain and dataset is
        then kept to the end (the step itself reports the error when it runs).

        >>> spec = {"datasets": [{"name": "ADSL", "source": {"sdtm": "dm"}},
        ...     {"name": "ADAE", "source": {"sdtm": "ae"},
        ...      "steps": [{"derive_vars_merged": {"dataset_add": {"adam": "adsl"}}}]},
        ...     {"name": "ADSL", "source": {"adam": "adsl"}}]}
        >>> Engine(spec, {}).last_uses()
        ({'dm': 0, 'ae': 1}, {'ADSL': 2, 'ADAE': 1})
        """
        last, _ = self.references()
        return last["sdtm"], last["adam"]

    def references(self) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
        """``({"sdtm": {domain: last index}, "adam": {dataset: last index}}, {domain: number of references})``
        for :meth:`last_uses` and :meth:`build_each`; with a name that cannot be resolved, every last index is
        the end and no reference is counted."""
        datasets = self.spec["datasets"]
        last: dict[str, dict[str, int]] = {"sdtm": {}, "adam": {}}
        reads: dict[str, int] = {}

        def visit(value: Any, index: int, where: str) -> None:
            if isinstance(value, Mapping):
                for key, child in value.items():
                    if key in last and not isinstance(child, (Mapping, list)):
                        name = str(self.resolve(child, where))
                        last[key][name.lower() if key == "sdtm" else name.upper()] = index
                        if key == "sdtm":
                            reads[name.lower()] = reads.get(name.lower(), 0) + 1
                    else:
                        visit(child, index, where)
            elif isinstance(value, list):
                for item in value:
                    visit(item, index, where)

        try:
            for index, dataset_spec in enumerate(datasets):
                name = str(dataset_spec.get("name", "")).upper() if isinstance(dataset_spec, Mapping) else ""
                last["adam"][name] = index
                visit(dataset_spec, index, f"dataset {name}")
        except ConfigError:
            end = len(datasets) - 1
            return {kind: {name: end for name in names} for kind, names in last.items()}, {}
        return last, reads

    def count_sdtm_read(self, domain: str) -> None:
        """One reference to an SDTM domain was read; after the last one (counted by :meth:`build_each`) the
        source mapping may forget the frame, so that it is freed as soon as the step reading it is done."""
        if domain in self.sdtm_reads_left:
            self.sdtm_reads_left[domain] -= 1
            forget = getattr(self.sdtm, "forget", None)
            if self.sdtm_reads_left[domain] <= 0 and forget is not None:
                forget(self.sdtm_names[domain])

    def build_each(self, on_done: Callable[[str, pd.DataFrame], None]) -> None:
        """Build every dataset in spec order, handing each to ``on_done`` (e.g. to write it) as soon as no
        later entry reads or rebuilds it, and then forgetting it; an SDTM domain is forgotten after the
        last entry that reads it (when the source mapping can ``forget``, like the stage's lazy reader).

        Only the frames still needed are held, so peak memory is that of the largest step, not of all
        sources and datasets together.

        >>> dm = pd.DataFrame({"USUBJID": ["1", "2"]})
        >>> done = []
        >>> Engine({"datasets": [{"name": "ADSL", "source": {"sdtm": "dm"}}]}, {"dm": dm}).build_each(
        ...     lambda name, frame: done.append((name, len(frame))))
        >>> done
        [('ADSL', 2)]
        """
        last, self.sdtm_reads_left = self.references()
        last_sdtm, last_adam = last["sdtm"], last["adam"]
        forget = getattr(self.sdtm, "forget", None)
        for index, dataset_spec in enumerate(self.spec["datasets"]):
            name = str(dataset_spec.get("name", "")).upper()
            self.built[name] = self.build_dataset(dataset_spec)
            for domain in [d for d, last in last_sdtm.items() if last == index and d in self.sdtm_names]:
                if forget is not None:
                    forget(self.sdtm_names[domain])
            for done in [n for n, last in last_adam.items() if last == index and n in self.built]:
                on_done(done, self.built.pop(done))


_TYPES = {"text", "integer", "float", "date", "datetime"}


def finalise(frame: pd.DataFrame, dataset_spec: Mapping[str, Any], where: str) -> pd.DataFrame:
    """Order, type and select variables as the spec's ``variables`` list says; sort by ``keys``.

    ``keep: listed`` (default) keeps only listed variables; ``keep: all`` keeps the others after them.
    A listed variable the derivation did not create is an error, unless it says ``optional: true``
    (then it is added empty).

    >>> df = pd.DataFrame({"B": ["x", "y"], "A": [2, 1], "C": [0, 0]})
    >>> finalise(df, {"keys": ["A"], "variables": [{"name": "A", "type": "float"}, {"name": "B", "type": "text"}]}, "t")
         A  B
    0  1.0  y
    1  2.0  x
    """
    variables = list(dataset_spec.get("variables") or [])
    names = [str(v["name"]) for v in variables]
    out = copy_frame(frame)
    for var in variables:  # optional variables that the sources did not provide are added empty
        if var.get("optional") and var["name"] not in out.columns:
            out[var["name"]] = None
    missing = [n for n in names if n not in out.columns]
    if missing:
        raise ConfigError(f"{where}: variables listed in the spec but not derived: {', '.join(missing)}")
    for var in variables:
        kind = var.get("type", "text")
        if kind not in _TYPES:
            raise ConfigError(f"{where}: variable {var['name']}: type must be one of {sorted(_TYPES)}, got {kind!r}")
        col = out[var["name"]]
        if kind == "text":
            out[var["name"]] = as_text(col)
        elif kind in ("integer", "float"):  # (numbers that are floats already need no conversion)
            out[var["name"]] = col if col.dtype == np.float64 else _convert(col, kind, where, var["name"]).astype(float)
        elif kind in ("date", "datetime"):
            # (pd.to_datetime would walk the values of a column that already holds datetimes)
            converted = col if col.dtype == "datetime64[ns]" else _convert(col, kind, where, var["name"])
            out[var["name"]] = (converted.dt.normalize() if kind == "date" else converted).astype("datetime64[ns]")
    keep = dataset_spec.get("keep", "listed")
    if keep == "all":
        ordered = names + [c for c in out.columns if c not in names and not str(c).startswith("__")]
    elif keep == "listed":
        ordered = names if names else [c for c in out.columns if not str(c).startswith("__")]
    else:
        raise ConfigError(f"{where}: keep must be 'listed' or 'all', got {keep!r}")
    del frame  # the caller's frame, if it held the only reference: its replaced columns are freed below
    out = out[ordered]
    keys = [k for k in dataset_spec.get("keys", []) if k in out.columns]
    if keys:
        positions, repeated = key_order(out[keys])
        if not np.array_equal(positions, np.arange(len(out))):  # (rows already in key order stay where they are)
            out = _move_rows(out, positions)
        if repeated >= 0 and dataset_spec.get("unique_keys", True):
            example = out[keys].iloc[repeated].to_dict()
            raise DerivationError(f"{where}: keys {', '.join(keys)} are not unique, e.g. {example}")
    return out.reset_index(drop=True)


def key_order(keys: pd.DataFrame) -> tuple[np.ndarray, int]:
    """The row positions that sort ``keys`` by every column (ascending, missing last, ties in input order: the
    order of ``sort_frame``), and the first position in that order whose key repeats on the next row (-1 when
    every key is unique). The keys are coded once for both, instead of a sort and a separate duplicate check.

    >>> key_order(pd.DataFrame({"K": ["b", None, "a", "b"], "N": [2.0, 1.0, 1.0, 2.0]}))
    (array([2, 0, 3, 1]), 1)
    """
    codes = []
    for name in keys.columns:
        # the codes of pandas' own multi-key sort (lexsort_indexer): sorted distinct values, missing last
        values = pd.Categorical(keys[name], ordered=True)
        column = values.codes.astype(np.intp)
        codes.append(np.where(column == -1, len(values.categories), column))
    positions = np.lexsort(codes[::-1]) if codes else np.arange(len(keys))
    same = np.ones(max(len(keys) - 1, 0), dtype=bool)
    for column in codes:
        ordered = column[positions]
        same &= ordered[1:] == ordered[:-1]
    return positions, int(same.argmax()) if same.any() else -1


def _move_rows(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """``frame.take(positions)`` with a fresh 0..n-1 index, built one column at a time while the columns are
    removed from ``frame`` (it is left empty: pass a frame of your own), so that each source column can be
    freed once taken and the rows are never held twice in full, as a whole-frame take would.

    >>> frame = pd.DataFrame({"A": [1, 2, 3], "B": ["x", "y", "z"]}, index=[7, 8, 9])
    >>> _move_rows(frame, np.array([2, 0, 1])), frame.shape
    (   A  B
    0  3  z
    1  1  x
    2  2  y, (3, 0))
    """
    if frame.columns.has_duplicates or frame.shape[1] > 100:  # (many single-column blocks are slow in pandas)
        return frame.take(positions).reset_index(drop=True)
    out = pd.DataFrame(index=pd.RangeIndex(len(positions)))
    for name in list(frame.columns):
        column = frame.pop(name)
        # numpy's take for numpy columns (no checks of the positions per column); handed over without a copy
        taken = column.to_numpy().take(positions) if isinstance(column.dtype, np.dtype) else column.array.take(positions)
        out[name] = pd.Series(taken, index=out.index, copy=False)
    return out


def _convert(values: pd.Series, kind: str, where: str, name: str) -> pd.Series:
    """``values`` as numbers (``integer``/``float``) or datetimes; a value that does not convert is an
    error naming the dataset, the variable, the row and the value.

    >>> _convert(pd.Series(["1", "x"]), "float", "adam.yaml: dataset ADSL", "AGE")
    Traceback (most recent call last):
    ...
    pipeline.adam._utils.DerivationError: adam.yaml: dataset ADSL: variable AGE (type float): value 'x' on row 2 is not a float
    """
    convert = pd.to_numeric if kind in ("integer", "float") else pd.to_datetime
    try:
        return convert(values, errors="raise")
    except (ValueError, TypeError, OverflowError) as exc:
        coerced = convert(values, errors="coerce")
        lost = coerced.isna() & values.notna() & (values.astype(str).str.strip() != "")
        if lost.any():
            row = int(lost.to_numpy().argmax())
            detail = f"value {values.iloc[row]!r} on row {row + 1} is not a {kind}"
        else:
            detail = f"values are not {kind}s ({exc})"
        raise DerivationError(f"{where}: variable {name} (type {kind}): {detail}") from None


_ARROW_READY_KINDS = "fiMb"  # float, integer, datetime64 and bool columns go to Arrow as they are


def parquet_table(frame: pd.DataFrame, dataset_spec: Mapping[str, Any]) -> pa.Table:
    """The Arrow table that ``write_parquet_atomic`` writes for ``parquet_ready(frame, dataset_spec)``, the same
    schema and values, built one column at a time: text goes from its Python strings straight to Arrow, without
    the intermediate ``string`` column (a copy that checks every value) of :func:`parquet_ready`.

    >>> frame = pd.DataFrame({"USUBJID": ["1", None], "AVAL": [1.5, None]})
    >>> spec = {"variables": [{"name": "USUBJID"}, {"name": "AVAL", "type": "float"}]}
    >>> parquet_table(frame, spec).equals(pa.Table.from_pandas(parquet_ready(frame, spec), preserve_index=False))
    True
    """
    schema = pa.Schema.from_pandas(parquet_ready(frame.iloc[:0], dataset_spec), preserve_index=False)
    arrays = []
    for name, field in zip(frame.columns, schema):
        values = frame[name]
        if values.dtype == object and pa.types.is_string(field.type):
            try:
                arrays.append(pa.array(values.to_numpy(), type=pa.string(), from_pandas=True))
                continue
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # values that are not all text
                break
        elif values.dtype.kind in _ARROW_READY_KINDS and not isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
            arrays.append(pa.Array.from_pandas(values, type=field.type))
            continue
        break
    if len(arrays) != len(schema) or frame.columns.has_duplicates:  # anything else: as parquet_ready converts it
        return pa.Table.from_pandas(parquet_ready(frame, dataset_spec).reset_index(drop=True), preserve_index=False)
    return pa.Table.from_arrays(arrays, schema=schema)


def parquet_ready(frame: pd.DataFrame, dataset_spec: Mapping[str, Any]) -> pd.DataFrame:
    """Typed columns for parquet: text variables as strings (also when all missing), numbers as floats.

    >>> parquet_ready(pd.DataFrame({"DTHFL": [None]}), {"variables": [{"name": "DTHFL", "type": "text"}]}).dtypes.tolist()
    [string[python]]
    """
    out = copy_frame(frame)
    types = {str(v["name"]): v.get("type", "text") for v in dataset_spec.get("variables") or []}
    for col in out.columns:
        kind = types.get(col)
        if kind == "text" or (kind is None and out[col].dtype == object):
            out[col] = out[col].astype("string")
    return out
