"""The submission stage end to end on small hand-made SDTM and ADaM datasets."""

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest
from lxml import etree

from pipeline.common.errors import InputError, PipelineError
from pipeline.common.io import sha256_file
from pipeline.common.study import StudyContext
from pipeline.submit.define import check_define_references, validate_define_xml
from pipeline.submit.stage import run

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}


def write(folder, name, frame, labels=None):
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if labels:
        fields = [f.with_metadata({"label": labels[f.name]}) if f.name in labels else f for f in table.schema]
        table = table.cast(pa.schema(fields))
    pq.write_table(table, folder / f"{name}.parquet")


def make_study(tmp_path):
    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / "out")
    dm = pd.DataFrame({
        "STUDYID": ["CFZ533X2202"] * 3, "DOMAIN": ["DM"] * 3,
        "USUBJID": ["CFZ533X2202-101-001", "CFZ533X2202-101-002", "CFZ533X2202-201-003"],
        "SUBJID": ["001", "002", "003"], "SITEID": ["101", "101", "201"],
        "AGE": [34.0, 51.0, 28.0], "SEX": ["F", "F", "M"], "RFSTDTC": ["2019-03-15", "2019-04-02", None],
        "COUNTRY": ["DEU", "DEU", "FRA"],
    })
    ae = pd.DataFrame({
        "STUDYID": ["CFZ533X2202"] * 3, "DOMAIN": ["AE"] * 3,
        "USUBJID": ["CFZ533X2202-101-001", "CFZ533X2202-101-001", "CFZ533X2202-101-002"],
        "AESEQ": [1.0, 2.0, 1.0], "AETERM": ["Headache", "Fi\u00e8vre", "Nausea"],
        "AEDECOD": ["Headache", "Pyrexia", "Nausea"], "AESER": ["N", "Y", "N"],
        "AESTDTC": ["2019-03-20", "2019-04", "2019-04-10T08:30"], "AESTDY": [6.0, None, 9.0],
    })
    lb = pd.DataFrame({
        "STUDYID": ["CFZ533X2202"] * 4, "DOMAIN": ["LB"] * 4, "USUBJID": ["CFZ533X2202-101-001"] * 4,
        "LBSEQ": [1.0, 2.0, 3.0, 4.0], "LBTESTCD": ["ALB", "ALB", "PROTCRT", "XYZ"],
        "LBTEST": ["Albumin", "Albumin", "Protein/Creatinine", "Sponsor Test"],
        "LBORRES": ["40", "41", "1.25", "7"], "LBSTRESN": [40.0, 41.0, 1.25, 7.0], "VISITNUM": [1.0, 2.0, 1.0, 1.0],
    })
    adsl = pd.DataFrame({
        "STUDYID": ["CFZ533X2202"] * 3, "USUBJID": dm["USUBJID"], "SEX": dm["SEX"], "AGE": dm["AGE"],
        "SAFFL": ["Y", "Y", "N"], "TRTSDT": pd.to_datetime(["2019-03-15", "2019-04-02", None]),
        "TRT01P": ["Iscalimab 10 mg/kg", "Placebo", "Placebo"],
    })
    suppae = pd.DataFrame({
        "STUDYID": ["CFZ533X2202"] * 2, "RDOMAIN": ["AE"] * 2, "USUBJID": ["CFZ533X2202-101-001"] * 2,
        "IDVAR": ["AESEQ"] * 2, "IDVARVAL": ["1", "2"], "QNAM": ["AETRTEM", "AETRTEM"],
        "QLABEL": ["Treatment Emergent Flag"] * 2, "QVAL": ["Y", "N"], "QORIG": ["Derived"] * 2,
    })
    write(ctx.sdtm_dir, "suppae", suppae)
    write(ctx.sdtm_dir, "dm", dm)
    write(ctx.sdtm_dir, "ae", ae)
    write(ctx.sdtm_dir, "lb", lb)
    write(ctx.adam_dir, "adsl", adsl, labels={"SAFFL": "Safety Population Flag"})
    return ctx


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    ctx = make_study(tmp_path_factory.mktemp("submit"))
    run(ctx)
    return ctx


