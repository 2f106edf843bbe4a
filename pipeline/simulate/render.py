"""Render clean truth frames into each site's dialect: column names, codes, dates, numbers, units.

A rendered frame holds the written columns (text) plus meta columns starting with ``_`` that the
defect injector uses and the writers drop (``_usubjid``, ``_protected``, ``_date_*`` ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.simulate.config import UNSCHEDULED, SimulationInputs
from pipeline.simulate.formats import (compute_format_dates, compute_format_decimal, compute_format_times,
                                       compute_via_uniques)

_SUBJECT_TOKEN = re.compile(r"\{n(?::0(\d+)d)?\}")
# the date field of a form that the defect injector damages
DATE_FIELD = {"lab": "date", "vs": "date", "sv": "date", "ae": "start_date", "cm": "start_date"}


def compute_sledai_column_names(test: str, num: int) -> dict[str, str]:
    """Column names of a SLEDAI descriptor in each naming style.

    >>> compute_sledai_column_names("SSLD01-Increased DNA Binding", 21)["camel"]
    'IncreasedDNABinding'
    >>> sorted(compute_sledai_column_names("SSLD01-Seizure", 1).items())
    [('camel', 'Seizure'), ('sas', 'SLED01'), ('snake', 'seizure'), ('title', 'Seizure')]
    """
    label = test.split("-", 1)[1] if "-" in test else test
    words = re.findall(r"[A-Za-z0-9]+", label)
    return {"snake": "_".join(w.lower() for w in words), "title": label, "sas": f"SLED{num:02d}",
            "camel": "".join(w[0].upper() + w[1:] for w in words)}


@dataclass(frozen=True)
class SiteDialect:
    """How one site writes its exports (``simulation.yaml: site_dialects``).

    >>> from pipeline.simulate.config import example_inputs
    >>> inputs = example_inputs()
    >>> d = SiteDialect("201", inputs.sim["site_dialects"]["201"], inputs)
    >>> d.column("dm", "subject"), d.subjects([12]).tolist(), d.visits(["WEEK 24"], [10]).tolist()
    ('SubjectNumber', ['201-0012'], ['V10'])
    >>> d.numbers([1.25], 2).tolist(), d.codes("severity", ["MILD", ""]).tolist()
    (['1,25'], ['MILD', ''])
    >>> SiteDialect("101", inputs.sim["site_dialects"]["101"], inputs).codes("yes_no", ["Y", "N"]).tolist()
    ['1', '0']
    """

    siteid: str
    spec: dict[str, Any]
    inputs: SimulationInputs

    def column(self, form: str, fld: str) -> str:
        """The header a field gets in this site's files."""
        return self.inputs.sim["forms"][form][fld][list(self.inputs.sim["column_styles"]).index(self.spec["columns"])]

    def dates(self, values, precision=None) -> np.ndarray:
        return compute_format_dates(values, self.spec["date"], precision)

    def numbers(self, values, decimals) -> np.ndarray:
        """Numbers with per-value decimals (int or array) and the site's decimal mark."""
        values = np.asarray(values, dtype=float)
        dec = np.broadcast_to(np.asarray(decimals, dtype=int), values.shape)
        out = np.empty(values.shape, dtype=object)
        for d in np.unique(dec):
            m = dec == d
            out[m] = compute_format_decimal(values[m], int(d), self.spec.get("decimal", "."))
        return out

    def codes(self, codelist: str, values) -> np.ndarray:
        """Map CDISC-style values to the site's code style; '' stays ''."""
        lists = self.inputs.sim["codelists"]
        if codelist not in lists:
            raise ConfigError(f"{self.inputs.sim_path}: codelists.{codelist} is not defined")
        table = lists[codelist].get(self.spec["codes"]) or lists[codelist]["cdisc"]
        values = pd.Series(values, dtype=object).fillna("").to_numpy(dtype=object)

        def mapped(uniques: np.ndarray) -> np.ndarray:
            unknown = sorted(str(u) for u in uniques if u != "" and u not in table)
            if unknown:
                raise ConfigError(f"{self.inputs.sim_path}: codelists.{codelist}.{self.spec['codes']} has no code for {unknown}")
            return np.array([table.get(u, u) for u in uniques], dtype=object)
        return compute_via_uniques(values, mapped)

    def subjects(self, numbers) -> np.ndarray:
        """Subject numbers written as the site does (``{n:04d}``, ``{n}``, ``{site}-{n:04d}``)."""
        template = self.spec["subject"]
        if not _SUBJECT_TOKEN.search(template):
            raise ConfigError(f"{self.inputs.sim_path}: site_dialects.{self.siteid}.subject needs a {{n}} token")
        return compute_via_uniques(np.asarray(numbers, dtype=np.int64), lambda u: np.array(
            [template.format(n=int(k), site=self.siteid) for k in u], dtype=object))

    def visits(self, visit, visitnum, unscheduled_number=None) -> np.ndarray:
        """Visit names as the site writes them; unscheduled visits (truth ``UNSCHEDULED``) get the
        site's ``unscheduled`` name with ``{k}`` = ``unscheduled_number``.

        >>> from pipeline.simulate.config import example_inputs
        >>> inputs = example_inputs()
        >>> d = SiteDialect("201", inputs.sim["site_dialects"]["201"], inputs)
        >>> d.visits(["WEEK 4", "UNSCHEDULED"], [5, 5.01], [0, 2]).tolist()
        ['V5', 'UNS 2']
        """
        style = self.spec["visit"]
        visit = np.asarray(visit, dtype=object)
        unscheduled = visit == UNSCHEDULED
        if style == "upper":
            out = visit.copy()
        elif style == "title":
            out = compute_via_uniques(visit, lambda u: np.array([str(v).title() for v in u], dtype=object))
        elif style == "code":
            number = np.where(unscheduled, 0, np.asarray(visitnum, dtype=float)).astype(np.int64)
            out = compute_via_uniques(number, lambda u: np.array([f"V{int(v)}" for v in u], dtype=object))
        else:
            raise ConfigError(f"{self.inputs.sim_path}: site_dialects.{self.siteid}.visit '{style}' not in upper|title|code")
        if unscheduled.any():
            template = str(self.spec.get("unscheduled", UNSCHEDULED))
            k = np.ones(len(visit), dtype=np.int64) if unscheduled_number is None else np.asarray(unscheduled_number, dtype=np.int64)
            out[unscheduled] = compute_via_uniques(k[unscheduled], lambda u: np.array([template.format(k=int(v)) for v in u], dtype=object))
        return out

    def language_text(self, table: dict[str, str]) -> str:
        return table.get(self.spec["language"]) or table["en"]


