"""Declared day-month date formats checked against the values a site sent (pipeline/sdtm/date_order.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.sdtm.date_order import check_date_order, swapped_format

FIXTURE = Path(__file__).parents[1] / "data" / "studies" / "drugx-edc"


@pytest.mark.parametrize("values, declared_only, swapped_only, either", [
    (["13/02/2024", "25/12/2023", "01/02/2024"], 2, 0, 1),      # day first as declared: nothing to report
    (["02/13/2024", "12/25/2023", "01/02/2024"], 0, 2, 1),      # month first: looks swapped
    (["02/03/2024", "04/05/2024"], 0, 0, 2),                    # read either way: cannot tell
])
def test_rows_are_counted_by_the_order_that_can_read_them(values, declared_only, swapped_only, either):
    findings = check_date_order(pd.DataFrame({"d": values}), ["%d/%m/%Y"], "x.csv", "01")
    if not swapped_only:
        assert findings == []
        return
    (finding,) = findings
    assert (finding.declared_only, finding.swapped_only, finding.either) == (declared_only, swapped_only, either)
    assert finding.looks_swapped and finding.swapped == "%m/%d/%Y"


def test_a_typing_error_among_day_first_dates_does_not_look_swapped():
    frame = pd.DataFrame({"d": ["13/02/2024", "25/12/2023", "02/13/2024", "", "05/05/2024"]})
    (finding,) = check_date_order(frame, ["%d/%m/%Y"])
    assert (finding.declared_only, finding.swapped_only, finding.either, finding.rows) == (2, 1, 1, 5)
    assert not finding.looks_swapped
    assert finding.swapped_share == pytest.approx(0.2)


def test_formats_without_a_numeric_day_and_month_are_not_checked():
    assert swapped_format("%d-%b-%Y") is None and swapped_format("iso8601") is None
    assert check_date_order(pd.DataFrame({"d": ["2024-13-02"]}), ["iso8601", "%d %b %Y"]) == []


def run_sdtm(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "sdtm", "--project", str(root), "--study", "drugx-edc",
                           "--raw", str(root / "raw")], cwd=root, capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"})


def test_a_site_exporting_month_first_while_declared_day_first_stops_the_stage(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    sites = root / "mappings" / "drugx-edc" / "sites.yaml"
    sites.write_text(sites.read_text().replace('"03": {date_formats: ["%m/%d/%Y"]}', '"03": {date_formats: ["%d/%m/%Y"]}'))
    done = run_sdtm(root)
    assert done.returncode == 2, done.stdout + done.stderr
    text = " ".join((done.stdout + done.stderr).split())
    error = text[text.index("error:"):]
    assert ("error: date format: site_03/dm.csv: column 'Date of Birth' (site 03): declared date format '%d/%m/%Y' "
            "but 3 of 5 rows (60.0%) are valid only as '%m/%d/%Y' (looks like '%m/%d/%Y'") in error
    assert "over the 5.0% quarantine limit" in error
    assert "WARNING date format: site_03/vs.csv: column 'Visit Date' (site 03)" in text   # every column is reported
    assert not (root / "outputs" / "drugx-edc" / "sdtm").exists()


def test_the_fixture_as_declared_has_no_date_order_finding(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    done = run_sdtm(root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "date_order" not in json.loads((root / "outputs" / "drugx-edc" / "ledger.json").read_text())
