"""Write ``catalogue_cases.yaml``: for every rule of specs/standards/conformance-rules.yaml a tiny failing
and a passing dataset (run once when rules are added: ``.venv/bin/python tests/validate/data/make_catalogue_cases.py``).

Record rules: values are searched from a small pool (the literals of the rule, Y/N, numbers, dates, long
text, null) until one row fails and one passes the rule's expression; the failing row is written after
the passing one, so the finding must name record 2. The other kinds build their cases from their parameters.
The test (tests/validate/test_catalogue.py) runs the rules on these frames; review new cases by eye.
"""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pandas as pd
import yaml

from pipeline.common.expressions import evaluate_mask, parse
from pipeline.validate.catalogue import dataset_class, read_catalogue

CLASS_DOMAIN = {"FINDINGS": "LB", "EVENTS": "AE", "INTERVENTIONS": "CM", "SPECIAL PURPOSE": "DM",
                "TRIAL DESIGN": "TS", "RELATIONSHIP": "SUPPAE", "FINDINGS ABOUT": "LB"}


def pick_dataset(entry) -> str:
    domains = [d for d in (entry.get("domains") or []) if d != "ALL"]
    classes = entry.get("classes") or []
    exclude = set(entry.get("exclude") or [])
    for d in domains:
        name = "SUPPAE" if d == "SUPP--" else d
        domain = "AE" if name == "SUPPAE" else name
        return name
    for c in classes or ["FINDINGS"]:
        for candidate in [CLASS_DOMAIN[c], "VS", "MH", "EX", "SV"]:
            domain = "AE" if candidate == "SUPPAE" else candidate
            if candidate not in exclude and dataset_class(candidate, domain) == c:
                return candidate
    raise ValueError(entry.id)


def frame(name: str, rows: list[dict]) -> list[dict]:
    domain = "AE" if name.startswith("SUPP") else name
    out = []
    for row in rows:
        base = {"STUDYID": "ST-1", "DOMAIN": domain if not name.startswith("SUPP") else None, "USUBJID": "S-1"}
        if name.startswith("SUPP"):
            base.pop("DOMAIN")
            base["RDOMAIN"] = "AE"
        out.append({**base, **row})
    return out


def search(expression: str, columns: list[str], seed: int) -> tuple[dict, dict]:
    literals = re.findall(r"'([^']*)'", expression)
    literals = [lit for lit in literals if not any(ch in lit for ch in "\\[]()*?{}")]
    pool = [None, "Y", "N", "1", "-1", "5", "ABC", "X" * 45, "2020-01-01", "OTHER", "GRADE 1", "ABCDEFGHIJ", *literals]
    rng = random.Random(seed)
    rows = [{c: rng.choice(pool) for c in columns} for _ in range(4000)]
    data = pd.DataFrame(rows, columns=columns).astype(object)
    mask = evaluate_mask(data, expression).to_numpy()
    if not mask.any() or mask.all():
        raise ValueError(f"no failing/passing row for {expression}")
    fail = data[mask].iloc[0].to_dict()
    passing = data[~mask].iloc[0].to_dict()
    return passing, fail


def record_case(entry) -> dict:
    name = pick_dataset(entry)
    domain = "AE" if name.startswith("SUPP") else name
    text = entry.get("fail_when").replace("--", domain)
    columns = parse(text).columns
    joins = {j.replace("--", domain).partition(".")[2] for j in entry.get("join") or []}
    passing, fail = search(text, columns, seed=len(entry.id) + sum(map(ord, entry.id)))
    own = [c for c in columns if c not in joins or c in ("DOMAIN",)]
    fail_sets = {name: frame(name, [{c: passing[c] for c in own}, {c: fail[c] for c in own}])}
    pass_sets = {name: frame(name, [{c: passing[c] for c in own}])}
    if joins:
        # one subject per row: the joined DM value belongs to the subject of that row
        fail_sets[name][0]["USUBJID"], fail_sets[name][1]["USUBJID"] = "S-1", "S-2"
        fail_sets["DM"] = frame("DM", [{"USUBJID": "S-1", **{c: passing[c] for c in joins}},
                                       {"USUBJID": "S-2", **{c: fail[c] for c in joins}}])
        pass_sets["DM"] = frame("DM", [{"USUBJID": "S-1", **{c: passing[c] for c in joins}}])
    return {"dataset": name, "fail": fail_sets, "pass": pass_sets, "records": [2]}


