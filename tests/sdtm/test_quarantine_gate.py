"""A run that loses most of a file, or writes nothing, fails with one line instead of exit 0."""
from __future__ import annotations

import shutil

import pytest

from pipeline.common.errors import ConfigError, InputError
from pipeline.common.study import StudyContext
from pipeline.sdtm.stage import run


def test_a_wrong_date_format_for_one_site_fails_the_stage_naming_file_column_and_share(tmp_path, study_root, simulated):
    root = study_root
    sites = root / "mappings/iscalimab-ln/sites.yaml"
    text = sites.read_text(encoding="utf-8")
    assert "date_formats: ['%d.%m.%Y']" in text
    sites.write_text(text.replace("date_formats: ['%d.%m.%Y']", "date_formats: ['%m.%d.%Y']"), encoding="utf-8")
    ctx = StudyContext.create("iscalimab-ln", root=root, raw=simulated.raw_dir, outputs=tmp_path / "out")
    # the day-month order check (pipeline/sdtm/date_order.py) stops it before any row is mapped or quarantined
    with pytest.raises(InputError, match=r"^date format: site_101/\w+\.csv: column '\w+' \(site 101\): declared date "
                                         r"format '%m\.%d\.%Y' but \d+ of \d+ rows \(\d+\.\d%\) are valid only as "
                                         r"'%d\.%m\.%Y' \(looks like '%d\.%m\.%Y'.* over the 5\.0% quarantine limit"):
        run(ctx)
    assert not (tmp_path / "out" / "ledger.json").exists()


def test_the_limit_is_a_study_setting(tmp_path, study_root, simulated):
    root = study_root
    study = root / "specs/iscalimab-ln/study.yaml"
    study.write_text(study.read_text(encoding="utf-8") + "\nquarantine_gate: {max_share: 0.001, min_rows: 1}\n", encoding="utf-8")
    ctx = StudyContext.create("iscalimab-ln", root=root, raw=simulated.raw_dir, outputs=tmp_path / "out")
    with pytest.raises(InputError, match=r"^quarantine gate: .* over the 0\.1% limit"):
        run(ctx)


@pytest.mark.parametrize("setting, message", [
    ("{max_share: 5}", r"quarantine_gate\.max_share: a share between 0 and 1"),
    ("{min_rows: two}", r"quarantine_gate\.min_rows: a whole number of rows, got 'two'"),
    ("{limit: 0.1}", r"quarantine_gate: expected a mapping with keys max_share, min_rows"),
])
def test_a_malformed_gate_is_named(tmp_path, study_root, simulated, setting, message):
    root = study_root
    study = root / "specs/iscalimab-ln/study.yaml"
    study.write_text(study.read_text(encoding="utf-8") + f"\nquarantine_gate: {setting}\n", encoding="utf-8")
    ctx = StudyContext.create("iscalimab-ln", root=root, raw=simulated.raw_dir, outputs=tmp_path / "out")
    with pytest.raises(ConfigError, match=message):
        run(ctx)


def test_a_domain_that_reads_rows_and_writes_no_record_fails():
    import pandas as pd

    from pipeline.sdtm.mapping.engine import check_quarantine_gate

    ledger = {"files": {"s1/ae.csv": {"rows_read": 3, "domains": {"AE": {"rows_quarantined": 0}}}},
              "totals": {"records": {"AE": 0}}}
    assert check_quarantine_gate(ledger, pd.DataFrame(columns=["domain", "file", "row", "column", "value"])) == \
        ["AE: 3 raw rows read and no record written"]


def test_a_numeric_variable_given_text_names_the_raw_row_instead_of_a_traceback():
    import pandas as pd

    from pipeline.sdtm.stage import order_columns

    meta = pd.DataFrame({"domain": ["LB"] * 2, "order": [1, 2], "variable": ["USUBJID", "VISITNUM"],
                         "type": ["Char", "Num"], "core": ["Req", "Exp"]})
    lb = pd.DataFrame({"USUBJID": ["S-1", "S-2", "S-3"], "VISITNUM": [2.0, "UNSCHEDULED 2.1", 3],
                       "_file": ["site_101/lab.csv"] * 3, "_row": [7, 8, 9]})
    with pytest.raises(InputError, match=r"^site_101/lab\.csv: row 8: LB\.VISITNUM is numeric in SDTMIG but the "
                                         r"mapping gives 'UNSCHEDULED 2\.1'$"):
        order_columns("LB", lb, meta)


def test_a_site_missing_one_declared_export_fails_naming_site_and_form(tmp_path, simulated):
    raw = tmp_path / "raw"
    shutil.copytree(simulated.raw_dir, raw)
    (raw / "site_101" / "lab.csv").unlink()
    ctx = StudyContext.create("iscalimab-ln", raw=raw, outputs=tmp_path / "out")
    with pytest.raises(InputError, match=r"site 101 sent no 'lab' export \(expected site_\*/lab\.csv; sites\.yaml:\d+ "
                                         r"lists it among the site's forms\)"):
        run(ctx)
    assert not (tmp_path / "out" / "sdtm").exists()


def test_a_declared_form_no_mapping_reads_is_a_config_error(tmp_path, study_root):
    from pipeline.sdtm.stage import load_mappings

    root = study_root
    sites = root / "mappings/iscalimab-ln/sites.yaml"
    sites.write_text(sites.read_text(encoding="utf-8").replace('  "402": {}', '  "402": {forms: [dm, ecg]}'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sites\.yaml:\d+: site 402: forms ecg are not the form of any mapping source"):
        load_mappings(root / "mappings/iscalimab-ln")
