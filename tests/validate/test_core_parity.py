"""Our validator finds what CDISC CORE finds on the flagship study, without running CORE.

``data/core_flagship.json`` is the committed summary of CORE 0.17.1 (all 430 SDTMIG 3.4 rules) on the
flagship's ``submission/sdtm/*.xpt``: per CORE id and dataset, the issue count and the 1-based records,
after the conformance fixes (``after``) and before them (``before``, counts only). ``differences`` names
each CORE id our rules deliberately do not reproduce, with the reason. CORE itself never runs here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from pipeline.sdtm.derive_var_epoch import derive_var_epoch
from pipeline.validate.conformance import CONFORMANCE_RULES, ValidationData
from pipeline.validate.rules import SCHEMA_RULES
from pipeline.validate.schemas import prepare_dataset

CORE = json.loads((Path(__file__).parent / "data" / "core_flagship.json").read_text(encoding="utf-8"))


def rules_citing(core_id: str) -> list[str]:
    """Our rule ids whose citation names the CORE id."""
    rules = {**SCHEMA_RULES, **CONFORMANCE_RULES}
    return sorted(r.id for r in rules.values() if core_id in re.findall(r"CORE-\d{6}", r.citation))


def test_every_core_rule_reporting_on_the_flagship_is_implemented_or_explained() -> None:
    unexplained = [c for c in CORE["after"] if not rules_citing(c) and c not in CORE["differences"]]
    assert unexplained == []
    assert all(len(reason) > 40 for reason in CORE["differences"].values())


def test_after_fixes_only_collected_data_and_explained_rules_remain() -> None:
    explained = set(CORE["differences"]) | {r for r, why in CORE["accepted"].items() if why}
    assert set(CORE["after"]) <= explained
    assert sum(n for per in CORE["before"].values() for n in per.values()) > \
        sum(d["issues"] for per in CORE["after"].values() for d in per.values())


@pytest.fixture(scope="module")
def findings(validated) -> pd.DataFrame:
    return pd.read_parquet(validated.validation_dir / "findings.parquet")


@pytest.mark.parametrize("core_id", sorted(c for c in CORE["after"] if c not in CORE["differences"]))
def test_our_findings_cover_core_on_the_flagship(findings: pd.DataFrame, core_id: str) -> None:
    ours = findings[findings["rule_id"].isin(rules_citing(core_id))]
    for dataset, expected in CORE["after"][core_id].items():
        mine = ours[ours["dataset"] == dataset]
        if expected["records"]:
            missing = sorted(set(expected["records"]) - set(pd.to_numeric(mine["record"]).dropna().astype(int)))
            assert missing == [], f"{core_id} {dataset}: CORE records our rules miss"
        else:
            assert len(mine) >= expected["issues"], f"{core_id} {dataset}: dataset-level finding missing"


# --- the pipeline defects CORE found before the fixes, re-introduced into a copy of the flagship SDTM ---
def _reintroduce(sdtm: dict[str, pd.DataFrame], core_id: str) -> dict[str, pd.DataFrame]:
    out = {k: v.copy() for k, v in sdtm.items()}
    dm, sv, ds, lb, ae, ts, ex = (out[k] for k in ("DM", "SV", "DS", "LB", "AE", "TS", "EX"))
    if core_id == "CORE-000186":
        out["DM"] = dm.assign(SUBJID=dm["SUBJID"].str.split("-").str[-1])
    elif core_id in ("CORE-000321", "CORE-000793"):
        out["DM"] = dm.drop(columns=["DMDY"])
    elif core_id == "CORE-000328":
        out["MH"] = out["MH"].drop(columns=["MHSTDY"])
    elif core_id == "CORE-000776":
        out["MH"] = out["MH"].drop(columns=["MHENDY"])
    elif core_id == "CORE-000038":
        out["SV"] = sv.assign(SVOCCUR=sv["SVOCCUR"].where(sv["SVPRESP"] == "Y", "Y"))
    elif core_id == "CORE-000213":
        failure = (ds["DSCAT"] == "DISPOSITION EVENT") & (ds["EPOCH"] == "SCREENING")
        out["DS"] = ds.assign(DSSCAT=ds["DSSCAT"].where(~failure.fillna(False), None))
    elif core_id in ("CORE-000289", "CORE-000299"):
        censored = lb["LBORRES"].str.startswith("<").fillna(False)
        out["LB"] = lb.assign(LBORNRHI=lb["LBORNRHI"].where(~censored, "30"),
                              LBSTNRHI=lb["LBSTNRHI"].where(~censored, 30.0))
    elif core_id == "CORE-000701":
        for name, dtc in (("AE", "AESTDTC"), ("CM", "CMSTDTC")):
            out[name] = derive_var_epoch(out[name], out["SE"], dtc_var=dtc)   # no before_first / partial rule
    elif core_id == "CORE-000266":
        out["AE"] = ae.drop(columns=["AESHOSP", "AESLIFE", "AESMIE"])
    elif core_id in ("CORE-000152", "CORE-000728"):
        out["TS"] = ts.assign(TSVAL=ts["TSVAL"].where(ts["TSPARMCD"] != "COMPTRT", "PLACEBO"),
                              TSVALCD=ts["TSVALCD"].where(ts["TSPARMCD"] != "COMPTRT", None))
    elif core_id == "CORE-000852":
        out["EX"] = ex[[c for c in ex.columns if c not in ("VISIT", "VISITNUM")] + ["VISIT", "VISITNUM"]]
    return out


REINTRODUCED = ["CORE-000186", "CORE-000321", "CORE-000793", "CORE-000328", "CORE-000776", "CORE-000038",
                "CORE-000213", "CORE-000289", "CORE-000299", "CORE-000701", "CORE-000266", "CORE-000152",
                "CORE-000728", "CORE-000852"]


@pytest.fixture(scope="module")
def flagship_sdtm(validated) -> dict[str, pd.DataFrame]:
    return {p.stem.upper(): prepare_dataset(pd.read_parquet(p)) for p in sorted(validated.sdtm_dir.glob("*.parquet"))}


@pytest.mark.parametrize("core_id", REINTRODUCED)
def test_rules_fire_on_each_reintroduced_defect_as_core_did(flagship_sdtm, core_id: str) -> None:
    rules = {r: CONFORMANCE_RULES[r] for r in rules_citing(core_id) if r in CONFORMANCE_RULES}
    assert rules, f"no conformance rule cites {core_id}"
    clean = pd.concat([rule.check(ValidationData(flagship_sdtm, {})) for rule in rules.values()])
    assert clean.empty, f"{core_id}: the fixed flagship should be clean"
    data = ValidationData(_reintroduce(flagship_sdtm, core_id), {})
    found = pd.concat([rule.check(data) for rule in rules.values()])
    expected = {ds: n for ds, n in CORE["before"][core_id].items() if core_id != "CORE-000852" or ds == "EX"}
    assert found.groupby("dataset").size().to_dict() == expected