def define_of(ctx, standard):
    return etree.parse(str(ctx.submission_dir / standard / "define.xml"))


def test_package_has_the_contract_layout(packaged):
    sub = packaged.submission_dir
    for path in ["sdtm/dm.xpt", "sdtm/ae.xpt", "sdtm/lb.xpt", "sdtm/define.xml", "sdtm/define.html", "sdtm/datasetjson/dm.json",
                 "sdtm/datasetjson/lb.json", "adam/adsl.xpt", "adam/define.xml", "adam/datasetjson/adsl.json",
                 "manifest.json", "checks.csv"]:
        assert (sub / path).is_file(), path


def test_manifest_holds_the_sha256_of_every_other_file(packaged):
    sub = packaged.submission_dir
    manifest = json.loads((sub / "manifest.json").read_text())
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    on_disk = {p.relative_to(sub).as_posix() for p in sub.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(listed) == on_disk
    assert all(sha256_file(sub / path) == digest for path, digest in listed.items())
    assert {d["dataset"]: d["records"] for d in manifest["datasets"]} == {"AE": 3, "DM": 3, "LB": 4, "SUPPAE": 2, "ADSL": 3}


def test_both_define_files_pass_the_define_xml_2_1_schema_and_every_reference_resolves(packaged):
    for standard in ("sdtm", "adam"):
        xml = (packaged.submission_dir / standard / "define.xml").read_bytes()
        assert validate_define_xml(xml) == []
        assert check_define_references(xml) == []


def test_sdtm_define_declares_datasets_keys_codelists_and_leaf(packaged):
    tree = define_of(packaged, "sdtm")
    dm = tree.find(".//odm:ItemGroupDef[@OID='IG.DM']", NS)
    assert dm.get("Purpose") == "Tabulation" and dm.get("Repeating") == "No"
    assert dm.find("def:Class", NS).get("Name") == "SPECIAL PURPOSE"
    assert dm.find("def:leaf", NS).get("{http://www.w3.org/1999/xlink}href") == "dm.xpt"
    keys = {r.get("ItemOID"): r.get("KeySequence") for r in dm.findall("odm:ItemRef", NS) if r.get("KeySequence")}
    assert keys == {"IT.DM.STUDYID": "1", "IT.DM.USUBJID": "2"}
    sex = tree.find(".//odm:ItemDef[@OID='IT.DM.SEX']", NS)
    assert sex.get("DataType") == "text" and sex.get("Length") == "1"
    assert sex.find("odm:CodeListRef", NS).get("CodeListOID") == "CL.SEX"
    sex_codes = tree.find(".//odm:CodeList[@OID='CL.SEX']", NS)
    items = {i.get("CodedValue"): i.find("odm:Alias", NS).get("Name") for i in sex_codes.findall("odm:EnumeratedItem", NS)}
    assert items == {"F": "C16576", "M": "C20197"}
    assert sex_codes.find("odm:Alias", NS).get("Name") == "C66731"


def test_sdtm_define_types_iso_dates_and_integers_from_the_data(packaged):
    tree = define_of(packaged, "sdtm")
    assert tree.find(".//odm:ItemDef[@OID='IT.AE.AESTDTC']", NS).get("DataType") == "datetime"
    assert tree.find(".//odm:ItemDef[@OID='IT.DM.RFSTDTC']", NS).get("DataType") == "date"
    seq = tree.find(".//odm:ItemDef[@OID='IT.AE.AESEQ']", NS)
    assert seq.get("DataType") == "integer"
    stresn = tree.find(".//odm:ItemDef[@OID='IT.LB.LBSTRESN']", NS)
    assert stresn.get("DataType") == "float" and stresn.get("SignificantDigits") == "2"


def test_sdtm_define_flags_sponsor_test_codes_as_extended_values_with_decodes(packaged):
    codelist = define_of(packaged, "sdtm").find(".//odm:CodeList[@OID='CL.LB.LBTESTCD']", NS)
    items = {i.get("CodedValue"): (i.get("{http://www.cdisc.org/ns/def/v2.1}ExtendedValue"),
                                   i.find("odm:Decode/odm:TranslatedText", NS).text)
             for i in codelist.findall("odm:CodeListItem", NS)}
    assert items == {"ALB": (None, "Albumin"), "PROTCRT": (None, "Protein/Creatinine"), "XYZ": ("Yes", "Sponsor Test")}


def test_sdtm_define_has_value_level_metadata_by_test_code(packaged):
    tree = define_of(packaged, "sdtm")
    value_list = tree.find(".//def:ValueListDef[@OID='VL.LB.LBSTRESN']", NS)
    refs = [r.get("ItemOID") for r in value_list.findall("odm:ItemRef", NS)]
    assert refs == ["IT.LB.LBSTRESN.ALB", "IT.LB.LBSTRESN.PROTCRT", "IT.LB.LBSTRESN.XYZ"]
    check = tree.find(".//def:WhereClauseDef[@OID='WC.LB.LBTESTCD.PROTCRT']/odm:RangeCheck", NS)
    assert check.get("Comparator") == "EQ" and check.find("odm:CheckValue", NS).text == "PROTCRT"
    assert tree.find(".//odm:ItemDef[@OID='IT.LB.LBSTRESN.ALB']", NS).get("DataType") == "integer"


def test_sdtm_derived_variables_get_a_method(packaged):
    tree = define_of(packaged, "sdtm")
    ref = tree.find(".//odm:ItemGroupDef[@OID='IG.AE']/odm:ItemRef[@ItemOID='IT.AE.AESTDY']", NS)
    method = tree.find(f".//odm:MethodDef[@OID='{ref.get('MethodOID')}']", NS)
    assert "no day 0" in method.find("odm:Description/odm:TranslatedText", NS).text


def test_adam_define_uses_predecessors_date_formats_and_analysis_purpose(packaged):
    tree = define_of(packaged, "adam")
    adsl = tree.find(".//odm:ItemGroupDef[@OID='IG.ADSL']", NS)
    assert adsl.get("Purpose") == "Analysis"
    assert adsl.find("def:Class", NS).get("Name") == "SUBJECT LEVEL ANALYSIS DATASET"
    sex_origin = tree.find(".//odm:ItemDef[@OID='IT.ADSL.SEX']/def:Origin", NS)
    assert sex_origin.get("Type") == "Predecessor"
    assert sex_origin.find("odm:Description/odm:TranslatedText", NS).text == "DM.SEX"
    trtsdt = tree.find(".//odm:ItemDef[@OID='IT.ADSL.TRTSDT']", NS)
    assert trtsdt.get("DataType") == "integer"
    assert trtsdt.get("{http://www.cdisc.org/ns/def/v2.1}DisplayFormat") == "DATE9."
    assert tree.find(".//odm:ItemDef[@OID='IT.ADSL.SAFFL']/odm:CodeListRef", NS).get("CodeListOID") == "CL.NY"


def test_non_ascii_values_are_transliterated_in_xpt_kept_in_json_and_reported(packaged):
    obj = json.loads((packaged.submission_dir / "sdtm" / "datasetjson" / "ae.json").read_text(encoding="utf-8"))
    assert [row[4] for row in obj["rows"]] == ["Headache", "Fi\u00e8vre", "Nausea"]
    xpt, _ = pyreadstat.read_xport(packaged.submission_dir / "sdtm" / "ae.xpt")
    assert xpt["AETERM"].tolist() == ["Headache", "Fievre", "Nausea"]
    checks = pd.read_csv(packaged.submission_dir / "checks.csv")
    row = checks[checks["check"] == "non-ASCII text"].iloc[0]
    assert (row["dataset"], row["variable"], int(row["row"]), row["value"]) == ("AE", "AETERM", 2, "Fi\u00e8vre -> Fievre")
    assert row["action"].startswith("XPT spelling by transliteration")


def test_rerun_gives_byte_identical_files(packaged):
    sub = packaged.submission_dir
    before = {p: p.read_bytes() for p in sub.rglob("*") if p.is_file()}
    run(packaged)
    after = {p: p.read_bytes() for p in sub.rglob("*") if p.is_file()}
    assert before.keys() == after.keys()
    assert [p.name for p in before if before[p] != after[p]] == []


def test_value_over_200_bytes_stops_the_stage_naming_file_row_and_column(tmp_path):
    ctx = make_study(tmp_path)
    ae = pd.read_parquet(ctx.sdtm_dir / "ae.parquet")
    ae.loc[1, "AETERM"] = "x" * 201
    write(ctx.sdtm_dir, "ae", ae)
    with pytest.raises(PipelineError, match=r"ae\.parquet: AE\.AETERM, row 2: value longer than 200 bytes"):
        run(ctx)


def test_unreadable_parquet_is_bad_input_not_a_traceback(tmp_path):
    ctx = make_study(tmp_path)
    (ctx.sdtm_dir / "dm.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"dm\.parquet"):
        run(ctx)


def test_no_datasets_at_all_is_bad_input(tmp_path):
    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / "empty")
    with pytest.raises(InputError, match="no parquet datasets to package"):
        run(ctx)


def test_sdtm_define_gives_roles_supp_value_level_metadata_and_meddra(packaged):
    tree = define_of(packaged, "sdtm")
    roles = {r.get("ItemOID"): r.get("Role") for r in tree.findall(".//odm:ItemGroupDef[@OID='IG.LB']/odm:ItemRef", NS)}
    assert roles["IT.LB.USUBJID"] == "Identifier" and roles["IT.LB.LBTESTCD"] == "Topic"
    assert roles["IT.LB.LBORRES"] == "Result Qualifier" and roles["IT.LB.VISITNUM"] == "Timing"
    supp = tree.find(".//odm:ItemGroupDef[@OID='IG.SUPPAE']", NS)
    assert supp.get("Domain") == "AE" and supp.find("def:Class", NS).get("Name") == "RELATIONSHIP"
    value_list = tree.find(".//def:ValueListDef[@OID='VL.SUPPAE.QVAL']", NS)
    assert [r.get("ItemOID") for r in value_list.findall("odm:ItemRef", NS)] == ["IT.SUPPAE.QVAL.AETRTEM"]
    assert tree.find(".//odm:ItemDef[@OID='IT.AE.AEDECOD']/odm:CodeListRef", NS).get("CodeListOID") == "CL.MEDDRA"
    assert tree.find(".//odm:CodeList[@OID='CL.MEDDRA']/odm:ExternalCodeList", NS).get("Dictionary") == "MedDRA"


def test_creation_stamp_comes_from_source_date_epoch_then_the_data_cut(monkeypatch, tmp_path):
    from pipeline.common.errors import ConfigError
    from pipeline.submit.stage import DEFAULT_CREATION_DATETIME, resolve_creation_datetime

    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / "out")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert resolve_creation_datetime(ctx) == (DEFAULT_CREATION_DATETIME, "default constant")  # no data to date it
    ctx.sdtm_dir.mkdir(parents=True)
    pd.DataFrame({"RFPENDTC": ["2021-05-04", "2021-06", None]}).to_parquet(ctx.sdtm_dir / "dm.parquet")
    assert resolve_creation_datetime(ctx) == ("2021-05-04T23:59:59", "data cut (latest DM.RFPENDTC)")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1688000000")
    assert resolve_creation_datetime(ctx) == ("2023-06-29T00:53:20", "SOURCE_DATE_EPOCH")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH='yesterday'"):
        resolve_creation_datetime(ctx)


