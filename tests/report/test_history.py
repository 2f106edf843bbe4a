"""Run-to-run comparison: the kept copy rotates only when the findings or ledger change."""

import pandas as pd

from pipeline.report.history import compare_findings, compare_records, read_snapshot, rotate_history, snapshot_text

BEFORE = pd.DataFrame({"rule_id": ["R1", "R1", "R2", "R3"], "dataset": ["LB"] * 4, "variable": ["LBSTRESN"] * 4,
                       "usubjid": ["S-101-1", "S-101-2", "S-102-1", "S-102-1"], "value": ["9", "8", "x", "y"],
                       "message": ["m"] * 4, "site": ["101", "101", "102", "102"], "record": [1, 2, 3, 4]})


def test_new_resolved_and_unchanged_per_rule_and_site_ignore_record_numbers():
    after = BEFORE.drop(index=[0]).assign(record=[10, 20, 30])  # one fixed, the others renumbered
    after = pd.concat([after, pd.DataFrame({"rule_id": ["R4"], "site": ["101"], "usubjid": ["S-101-3"]})])
    table = compare_findings(BEFORE, after)
    assert table.values.tolist() == [["R1", "101", 0, 1, 1], ["R2", "102", 0, 0, 1], ["R3", "102", 0, 0, 1],
                                     ["R4", "101", 1, 0, 0]]


def test_record_counts_per_domain_changed():
    assert compare_records({"totals": {"records": {"AE": 5}}}, {"totals": {"records": {"AE": 4, "LB": 2}}}
                           ).values.tolist() == [["AE", 5, 4, -1], ["LB", 0, 2, 2]]


def test_history_rotates_only_when_the_state_changes(tmp_path):
    first = snapshot_text(BEFORE)
    assert rotate_history(tmp_path, first, '{"a": 1}') is None          # first run: no baseline
    assert rotate_history(tmp_path, first, '{"a": 1}') is None          # same inputs: still none
    second = snapshot_text(BEFORE.drop(index=[0]))
    baseline = rotate_history(tmp_path, second, '{"a": 1}')
    assert baseline == tmp_path / "history" / "previous"
    previous, ledger = read_snapshot(baseline)
    assert len(previous) == 4 and ledger == {"a": 1}
    assert rotate_history(tmp_path, second, '{"a": 1}') == baseline      # rerun: same baseline
    assert len(read_snapshot(baseline)[0]) == 4
    assert len(read_snapshot(tmp_path / "history" / "last")[0]) == 3


def test_previous_outputs_folder_is_compared_by_rule_and_site(tmp_path):
    """``--previous DIR`` (context option ``previous``): another run's outputs folder is the baseline."""
    import json

    from pipeline.common.io import write_json_atomic
    from pipeline.common.study import StudyContext
    from pipeline.report.stage import REPORT_NAME, run
    from pipeline.validate.findings import make_findings, write_findings

    def outputs(name, subjects):
        ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / name)
        write_json_atomic(ctx.ledger_path, {"files": {}, "totals": {"rows_read": 0, "records": {"AE": len(subjects)}}})
        write_findings(make_findings("R1", "warning", "AE", "m", "conformance", variable="AESEV",
                                     usubjid=subjects, value=["x"] * len(subjects)), ctx.validation_dir)
        return ctx

    before = outputs("before", ["S-1", "S-2", "S-3"])
    after = outputs("after", ["S-1", "S-4"])
    run(StudyContext.create("iscalimab-ln", outputs=after.outputs_dir, previous=str(before.outputs_dir)))
    html = (after.reports_dir / REPORT_NAME).read_text()
    assert "<dt>New findings</dt><dd>1</dd>" in html and "<dt>Resolved findings</dt><dd>2</dd>" in html
    assert '<td>AE</td><td class="num">3</td><td class="num">2</td><td class="num">-1</td>' in html
    assert json.loads((after.reports_dir / "history" / "last" / "ledger.json").read_text())["totals"]["records"] == {"AE": 2}


def test_previous_option_on_the_command_line(tmp_path):
    """``report --previous DIR`` reaches the stage; ``--previous`` naming a file is one line, exit 2."""
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.common.io import write_json_atomic
    from pipeline.common.study import StudyContext
    from pipeline.report.stage import REPORT_NAME
    from pipeline.validate.findings import make_findings, write_findings

    for name, subjects in (("before", ["S-1", "S-2"]), ("after", ["S-1"])):
        ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / name)
        write_json_atomic(ctx.ledger_path, {"files": {}, "totals": {"rows_read": 0, "records": {"AE": len(subjects)}}})
        write_findings(make_findings("R1", "warning", "AE", "m", "conformance", variable="AESEV",
                                     usubjid=subjects, value=["x"] * len(subjects)), ctx.validation_dir)
    runner = CliRunner()
    done = runner.invoke(app, ["report", "--outputs", str(tmp_path / "after"), "--previous", str(tmp_path / "before")])
    assert done.exit_code == 0, done.output
    html = (tmp_path / "after" / "reports" / REPORT_NAME).read_text()
    assert "<dt>Resolved findings</dt><dd>1</dd>" in html and str(tmp_path / "before") in html
    a_file = tmp_path / "before" / "ledger.json"
    refused = runner.invoke(app, ["report", "--outputs", str(tmp_path / "after"), "--previous", str(a_file)])
    assert refused.exit_code == 2 and "--previous" in refused.output and "is a file" in refused.output
