"""The submission and report stages on the flagship study's own SDTM (default seed)."""

import json

import pyreadstat
import pytest

from pipeline.submit.datasetjson import validate_dataset_json
from pipeline.submit.define import check_define_references, validate_define_xml


@pytest.fixture(scope="module")
def study_package(sdtm_built):
    from pipeline.report.stage import run as run_report
    from pipeline.submit.stage import run as run_submission

    run_submission(sdtm_built)
    run_report(sdtm_built)
    return sdtm_built


def test_every_sdtm_dataset_is_packaged_and_reads_back(study_package):
    ctx = study_package
    for parquet in sorted(ctx.sdtm_dir.glob("*.parquet")):
        xpt = ctx.submission_dir / "sdtm" / f"{parquet.stem}.xpt"
        data, meta = pyreadstat.read_xport(xpt)
        assert meta.table_name == parquet.stem.upper()
        obj = json.loads((ctx.submission_dir / "sdtm" / "datasetjson" / f"{parquet.stem}.json").read_text())
        assert validate_dataset_json(obj) == []
        assert obj["records"] == len(data)


def test_study_define_is_schema_valid_and_names_the_study(study_package):
    xml = (study_package.submission_dir / "sdtm" / "define.xml").read_bytes()
    assert validate_define_xml(xml) == []
    assert check_define_references(xml) == []
    assert b"<StudyName>CFZ533X2202</StudyName>" in xml


def test_report_shows_the_ledger_totals_of_the_study(study_package):
    ctx = study_package
    ledger = json.loads(ctx.ledger_path.read_text())
    html = (ctx.reports_dir / "dq_report.html").read_text()
    assert f"<dt>Raw rows read</dt><dd>{ledger['totals']['rows_read']}</dd>" in html
    assert 'id="submission"' in html