def test_adam_define_carries_analysis_results_metadata_for_shell_rows_on_packaged_datasets(packaged):
    tree = define_of(packaged, "adam")
    arm = {"arm": "http://www.cdisc.org/ns/arm/v1.0", **NS}
    results = {r.get("OID"): r for r in tree.iterfind(".//arm:AnalysisResult", arm)}
    assert "AR.TABLE2.DEATHS" in results            # table2 row 'deaths' reads ADSL, which is packaged
    assert not any(oid.startswith("AR.TABLE1.") for oid in results)  # table1 reads ADLB/ADRS: not packaged here
    datasets = results["AR.TABLE2.DEATHS"].findall(".//arm:AnalysisDataset", arm)
    assert [d.get("ItemGroupOID") for d in datasets] == ["IG.ADSL"]
    where = datasets[0].find("def:WhereClauseRef", arm).get("WhereClauseOID")
    checks = tree.findall(f".//def:WhereClauseDef[@OID='{where}']/odm:RangeCheck", arm)
    assert [(c.get("{http://www.cdisc.org/ns/def/v2.1}ItemOID"), c.find("odm:CheckValue", arm).text) for c in checks] == [
        ("IT.ADSL.SAFFL", "Y")]


def test_value_without_ascii_spelling_stops_the_stage_naming_dataset_variable_record_and_value(tmp_path):
    ctx = make_study(tmp_path)
    ae = pd.read_parquet(ctx.sdtm_dir / "ae.parquet")
    ae.loc[2, "AETERM"] = "\u6ce8\u5165\u53cd\u5fdc"
    write(ctx.sdtm_dir, "ae", ae)
    with pytest.raises(PipelineError) as failure:
        run(ctx)
    message = str(failure.value)
    assert "\n" not in message and failure.value.exit_code == 2
    assert "AE.AETERM, row 3: value '\u6ce8\u5165\u53cd\u5fdc'" in message
    assert "text_conversion.values" in message
    checks = pd.read_csv(ctx.submission_dir / "checks.csv")
    blocked = checks[checks["check"] == "non-ASCII text without an ASCII spelling"]
    assert blocked[["dataset", "variable", "row", "value", "severity"]].values.tolist() == [
        ["AE", "AETERM", 3, "\u6ce8\u5165\u53cd\u5fdc", "error"]]


