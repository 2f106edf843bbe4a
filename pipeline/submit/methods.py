"""define.xml method texts written from the ADaM derivation spec that runs (``specs/<study>/adam.yaml``),
so the text and the derivation come from the same lines (docs/submission-package.md, "Method texts").
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

from pipeline.adam.engine import TABLE_OPS, VERBS
from pipeline.common.study import resolve_placeholders, study_value

PREDECESSOR_TEXT = re.compile(r"[A-Z][A-Z0-9]{1,7}\.[A-Z][A-Z0-9_]{0,7}")
_COPY = re.compile(r"[A-Z0-9]+\.[A-Z0-9_]+")
AVISIT_VARS = ("AVISIT", "AVISITN", "AWTARGET", "AWLO", "AWHI", "AWTDIFF", "AWU")
PREFIXED_OUTPUTS = {"derive_vars_dt": ("DT", "DTF"), "derive_vars_dtm": ("DTM", "DTF", "TMF")}


def _words(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_words(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k} = {_words(v)}" for k, v in value.items())
    if value is None:
        return "missing"
    return str(value)


def _literal(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, str):
        return value[1:] if value.startswith("=") else f"'{value}'"
    return str(value)


def describe_reference(ref: Any) -> str:
    """Words for a dataset reference (``dataset_add``, ``dataset_ref``, ``source``).

    >>> describe_reference({"sdtm": "ds", "filter": "DSDECOD == 'RANDOMIZED'"})
    "SDTM DS records where DSDECOD == 'RANDOMIZED'"
    >>> describe_reference({"table": [{"A": 1, "B": 2}, {"A": 3, "B": 4}]})
    'the table in adam.yaml (A, B; 2 rows)'
    """
    if not isinstance(ref, Mapping):
        return str(ref)
    if "sdtm" in ref:
        text = f"SDTM {str(ref['sdtm']).upper()}"
    elif "adam" in ref:
        text = f"ADaM {str(ref['adam']).upper()}"
    elif "design" in ref:
        text = f"study.yaml {ref['design']}"
    elif "standard" in ref:
        text = f"specs/standards/{ref['standard']}" + (f" {ref['path']}" if ref.get("path") else "")
    elif "table" in ref:
        rows = ref["table"] if isinstance(ref["table"], list) else []
        columns = list(dict.fromkeys(k for row in rows if isinstance(row, Mapping) for k in row))
        text = f"the table in adam.yaml ({', '.join(columns)}; {len(rows)} rows)"
    elif "windows" in ref:
        text = "the analysis windows of study.yaml visits"
    else:
        text = _words(ref)
    if ref.get("filter"):
        text += f" records where {ref['filter']}"
    if ref.get("steps"):
        text += " (" + "; ".join(describe_step(verb, args) for verb, args in _steps(ref["steps"])) + ")"
    return text


def _steps(steps: Any):
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, Mapping):
            continue
        step = dict(step)
        step.pop("optional", None)
        otherwise = step.pop("otherwise", None)
        if len(step) == 1:
            (verb, args), = step.items()
            yield verb, args
        if isinstance(otherwise, Mapping) and len(otherwise) == 1:
            (verb, args), = otherwise.items()
            yield verb, {"__otherwise__": True, **args} if isinstance(args, Mapping) else args


def _defaults(verb: str) -> dict[str, Any]:
    if verb not in VERBS:
        return {}
    return {name: p.default for name, p in inspect.signature(VERBS[verb]).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _new_vars(args: Mapping[str, Any]) -> dict[str, str]:
    new_vars = args.get("new_vars")
    if isinstance(new_vars, Mapping):
        return {str(k): str(v) for k, v in new_vars.items()}
    if isinstance(new_vars, list):
        return {str(v): str(v) for v in new_vars}
    return {}


def step_outputs(verb: str, args: Any) -> list[str]:
    """The variables a step creates or changes.

    >>> step_outputs("derive_vars_dt", {"new_vars_prefix": "AST", "dtc": "AESTDTC"})
    ['ASTDT', 'ASTDTF']
    >>> step_outputs("derive_var_chg", {"filter_add": "ADT > TRTSDT"})
    ['CHG']
    >>> step_outputs("derive_vars_cat", {"definition": [{"condition": "AGE < 40", "AGEGR1": "<40", "AGEGR1N": 1}]})
    ['AGEGR1', 'AGEGR1N']
    """
    if verb in ("compute", "assign", "round"):
        return [str(k) for k in args] if isinstance(args, Mapping) else []
    if verb == "rename":
        return [str(v) for v in args.values()] if isinstance(args, Mapping) else []
    if verb in TABLE_OPS or not isinstance(args, Mapping):
        return []
    out: list[str] = []
    defaults = {**_defaults(verb), **args}
    if verb in PREFIXED_OUTPUTS:
        out += [f"{args.get('new_vars_prefix', '')}{suffix}" for suffix in PREFIXED_OUTPUTS[verb]]
    elif verb == "derive_var_dy":
        out.append(args.get("new_var") or re.sub(r"DTM?$", "DY", str(args.get("source_var", ""))))
    elif verb == "derive_vars_dy":
        sources = args.get("source_vars") or []
        out += list(sources) if isinstance(sources, Mapping) else [re.sub(r"DTM?$", "DY", str(s)) for s in sources]
    elif verb == "derive_vars_avisit":
        out += list(AVISIT_VARS)
    elif verb == "derive_var_crit":
        number = args.get("crit_nr", 1)
        out += [f"CRIT{number}", f"CRIT{number}FL"] + ([f"CRIT{number}FN"] if args.get("create_numeric_flag") else [])
    elif verb == "derive_var_pop_flags":
        out += [str(k) for k in (args.get("rules") or {})]
    elif verb == "derive_vars_cat":
        for row in args.get("definition") or []:
            out += [str(k) for k in row if k != "condition"] if isinstance(row, Mapping) else []
    elif verb in ("derive_vars_merged", "derive_vars_joined"):
        out += list(_new_vars(args))
        if args.get("exist_flag"):
            out.append(str(args["exist_flag"]))
    else:
        new_var = defaults.get("new_var")
        if isinstance(new_var, str) and new_var:
            out.append(new_var)
        elif verb in ("derive_param_computed", "derive_summary_records", "derive_param_exposure", "derive_locf_records"):
            out.append(str(defaults.get("analysis_var") or "AVAL"))
    for key in ("set_values_to", "summary_vars"):
        if isinstance(args.get(key), Mapping):
            out += [str(k) for k in args[key]]
    return list(dict.fromkeys(v for v in out if v))


def _imputation(args: Mapping[str, Any]) -> str:
    parts = []
    level = str(args.get("highest_imputation", "n")).lower()
    if level not in ("n", ""):
        names = {"m": "a missing day or month", "d": "a missing day", "y": "a missing day, month or year",
                 "h": "a missing time", "s": "missing seconds"}
        parts.append(f"imputing {names.get(level, 'components up to ' + level)} to the "
                     f"{args.get('date_imputation', 'first')}")
    if args.get("min_dates"):
        parts.append(f"not before {_words(args['min_dates'])} when in the possible range")
    if args.get("max_dates"):
        parts.append(f"not after {_words(args['max_dates'])} when in the possible range")
    return (", " + ", ".join(parts)) if parts else ""


def describe_step(verb: str, args: Any, variable: str | None = None) -> str:
    """One step in words; with ``variable``, the part that concerns it.

    >>> describe_step("derive_vars_dt", {"new_vars_prefix": "DTH", "dtc": "DTHDTC"}, "DTHDT")
    'DTHDT = date part of DTHDTC (complete dates only)'
    >>> describe_step("derive_var_chg", {"filter_add": "ADT > TRTSDT"}, "CHG")
    'CHG = AVAL - BASE where ADT > TRTSDT'
    >>> describe_step("derive_vars_merged", {"dataset_add": {"sdtm": "sv", "filter": "VISIT == 'WEEK 24'"},
    ...     "by_vars": ["STUDYID", "USUBJID"], "mode": "first", "new_vars": {"W24VISIT": "VISIT"},
    ...     "exist_flag": "COMPLFL", "false_value": "N"}, "COMPLFL")
    "COMPLFL = 'Y' if SDTM SV records where VISIT == 'WEEK 24' has a record with the same STUDYID, USUBJID, else 'N'"
    """
    args = dict(args) if isinstance(args, Mapping) else args
    otherwise = isinstance(args, dict) and args.pop("__otherwise__", False)
    text = _describe(verb, args, variable)
    return ("when that source is absent: " + text) if otherwise else text


_ITEM_TEXT = {"compute": lambda k, v: f"{k} = {v}", "assign": lambda k, v: f"{k} = {_literal(v)}",
              "round": lambda k, v: f"{k} rounded to {v} decimal(s), half away from zero"}


def _describe(verb: str, args: Any, variable: str | None) -> str:
    where = lambda key="filter_add": f" where {args[key]}" if isinstance(args, Mapping) and args.get(key) else ""  # noqa: E731
    if verb in _ITEM_TEXT:
        return "; ".join(_ITEM_TEXT[verb](k, v) for k, v in args.items() if variable is None or k == variable)
    if verb == "rename":
        return "; ".join(f"{new} renamed from {old}" for old, new in args.items() if variable in (None, new))
    if verb == "filter":
        return f"records kept where {args}"
    if verb in TABLE_OPS or not isinstance(args, Mapping):
        return f"{verb} {_words(args)}"
    if verb == "derive_vars_dt":
        prefix = args.get("new_vars_prefix", "")
        if variable and variable.endswith("DTF"):
            return f"{variable} = the highest imputed component (D or M) of {prefix}DT"
        target = variable or f"{prefix}DT"
        imputation = _imputation(args)
        return f"{target} = date part of {args.get('dtc')}" + (imputation or " (complete dates only)")
    if verb == "derive_vars_dtm":
        prefix = args.get("new_vars_prefix", "")
        if variable and variable.endswith("TMF"):
            return f"{variable} = H, M or S when the hours, minutes or seconds of {prefix}DTM were imputed" + \
                (" (seconds not flagged)" if args.get("ignore_seconds_flag") else "")
        if variable and variable.endswith("DTF"):
            return f"{variable} = the highest imputed date component of {prefix}DTM"
        time_imputation = str(args.get("time_imputation", "first"))
        clock = {"first": "00:00:00", "last": "23:59:59"}.get(time_imputation, time_imputation)
        return f"{variable or prefix + 'DTM'} = {args.get('dtc')} as a datetime, a missing time imputed as {clock}" \
            + _imputation({k: v for k, v in args.items() if k != "highest_imputation"})
    if verb in ("derive_var_dy", "derive_vars_dy"):
        reference = args.get("reference_date", "TRTSDT")
        source = args.get("source_var") or ""
        if verb == "derive_vars_dy":
            sources = args.get("source_vars") or []
            mapping = dict(sources) if isinstance(sources, Mapping) else {re.sub(r"DTM?$", "DY", s): s for s in sources}
            source = mapping.get(variable, _words(list(mapping.values())))
        return f"{variable or 'study day'} = {source} - {reference} + 1 on or after {reference}, " \
               f"{source} - {reference} before (no day 0)"
    if verb in ("derive_vars_merged", "derive_vars_joined"):
        ref = describe_reference(args.get("dataset_add"))
        by = _words(args.get("by_vars"))
        new_vars = _new_vars(args)
        if variable and variable == args.get("exist_flag"):
            return f"{variable} = 'Y' if {ref} has a record with the same {by}, else " \
                   f"{_literal(args.get('false_value', 'N')) if args.get('false_value') is not None else 'missing'}"
        pick = ""
        if args.get("mode"):
            pick = f", the {args['mode']} record by {_words(args.get('order'))}" if args.get("order") \
                else f", the {args['mode']} record"
        join = f" and {args['filter_join']}" if args.get("filter_join") else ""
        shown = {k: v for k, v in new_vars.items() if variable is None or k == variable}
        values = "; ".join(f"{k} = {v}" for k, v in shown.items())
        return f"{values} from {ref} matched by {by}{where()}{join}{pick}"
    if verb == "derive_vars_cat":
        parts = []
        for row in args.get("definition") or []:
            if not isinstance(row, Mapping) or (variable and variable not in row):
                continue
            values = ", ".join(f"{k} = {_literal(v)}" for k, v in row.items()
                               if k != "condition" and (variable is None or k == variable))
            condition = str(row.get("condition", "True"))
            parts.append(values if condition == "True" else f"{values} if {condition}")
        text = "; otherwise ".join(parts)
        if not args.get("overwrite") and all(str(r.get("condition")) != "True" for r in args.get("definition") or []
                                             if isinstance(r, Mapping)):
            text += "; otherwise missing"
        return text
    if verb == "derive_var_pop_flags":
        rules = args.get("rules") or {}
        items = {k: v for k, v in rules.items() if variable is None or k == variable}
        return "; ".join(f"{k} = {_literal(args.get('true_value', 'Y'))} if {v}, else "
                         f"{_literal(args.get('false_value', 'N'))}" for k, v in items.items())
    if verb == "derive_var_crit":
        number = args.get("crit_nr", 1)
        if variable == f"CRIT{number}":
            return f"{variable} = '{args.get('description')}'{where()}"
        yes_no = "Y if the criterion holds, N otherwise" if args.get("values_yn") else "Y if the criterion holds"
        return f"{variable or 'CRIT' + str(number) + 'FL'} = {yes_no}: {args.get('condition')}{where()}"
    if verb == "derive_var_chg":
        return f"{variable or 'CHG'} = {args.get('analysis_var', 'AVAL')} - {args.get('base_var', 'BASE')}{where()}"
    if verb == "derive_var_pchg":
        return f"{variable or 'PCHG'} = 100 x CHG / |BASE|{where()}; missing when BASE = 0"
    if verb == "derive_var_r2base":
        return f"{variable or 'R2BASE'} = AVAL / BASE{where()}; missing when BASE = 0"
    if verb == "derive_var_base":
        record_filter = args.get("filter", "ABLFL == 'Y'")
        return f"{variable or 'BASE'} = {args.get('source_var', 'AVAL')} of the {record_filter} " \
               f"record within {_words(args.get('by_vars'))}"
    if verb == "derive_var_ablfl":
        return f"{variable or 'ABLFL'} = 'Y' on the last record with a non-missing {args.get('analysis_var', 'AVAL')} " \
               f"on or before TRTSDT within {_words(args.get('by_vars'))}, by {_words(args.get('order', ['ADT']))}{where()}"
    if verb == "derive_var_anl01fl":
        return f"{variable or 'ANL01FL'} = 'Y' on the first record within {_words(args.get('by_vars'))} " \
               f"by {_words(args.get('order'))} (closest to the target day){where()}"
    if verb == "derive_var_extreme_flag":
        return f"{variable or args.get('new_var')} = 'Y' on the {args.get('mode', 'last')} record within " \
               f"{_words(args.get('by_vars'))} by {_words(args.get('order'))}{where()}"
    if verb == "derive_var_obs_number":
        return f"{variable or args.get('new_var', 'ASEQ')} = 1, 2, ... within {_words(args.get('by_vars'))} " \
               f"by {_words(args.get('order'))}"
    if verb == "derive_var_trtemfl":
        window = f" + {args['end_window']} days" if args.get("end_window") is not None else ""
        return f"{variable or 'TRTEMFL'} = 'Y' if {args.get('trt_start_date', 'TRTSDT')} <= " \
               f"{args.get('start_date', 'ASTDT')} <= {args.get('trt_end_date') or 'TRTEDT'}{window}, or " \
               f"{args.get('start_date', 'ASTDT')} missing and {args.get('end_date', 'AENDT')} not before " \
               f"{args.get('trt_start_date', 'TRTSDT')}"
    if verb == "derive_vars_avisit":
        windows = describe_reference(args.get("windows")) if isinstance(args.get("windows"), Mapping) else "windows"
        return f"{variable or 'AVISIT'} from {windows}: the window containing {args.get('day_var', 'ADY')} " \
               f"(lower and upper bounds at the midpoints between target days)"
    if verb in ("derive_param_computed", "derive_summary_records", "derive_param_exposure", "derive_locf_records"):
        set_values = args.get("set_values_to") or {}
        records = f"records added with {_words(set_values)}" if set_values else "records added"
        if variable and variable in set_values:
            return f"{variable} = {_literal(set_values[variable])} on the {records}"
        if verb == "derive_param_computed":
            return f"{variable or 'AVAL'} = {args.get('analysis_value')} of parameter(s) " \
                   f"{_words(args.get('parameters'))} within {_words(args.get('by_vars'))} ({records})"
        if verb == "derive_locf_records":
            return f"{variable or 'AVAL'} carried forward from the last {_words(args.get('order'))} record{where()} " \
                   f"within {_words(args.get('by_vars'))} to the missing visits of " \
                   f"{describe_reference(args.get('dataset_ref'))} ({records})"
        summary = args.get("summary_vars") or {}
        if variable and variable in summary:
            source, function = (summary[variable] + [None, None])[:2] if isinstance(summary[variable], list) \
                else (summary[variable], None)
            return f"{variable} = {function} of {source} within {_words(args.get('by_vars'))} ({records})"
        return f"{variable or 'AVAL'} = {args.get('summary_fun', 'sum')} of " \
               f"{args.get('analysis_var', 'AVAL')}{where()} within {_words(args.get('by_vars'))} ({records})"
    shown = ", ".join(f"{k}: {_words(v)}" for k, v in args.items())
    return f"{verb.replace('_', ' ')} ({shown})"


def _is_plain_copy(verb: str, args: Any) -> bool:
    if verb != "derive_vars_merged" or not isinstance(args, Mapping):
        return False
    ref = args.get("dataset_add")
    plain_ref = isinstance(ref, Mapping) and ({"sdtm", "adam"} & set(ref)) and not (set(ref) - {"sdtm", "adam"})
    return bool(plain_ref) and not any(args.get(k) for k in ("filter_add", "order", "mode", "filter_join"))


def build_adam_methods(spec: Mapping[str, Any], design: Mapping[str, Any] | None = None) -> dict[tuple[str, str], str]:
    """``{(dataset, variable): method text}`` for every variable a step of ``spec`` creates or changes.

    >>> spec = {"datasets": [{"name": "ADSL", "steps": [
    ...     {"derive_vars_merged": {"dataset_add": {"adam": "adsl0"}, "by_vars": ["USUBJID"], "new_vars": {"TRTSDT": "TRTSDT"}}},
    ...     {"derive_vars_dt": {"new_vars_prefix": "DTH", "dtc": "DTHDTC"}},
    ...     {"compute": {"AGEY": "AGE + ${offset}"}}]}]}
    >>> methods = build_adam_methods(spec, {"offset": 1})
    >>> methods[("ADSL", "TRTSDT")], methods[("ADSL", "DTHDT")], methods[("ADSL", "AGEY")]
    ('ADSL0.TRTSDT', 'DTHDT = date part of DTHDTC (complete dates only).', 'AGEY = AGE + 1.')
    """
    design = design or {}
    texts: dict[tuple[str, str], list[str]] = {}
    for entry in spec.get("datasets", []) if isinstance(spec, Mapping) else []:
        if not isinstance(entry, Mapping) or not entry.get("name"):
            continue
        name = str(entry["name"]).upper()
        for verb, args in _steps(entry.get("steps")):
            args = resolve_placeholders(args, lambda path: study_value(design, path, "${" + path + "}"))
            plain = _is_plain_copy(verb, args)
            for variable in step_outputs(verb, args):
                key = (name, variable)
                if plain:
                    ref = args["dataset_add"]
                    source_dataset = str(ref.get("adam") or ref.get("sdtm")).upper()
                    texts[key] = [f"{source_dataset}.{_new_vars(args).get(variable, variable)}"]
                    continue
                text = describe_step(verb, args, variable)
                if text:
                    if texts.get(key) and _COPY.fullmatch(texts[key][-1]):
                        texts[key] = [f"copied from {texts[key][-1]}"]
                    texts.setdefault(key, []).append(text)
    return {key: "; then ".join(parts) + ("" if len(parts) == 1 and _COPY.fullmatch(parts[0]) else ".")
            for key, parts in texts.items()}


def combine_methods(generated: dict[tuple[str, str], str], written: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """The method of each variable: the generated text, with a hand-written spec text kept as a note.

    A hand-written predecessor (``ADSL.TRT01P``) wins, so the variable stays a predecessor.

    >>> combine_methods({("ADSL", "X"): "X = A + B."}, {("ADSL", "X"): "Sum of A and B", ("ADSL", "Y"): "ADSL.Y0"})
    {('ADSL', 'X'): 'X = A + B. Note: Sum of A and B', ('ADSL', 'Y'): 'ADSL.Y0'}
    """
    out = dict(generated)
    for key, text in written.items():
        if not text:
            continue
        if PREDECESSOR_TEXT.fullmatch(text) or key not in generated:
            out[key] = text
        elif PREDECESSOR_TEXT.fullmatch(generated[key]):
            out[key] = f"{text} (copied from {generated[key]})"
        else:
            out[key] = f"{generated[key]} Note: {text}"
    return out