def _form_columns(form: str, rows: pd.DataFrame, d: SiteDialect, meta: dict[str, Any]) -> dict[str, Any]:
    """The written columns a form computes itself; every other field follows :func:`render_site_form`."""
    inputs = d.inputs
    if form == "dm":
        meta["_protected"] = rows["randomised"].to_numpy(dtype=bool)
    elif form == "mh":
        spec = inputs.sim["medical_history"]
        terms = {"sle": spec["sle_term"], "biopsy": spec["biopsy_term"],
                 **{f"condition:{i}": cond["term"] for i, cond in enumerate(spec["conditions"])}}
        return {"term": rows["term_key"].map({k: d.language_text(t) for k, t in terms.items()}).to_numpy()}
    elif form == "rand":
        meta["_protected"] = np.ones(len(rows), dtype=bool)
        code = rows["armcd"]
        if d.spec["treatment"] == "trtn":
            code = code.map({a["armcd"]: str(a["trtn"]) for a in inputs.design["arms"]})
        return {"treatment": code.to_numpy()}
    elif form == "ex":
        return {"start_time": compute_format_times(rows["start_min"], d.spec["time"]),
                "end_time": compute_format_times(rows["end_min"], d.spec["time"]),
                "weight": d.numbers(rows["dosing_weight"], 1)}
    elif form == "vs":
        units = inputs.sim["vs_units"][d.spec["vs_units"]]
        cols = {"sbp": d.numbers(rows["sbp"], 0), "dbp": d.numbers(rows["dbp"], 0), "bp_unit": units["bp"],
                "pulse": d.numbers(rows["pulse"], 0)}
        for fld in ("height", "weight", "temperature"):  # [unit, factor, decimals(, offset)] from the truth's cm, kg, C
            unit, factor, decimals, *offset = units[fld]
            value = rows[fld].to_numpy(dtype=float) * float(factor) + sum(map(float, offset))
            cols[fld], cols[f"{fld}_unit"] = d.numbers(value, int(decimals)), np.where(np.isfinite(value), unit, "")
        return cols
    elif form == "lab":
        return _lab_columns(rows, d, meta)
    elif form == "sledai":
        present, absent = d.spec["presence"]
        items = {compute_sledai_column_names(it["test"], int(it["num"]))[d.spec["columns"]]:
                 np.where(rows[it["testcd"]].to_numpy(dtype=bool), present, absent)
                 for it in inputs.instrument["items"]}
        return {"total": d.numbers(rows["total"], 0), "_items": items}
    elif form == "ae":
        meta["_has_end"] = rows["end_date"].notna().to_numpy()
        catalogue = {e["llt"]: d.language_text(e["verbatim"]) for e in inputs.sim["adverse_events"]["catalogue"]}
        return {"term": rows["llt"].map(catalogue).to_numpy(), "llt_name": rows["llt"].to_numpy()}
    elif form == "cm":
        return {"drug_name": rows["drug"].to_numpy()}
    elif form == "sv":
        reason_text = (inputs.sim.get("unscheduled_visits") or {}).get("reason")
        return {"reason": np.where(rows["visit"].to_numpy(dtype=object) == UNSCHEDULED,
                                   d.language_text(reason_text) if reason_text else "", "").astype(object)}
    elif form == "dv":
        catalogue = (inputs.sim.get("protocol_deviations") or {}).get("catalogue", [])
        terms = {f"dv:{i}": d.language_text(entry["term"]) for i, entry in enumerate(catalogue)}
        return {"term": rows["term_key"].map(terms).to_numpy()}
    return {}