def test_table_to_frame_keeps_column_order_types_and_index_with_text_between_numbers():
    from pipeline.submit.stage import table_to_frame

    frame = pd.DataFrame({"AVAL": [1.5, None, 3.0], "PARAMCD": pd.Series(["A", None, "A"], dtype="string"),
                          "ADT": pd.to_datetime(["2020-01-02", None, "2020-01-03"]),
                          "AVALC": pd.Series(["x", "y", ""], dtype="string")}, index=pd.Index([5, 6, 7], name="ROW"))
    table = pa.Table.from_pandas(frame)
    result = table_to_frame(table)
    pd.testing.assert_frame_equal(result, table.to_pandas())
    assert list(result.columns) == ["AVAL", "PARAMCD", "ADT", "AVALC"] and result.index.tolist() == [5, 6, 7]
    assert result["PARAMCD"].iloc[0] is result["PARAMCD"].iloc[2]


def test_read_text_columns_keep_the_factorization_pandas_would_compute(tmp_path):
    from pipeline.common.vector import _FACTORIZED, factorize, forget_columns
    from pipeline.submit.stage import read_dataset

    text = pd.Series(["b", None, "", "\u00e9", "b", None, "a", ""], dtype="string")
    pq.write_table(pa.Table.from_pandas(pd.DataFrame({"AETERM": text, "AESEQ": range(8)})), tmp_path / "ae.parquet")
    forget_columns()
    _, frame, _, _ = read_dataset(tmp_path / "ae.parquet")
    assert len(_FACTORIZED) == 1   # kept while reading, not computed by factorize below
    codes, uniques = factorize(frame["AETERM"])
    expected_codes, expected_uniques = pd.factorize(frame["AETERM"].array._ndarray, use_na_sentinel=True)
    assert codes.dtype == expected_codes.dtype
    assert codes.tolist() == expected_codes.tolist() == [0, -1, 1, 2, 0, -1, 3, 1]
    assert list(uniques) == list(expected_uniques) == ["b", "", "\u00e9", "a"]
    forget_columns()