def make_case(entry) -> dict:
    if entry.kind == "record":
        return record_case(entry)
    name = pick_dataset(entry)
    domain = "AE" if name.startswith("SUPP") else name
    sub = lambda v: v.replace("--", domain)  # noqa: E731
    if entry.kind == "variable_presence":
        present = [sub(v) for v in entry.get("present")]
        return {"dataset": name, "fail": {name: frame(name, [{v: "X" for v in present}])},
                "pass": {name: frame(name, [{v: "X" for v in present[1:]}])}, "records": []}
    when = {}
    if entry.get("when"):
        text = sub(entry.get("when"))
        cols = parse(text).columns
        _, when = search(text, cols, seed=7)
    if entry.kind == "unique":
        variables = [sub(v) for v in entry.get("variables")]
        same = {**{v: "A" for v in variables}, **when}
        other = {**same, variables[-1]: "B"}
        return {"dataset": name, "fail": {name: frame(name, [same, same])},
                "pass": {name: frame(name, [same, other])}, "records": [1, 2]}
    if entry.kind == "one_to_one":
        a, b = (sub(v) for v in entry.get("variables"))
        return {"dataset": name, "fail": {name: frame(name, [{a: "A1", b: "B1"}, {a: "A1", b: "B2"}])},
                "pass": {name: frame(name, [{a: "A1", b: "B1"}, {a: "A2", b: "B2"}])}, "records": [1, 2]}
    if entry.kind == "in_reference" and entry.get("reference") == "DOMAINS":
        variable = sub(entry.get("variable"))
        return {"dataset": name, "fail": {name: frame(name, [{variable: "AE"}, {variable: "ZZ"}]), "AE": frame("AE", [{}])},
                "pass": {name: frame(name, [{variable: "AE"}]), "AE": frame("AE", [{}])}, "records": [2]}
    if entry.kind == "in_reference":
        ref_domain, _, ref_var = entry.get("reference").partition(".")
        variable = sub(entry.get("variable"))
        reference = frame(ref_domain, [{ref_var: "R1"}])
        fail = {name: frame(name, [{**when, variable: "R1"}, {**when, variable: "ZZ"}])}
        passing = {name: frame(name, [{**when, variable: "R1"}])}
        if ref_domain == name:  # the dataset is its own reference (DM.STUDYID)
            fail = {name: frame(name, [{**when, variable: "R1"}]) + frame(name, [{**when, variable: "ZZ", "USUBJID": "S-2"}])}
            if variable == ref_var:
                return {"dataset": name, "fail": {name: frame(name, [{**when, variable: "R1"}]), "AE": frame("AE", [{variable: "ZZ"}])},
                        "pass": passing, "records": [], "fail_dataset": "AE", "fail_records": [1]}
        else:
            fail[ref_domain] = reference
            passing[ref_domain] = reference
        return {"dataset": name, "fail": fail, "pass": passing, "records": [2]}
    if entry.kind == "date_order":
        earlier, later = sub(entry.get("earlier")), sub(entry.get("later"))
        if "." in later:
            var = later.partition(".")[2]
            return {"dataset": name,
                    "fail": {name: frame(name, [{earlier: "2020-01-01"}, {earlier: "2020-03-01T10:00"}]),
                             "DM": frame("DM", [{var: "2020-02-01"}])},
                    "pass": {name: frame(name, [{earlier: "2020-01-01"}, {earlier: "2020-02-01T10:00"}]),
                             "DM": frame("DM", [{var: "2020-02-01"}])},
                    "records": [2]}
        return {"dataset": name,
                "fail": {name: frame(name, [{earlier: "2020-01-01", later: "2020-01-02"},
                                            {earlier: "2020-02-01", later: "2020-01-31T23:00"}])},
                "pass": {name: frame(name, [{earlier: "2020-01-01", later: "2020-01-02"},
                                            {earlier: "2020-02-01T10:00", later: "2020-02-01"}])},
                "records": [2]}
    raise ValueError(entry.kind)


if __name__ == "__main__":
    cases = {e.id: make_case(e) for e in read_catalogue()}
    path = Path(__file__).with_name("catalogue_cases.yaml")
    path.write_text("# generated by make_catalogue_cases.py: a failing and a passing tiny dataset per catalogue rule\n"
                    + yaml.safe_dump(cases, sort_keys=True, width=120), encoding="utf-8")
    print(len(cases), "cases ->", path)
