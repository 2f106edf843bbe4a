"""The default simulation's raw folder: layout, design facts, dialects, dosing, SLEDAI, defects."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

FORMS = ["dm", "mh", "ie", "rand", "ex", "vs", "lab", "sledai", "ae", "cm", "ds", "sv", "dv"]


def test_every_site_has_every_form_and_truth_files(raw):
    for site in raw.sites:
        for form in FORMS:
            assert raw.path(site, form).exists(), raw.path(site, form)
    names = sorted(p.name for p in (raw.raw_dir / "_truth").iterdir())
    assert names == ["defects.csv", "manifest.json", "subjects.csv"]


def test_arm_sizes_are_39_and_18_and_14_screen_failures(raw):
    arms = raw.arms()
    assert arms["armcd"].value_counts().to_dict() == {"ISCAL10": 39, "PBO": 18}
    assert arms["usubjid"].is_unique
    dm = raw.read_all("dm")
    assert len(dm) == 57 + 14
    ds = raw.read_all("ds")
    status = pd.concat([raw.decode(s, "ds_status", g["status"]) for s, g in ds.groupby("_site")])
    assert int((status == "SCREEN FAILURE").sum()) == 14
    ie = raw.read_all("ie")
    assert ie["usubjid"].nunique() == 14
    manifest = raw.manifest()
    assert manifest["arms"] == {"ISCAL10": 39, "PBO": 18}
    assert manifest["subjects"] == 57 and manifest["screen_failures"] == 14


def test_at_least_six_sites_in_four_countries(raw):
    manifest = raw.manifest()
    countries = {v["country"] for v in manifest["sites"].values()}
    assert len(manifest["sites"]) >= 6 and len(countries) >= 4
    screened = {s: v["screened"] for s, v in manifest["sites"].items()}
    assert all(n > 0 for n in screened.values()) and sum(screened.values()) == 71


def test_usubjid_rule_maps_site_numbers_to_four_digit_subjid(raw):
    dm = raw.read_all("dm")
    assert dm["usubjid"].str.fullmatch(r"CFZ533X2202-\d{3}-\d{4}").all()
    written = dict(zip(dm["_site"], dm["subject"]))
    assert re.fullmatch(r"\d{4}", written["101"])          # 0012
    assert re.fullmatch(r"[1-9]\d*", written["102"])        # 12
    assert re.fullmatch(r"201-\d{4}", written["201"])       # 201-0012
    assert re.fullmatch(r"\d{3}", written["301"])           # 012


def test_completed_study_is_31_of_57(raw):
    ds = raw.read_all("ds")
    parts = []
    for site, g in ds.groupby("_site"):
        parts.append(pd.DataFrame({"usubjid": g["usubjid"], "milestone": raw.decode(site, "ds_milestone", g["milestone"]),
                                   "status": raw.decode(site, "ds_status", g["status"])}))
    ds = pd.concat(parts)
    eos = ds[ds["milestone"] == "END OF STUDY"]
    assert len(eos) == 57
    assert int((eos["status"] == "COMPLETED").sum()) == 31


def test_infusions_fall_on_the_schedule_within_windows(raw):
    ex = raw.clean(raw.read_all("ex"), "ex")
    visits = {v["visit"]: v for v in raw.design["visits"]}
    infusion_days = raw.design["dosing"]["infusion_days"]
    assert set(ex["visit_name"]) == {v for v, spec in visits.items() if spec["day"] in infusion_days}
    day1 = ex[ex["visit_name"] == "DAY 1"].set_index("usubjid")["date_parsed"]
    study_day = (ex["date_parsed"] - ex["usubjid"].map(day1)).dt.days + 1
    lo = ex["visit_name"].map({k: v["window"][0] for k, v in visits.items()})
    hi = ex["visit_name"].map({k: v["window"][1] for k, v in visits.items()})
    assert ((study_day >= lo) & (study_day <= hi)).all()
    per_subject = ex.groupby("usubjid").size()
    assert per_subject.max() == 7 and len(per_subject) == 57


def test_dose_is_10_mg_per_kg_baseline_weight_and_placebo_zero(raw):
    ex = raw.clean(raw.read_all("ex"), "ex")
    arms = raw.arms().set_index("usubjid")["armcd"]
    weight = pd.concat([raw.number(s, g["weight"]) for s, g in ex.groupby("_site")])
    dose = pd.concat([raw.number(s, g["dose"]) for s, g in ex.groupby("_site")])
    arm = ex["usubjid"].map(arms)
    assert np.allclose(dose[arm == "ISCAL10"], 10 * weight[arm == "ISCAL10"])
    assert (dose[arm == "PBO"] == 0).all()
    # dosing weight = baseline vital-sign weight in kg (LB converted), the same on every infusion
    assert (ex.assign(w=weight).groupby("usubjid")["w"].nunique() == 1).all()
    vs = raw.clean(raw.read_all("vs"), "vs")
    vs = vs[vs["visit_name"] == "BASELINE"]
    kg = pd.concat([raw.number(s, g["weight"]) for s, g in vs.groupby("_site")])
    kg = kg.where(vs["weight_unit"] != "LB", kg * 0.45359237)
    baseline = pd.Series(kg.to_numpy(), index=vs["usubjid"].to_numpy())
    dosing = pd.Series(weight.to_numpy(), index=ex["usubjid"].to_numpy()).groupby(level=0).first()
    both = dosing.index.intersection(baseline.index)
    assert len(both) >= 50
    assert np.allclose(dosing[both], baseline[both], atol=0.06)


def test_sledai_total_equals_sum_of_present_descriptor_weights(raw):
    weights = {it["num"]: it["weight"] for it in raw.instrument["items"]}
    checked = 0
    for site in raw.sites:
        frame = raw.clean(raw.read(site, "sledai", canonical=False), "sledai")
        present, _absent = raw.dialect(site)["presence"]
        item_cols = frame.columns[3:27]
        total_col = frame.columns[27]
        flags = (frame[item_cols] == present).to_numpy()
        expected = flags @ np.array([weights[i] for i in range(1, 25)])
        assert np.array_equal(raw.number(site, frame[total_col].astype(str)).to_numpy(), expected)
        checked += len(frame)
    assert checked > 250


def test_sledai_lab_items_follow_the_visit_labs(raw):
    labs = raw.clean(raw.labs(), "lab")
    wide = labs.pivot_table(index=["usubjid", "visit_name"], columns="test_key", values="value", aggfunc="first")
    upcr = (wide["UPROT"] / wide["UCREAT"]).rename("upcr")
    sled = raw.clean(raw.read_all("sledai"), "sledai")
    proteinuria = pd.concat([g["SSLD0113"] == raw.dialect(s)["presence"][0] for s, g in sled.groupby("_site")])
    joined = pd.DataFrame({"usubjid": sled["usubjid"], "visit_name": sled["visit_name"], "flag": proteinuria}).join(
        upcr, on=["usubjid", "visit_name"]).dropna()
    assert len(joined) > 250
    assert ((joined["upcr"] > 0.5) == joined["flag"]).mean() > 0.99


def test_site_dialects_differ_in_format_delimiter_decimal_encoding(raw):
    assert raw.path("101", "lab").read_bytes().split(b"\n")[0].count(b";") == 9
    lab101 = raw.read("101", "lab")
    assert lab101["result"].str.contains(",").any()                    # decimal comma
    assert raw.path("102", "dm").read_bytes()[:2] == b"PK"             # XLSX (zip)
    assert raw.path("401", "dm").read_bytes()[:80].startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD")
    assert raw.path("501", "dm").read_bytes()[:3] == b"\xef\xbb\xbf"   # UTF-8 BOM
    ae201 = raw.path("201", "ae").read_bytes()
    assert "è".encode("latin-1") in ae201 or "é".encode("latin-1") in ae201
    assert "é".encode("utf-8") not in ae201                            # really Latin-1
    ae_text = "".join(raw.read(s, "ae")["term"].str.cat() for s in ["101", "102", "201", "501"])
    assert any(word in ae_text for word in ["Übelkeit", "Fieber", "Kopfschmerzen", "Erkältung"])
    assert any(ord(ch) > 0x3000 for ch in raw.read("501", "ae")["term"].str.cat())  # Japanese verbatims


def test_site_dialects_differ_in_dates_codes_and_units(raw):
    consent = {s: raw.read(s, "dm")["consent_date"].iloc[0] for s in raw.sites}
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4}", consent["101"])
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", consent["201"])
    assert re.fullmatch(r"\d\d-[A-Z]{3}-\d{4}", consent["301"])
    assert re.fullmatch(r"\d\d-\d\d-\d{4}", consent["401"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", consent["402"])
    assert re.fullmatch(r"\d{4}/\d\d/\d\d", consent["501"])
    sex = {s: set(raw.read(s, "dm")["sex"]) - {"X"} for s in raw.sites}
    assert sex["101"] <= {"1", "2"} and sex["102"] <= {"Male", "Female"} and sex["201"] <= {"M", "F"}
    units = {s: set(raw.read(s, "lab")["unit"]) for s in raw.sites}
    assert "µmol/L" in units["101"] and "mg/dL" in units["401"] and "umol/L" in units["102"]
    assert "mg/mmol" in units["201"] and "mg/g" in units["402"] and "mg/mg" in units["401"]
    assert set(raw.read("402", "vs")["weight_unit"]) == {"LB"}
    partial = raw.read("301", "mh")["start_date"]
    assert partial.str.startswith("UN-").any()                         # partial dates, documented token


def test_every_defect_class_is_present_with_the_default_seed(raw):
    classes = set(raw.defects()["defect_class"])
    assert classes == set(k for k, v in raw.sim["defects"].items() if isinstance(v, dict) and "handling" in v)
    manifest = raw.manifest()
    assert manifest["defects"] == raw.defects()["defect_class"].value_counts().to_dict()


def test_each_defect_points_at_a_cell_holding_the_injected_value(raw):
    defects = raw.defects()
    checked = 0
    for (relpath), group in defects.groupby("file"):
        site, form = relpath.split("/")[0].removeprefix("site_"), relpath.split("/")[1].split(".")[0]
        frame = raw.read(site, form, canonical=False)
        for _, d in group.iterrows():
            row = int(d["row"]) - 1
            if d["defect_class"] == "duplicate_row":
                data = frame.drop(columns=["_row", "_site"])
                assert data.iloc[row].tolist() == data.iloc[row - 1].tolist(), d.to_dict()
            else:
                assert str(frame.at[row, d["column"]]) == d["injected_value"], d.to_dict()
                assert d["injected_value"] != d["original_value"]
            checked += 1
    assert checked == len(defects) > 30


def test_impossible_dates_are_really_impossible(raw):
    defects = raw.defects().query("defect_class == 'impossible_date'")
    assert len(defects) >= 3
    for _, d in defects.iterrows():
        site = d["file"].split("/")[0].removeprefix("site_")
        assert raw.parse_dates(pd.Series([d["injected_value"]]), site).isna().all(), d.to_dict()
        assert not raw.parse_dates(pd.Series([d["original_value"]]), site).isna().any(), d.to_dict()


def test_defects_never_touch_endpoint_records(raw):
    defects = raw.defects()
    not_dup = defects[defects["defect_class"] != "duplicate_row"]
    for form in ["lab", "sledai"]:
        rows = not_dup[not_dup["file"].str.endswith(tuple(f"/{form}.{ext}" for ext in ("csv", "xlsx", "xpt")))]
        frames = {s: raw.read(s, form) for s in raw.sites}
        for _, d in rows.iterrows():
            site = d["file"].split("/")[0].removeprefix("site_")
            visit = raw.visit_names(site, frames[site]["visit"]).iloc[int(d["row"]) - 1]
            assert visit not in {"BASELINE", "WEEK 24"}, d.to_dict()
    assert not not_dup["file"].str.contains("/rand.|/ex.|/ds.", regex=True).any()
    ae_rows = not_dup[not_dup["file"].str.contains("/ae.")]
    for _, d in ae_rows.iterrows():
        site = d["file"].split("/")[0].removeprefix("site_")
        ae = raw.read(site, "ae")
        rec = ae.iloc[int(d["row"]) - 1]
        assert raw.decode(site, "yes_no", pd.Series([rec["serious"]])).iloc[0] == "N"
        assert raw.decode(site, "action", pd.Series([rec["action"]])).iloc[0] != "DRUG WITHDRAWN"


def test_randomised_subjects_meet_eligibility_and_screen_failures_show_their_failure(raw):
    elig = raw.design["eligibility"]
    arms = raw.arms().set_index("usubjid")["armcd"]
    labs = raw.clean(raw.labs(), "lab")
    scr = labs[labs["visit_name"] == "SCREENING"].pivot_table(index="usubjid", columns="test_key", values="value",
                                                                aggfunc="first")
    upcr = scr["UPROT"] / scr["UCREAT"]
    ie = raw.read_all("ie").set_index("usubjid")["criterion"]
    rand = upcr.index.isin(arms.index)
    assert (upcr[rand].dropna() >= elig["upcr_min_mg_mg"]).all() and upcr[rand].notna().sum() >= 50
    assert (scr.loc[rand, "EGFR"].dropna() > elig["egfr_min"]).all()
    assert (upcr[upcr.index.map(ie) == "IN06"] < elig["upcr_min_mg_mg"]).all()
    assert (scr["EGFR"][scr.index.map(ie) == "IN08"] < elig["egfr_min"]).all()
    vs = raw.clean(raw.read_all("vs"), "vs").query("visit_name == 'SCREENING'")
    kg = pd.concat([raw.number(s, g["weight"]) for s, g in vs.groupby("_site")])
    cm = pd.concat([raw.number(s, g["height"]) for s, g in vs.groupby("_site")])
    kg = kg.where(vs["weight_unit"] != "LB", kg * 0.45359237)
    cm = cm.where(vs["height_unit"] != "in", cm * 2.54)
    bmi = pd.Series((kg / (cm / 100) ** 2).to_numpy(), index=vs["usubjid"].to_numpy())
    assert bmi[bmi.index.isin(arms.index)].between(*elig["bmi"]).all()
    assert (bmi[bmi.index.map(ie) == "IN03"] > elig["bmi"][1]).all()
    mh = raw.read_all("mh")
    parts = [g.assign(cat=raw.decode(s, "mh_category", g["category"])) for s, g in mh.groupby("_site")]
    biopsy = pd.concat(parts).query("cat == 'RENAL BIOPSY'").set_index("usubjid")
    consent = raw.read_all("dm").set_index("usubjid")["date_parsed"]
    years = (consent.reindex(biopsy.index) - biopsy["date_parsed"]).dt.days / 365.25
    in_rand = biopsy.index.isin(arms.index)
    assert biopsy.loc[in_rand, "biopsy_class"].isin(["III", "IV", "III+V", "IV+V"]).all()
    assert (years[in_rand] <= elig["biopsy_within_years"]).all()
    failed_bx = biopsy.index.map(ie) == "IN04"
    assert ((biopsy.loc[failed_bx, "biopsy_class"] == "V") | (years[failed_bx] > elig["biopsy_within_years"])).all()
