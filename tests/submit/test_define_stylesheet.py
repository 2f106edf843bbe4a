"""define.xml opens in a browser: our XSL stylesheet shipped beside it, and creation dates from the data cut."""

import json
import shutil
import subprocess

import pandas as pd
import pytest
from lxml import etree

from pipeline.submit.define import STYLESHEET_FILE

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}


def render(folder):
    xml = etree.parse(str(folder / "define.xml"))
    transform = etree.XSLT(etree.parse(str(folder / "define.xsl")))
    html = transform(xml)
    assert not transform.error_log, transform.error_log
    return xml, etree.HTML(str(html).encode("utf-8"))


@pytest.mark.parametrize("standard", ["sdtm", "adam"])
def test_define_names_our_stylesheet_which_is_shipped_beside_it(flagship_package, standard):
    folder = flagship_package.submission_dir / standard
    head = (folder / "define.xml").read_bytes()[:200].decode("utf-8")
    assert head.splitlines()[1] == '<?xml-stylesheet type="text/xsl" href="define.xsl"?>'
    assert (folder / "define.xsl").read_bytes() == STYLESHEET_FILE.read_bytes()
    manifest = json.loads((flagship_package.submission_dir / "manifest.json").read_text())
    assert f"{standard}/define.xsl" in {f["path"] for f in manifest["files"]}


@pytest.mark.parametrize("standard", ["sdtm", "adam"])
def test_stylesheet_renders_every_dataset_variable_codelist_and_method(flagship_package, standard):
    xml, html = render(flagship_package.submission_dir / standard)
    datasets = [ig.get("Name") for ig in xml.findall(".//odm:ItemGroupDef", NS)]
    rendered = [h.get("id") for h in html.findall(".//h3[@class='dataset']")]
    assert rendered == [f"IG.{name}" for name in datasets] and len(datasets) >= 6
    for ig in xml.findall(".//odm:ItemGroupDef", NS):
        rows = html.xpath(f"//h3[@id='IG.{ig.get('Name')}']/following-sibling::table[@class='variables'][1]/tr[@id]")
        assert [r.get("id") for r in rows] == [ref.get("ItemOID") for ref in sorted(
            ig.findall("odm:ItemRef", NS), key=lambda r: int(r.get("OrderNumber")))]
        names = [r.find("td").text for r in rows]
        assert names == [xml.find(f".//odm:ItemDef[@OID='{r.get('id')}']", NS).get("Name") for r in rows]
    codelists = {c.get("OID") for c in xml.findall(".//odm:CodeList", NS)}
    assert codelists and codelists == {h.get("id") for h in html.findall(".//h3[@class='codelist']")}
    methods = {m.get("OID"): m.find("odm:Description/odm:TranslatedText", NS).text for m in xml.findall(".//odm:MethodDef", NS)}
    rendered_methods = {tr.get("id"): tr.findall("td")[2].text for tr in html.findall(".//table[@class='methods']/tr[@id]")}
    assert rendered_methods == methods


def test_rendered_adam_define_shows_the_generated_dthdt_method_and_the_data_cut(flagship_package):
    xml, html = render(flagship_package.submission_dir / "adam")
    row = html.find(".//tr[@id='IT.ADSL.DTHDT']")
    cells = ["".join(td.itertext()) for td in row.findall("td")]
    assert cells[:5] == ["DTHDT", "Date of Death", "integer", "8", "DATE9."]
    assert cells[7] == "DTHDT = date part of DTHDTC (complete dates only)."
    cut = pd.read_parquet(flagship_package.sdtm_dir / "dm.parquet")["RFPENDTC"].dropna().str[:10].max()
    assert html.find(".//span[@class='as-of']").text == f"{cut}T23:59:59"


def test_creation_dates_come_from_the_data_cut_never_2000(flagship_package, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    cut = pd.read_parquet(flagship_package.sdtm_dir / "dm.parquet")["RFPENDTC"].dropna().str[:10].max()
    assert cut.startswith("202")
    sub = flagship_package.submission_dir
    for standard in ("sdtm", "adam"):
        odm = etree.parse(str(sub / standard / "define.xml")).getroot()
        assert (odm.get("CreationDateTime"), odm.get("AsOfDateTime")) == (f"{cut}T23:59:59", f"{cut}T23:59:59")
        obj = json.loads((sub / standard / "datasetjson" / ("dm.json" if standard == "sdtm" else "adsl.json")).read_text())
        assert obj["datasetJSONCreationDateTime"] == obj["dbLastModifiedDateTime"] == f"{cut}T23:59:59"
    manifest = json.loads((sub / "manifest.json").read_text())
    assert manifest["created"] == f"{cut}T23:59:59"
    assert manifest["created_source"] == "data cut (latest DM.RFPENDTC)"


def test_define_renders_in_headless_chromium(flagship_package, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("not installed: chromium (apt-get install chromium)")
    folder = flagship_package.submission_dir / "adam"
    result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                             f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", (folder / "define.xml").as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert 'id="IG.ADSL"' in result.stdout and 'id="IT.ADSL.DTHDT"' in result.stdout