def render_site_form(form: str, truth: pd.DataFrame, subjects: pd.DataFrame, dialect: SiteDialect) -> pd.DataFrame:
    """Render one form's truth rows of one site into that site's dialect.

    Returns the written columns (text, in field order) plus ``_`` meta columns for the defect injector; a field
    :func:`_form_columns` does not compute is written by its name (subject, visit, ``*_date``, codes, line, dose).

    >>> from pipeline.simulate.stage import example_truth
    >>> from pipeline.simulate.config import example_inputs
    >>> inputs, truth = example_inputs(), example_truth()
    >>> d = SiteDialect("301", inputs.sim["site_dialects"]["301"], inputs)
    >>> dm = render_site_form("dm", truth["dm"][truth["dm"]["siteid"] == "301"], truth["subjects"], d)
    >>> [c for c in dm.columns if not c.startswith("_")]
    ['subject_no', 'initials', 'birth_date', 'sex', 'race', 'ethnicity', 'consent_date']
    >>> dm["subject_no"].iloc[0], sorted(set(dm["sex"]))
    ('001', ['Female', 'Male'])
    """
    d = dialect
    rows = truth.reset_index(drop=True)
    meta = {"_usubjid": rows["usubjid"].to_numpy(), "_protected": rows.get("protected", pd.Series(False, index=rows.index)).to_numpy(dtype=bool)}
    if "visitnum" in rows:
        meta["_visitnum"] = rows["visitnum"].to_numpy(dtype=float)
    # rows the visit log added (unscheduled visits): the defect injector leaves them out of its pools
    meta["_extra"] = (rows["unscheduled_number"].to_numpy() > 0) if "unscheduled_number" in rows else np.zeros(len(rows), bool)
    if form in DATE_FIELD:
        meta["_date"] = pd.to_datetime(rows[DATE_FIELD[form]]).to_numpy()
        meta["_date_precision"] = rows.get("start_precision", pd.Series("D", index=rows.index, dtype=object)).to_numpy()
    computed = _form_columns(form, rows, d, meta)
    coded = d.inputs.sim["coded_fields"].get(form, {})
    written = {}
    for fld in d.inputs.sim["forms"][form]:
        if form == "sledai" and fld == "total":  # descriptor columns between date and total
            written.update(computed["_items"])
        if fld in computed:
            value = computed[fld]
        elif fld == "subject":
            value = d.subjects(rows["usubjid"].map(subjects.set_index("usubjid")["subject_number"]).to_numpy())
        elif fld in coded:
            value = d.codes(coded[fld], rows[fld])
        elif fld == "visit":
            value = d.visits(rows["visit"], rows["visitnum"], rows.get("unscheduled_number"))
        elif fld == "date" or fld.endswith("_date"):
            value = d.dates(rows[fld], rows.get(fld.replace("date", "precision")))
        elif fld == "line":
            value = rows[fld].astype(str).to_numpy()
        elif fld == "dose":
            dose = rows["dose"].to_numpy(dtype=float)
            value = d.numbers(dose, np.where(np.isclose(dose, np.round(dose)), 0, 1))
        else:
            value = rows[fld].to_numpy()
        written[d.column(form, fld)] = value
    return pd.DataFrame(written).assign(**meta)


def _lab_columns(rows: pd.DataFrame, d: SiteDialect, meta: dict[str, Any]) -> dict[str, Any]:
    lab = d.inputs.sim["lab"]
    profile = lab["unit_profiles"][d.spec["lab_units"]]
    specimen_names = lab["specimen_names"][d.spec["specimen_names"]]
    canonical = lab["canonical"]
    test = rows["test"]
    unit = test.map({k: v[0] for k, v in profile.items()}).to_numpy(dtype=object)
    factor = test.map({k: float(v[1]) for k, v in profile.items()}).to_numpy(dtype=float)
    decimals = test.map({k: int(v[2]) for k, v in profile.items()}).to_numpy(dtype=int)
    value = rows["value"].to_numpy(dtype=float)
    result = d.numbers(value * factor, decimals)
    limit = float(lab["dsdna_lower_limit"])
    censored = (test == "DSDNA").to_numpy() & (value < limit)
    result[censored] = "<" + d.numbers(np.full(int(censored.sum()), limit) * factor[censored], 0)
    low = test.map({k: float(v["range"][0]) for k, v in canonical.items()}).to_numpy(dtype=float)
    high = test.map({k: float(v["range"][1]) for k, v in canonical.items()}).to_numpy(dtype=float)
    meta.update({"_test": test.to_numpy(), "_value": value, "_factor": factor, "_decimals": decimals,
                 "_censored": censored})
    return {"time": compute_format_times(rows["time_min"], d.spec["time"]),
            "specimen": test.map({k: specimen_names[v["specimen"]] for k, v in canonical.items()}).to_numpy(),
            "test": test.map(lab["test_names"][d.spec["lab_names"]]).to_numpy(), "result": result, "unit": unit,
            "ref_low": np.where(low > 0, d.numbers(low * factor, decimals), ""),
            "ref_high": d.numbers(high * factor, decimals)}
