import subprocess
import sys

from pipeline.common.errors import ConfigError
from pipeline.common.io import write_json_atomic
from pipeline.common.specfile import load_spec
from pipeline.common.study import StudyContext

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True)


def test_help_lists_every_stage():
    result = run_cli("--help")
    assert result.returncode == 0
    for stage in ["simulate", "sdtm", "validate", "specs-check", "adam", "tables", "submission", "report"]:
        assert stage in result.stdout


def test_unknown_study_exits_2_with_one_line(tmp_path):
    result = run_cli("sdtm", "--study", "no-such-study", "--outputs", str(tmp_path))
    assert result.returncode == 2
    assert "unknown study 'no-such-study'" in result.stderr
    assert "Traceback" not in result.stderr


def test_study_design_is_read_from_yaml():
    ctx = StudyContext.create("iscalimab-ln")
    arms = {arm["armcd"]: arm["n"] for arm in ctx.design["arms"]}
    assert arms == {"ISCAL10": 39, "PBO": 18}
    assert ctx.design["dosing"]["infusion_days"] == [1, 15, 29, 57, 85, 113, 141]


def test_bad_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:3: invalid YAML"):
        load_spec(bad)


def test_json_writer_is_deterministic(tmp_path):
    first = write_json_atomic(tmp_path / "a.json", {"b": 1, "a": [1, 2]}).read_bytes()
    second = write_json_atomic(tmp_path / "a.json", {"a": [1, 2], "b": 1}).read_bytes()
    assert first == second
    assert not list(tmp_path.glob(".*tmp"))


def test_exit_without_teardown_runs_exit_handlers_flushes_and_keeps_the_code(tmp_path):
    marker = tmp_path / "handler-ran"
    code = ("import atexit, pathlib, sys; from pipeline.cli import exit_without_teardown; "
            "atexit.register(pathlib.Path(sys.argv[1]).write_text, 'yes'); "
            "print('unflushed', end=''); sys.stderr.write('on stderr'); exit_without_teardown(3)")
    result = subprocess.run([sys.executable, "-c", code, str(marker)], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (3, "unflushed", "on stderr")
    assert marker.read_text() == "yes"


def test_exit_without_teardown_waits_for_a_running_thread(tmp_path):
    marker = tmp_path / "thread-done"
    code = ("import pathlib, sys, threading, time; from pipeline.cli import exit_without_teardown; "
            "threading.Thread(target=lambda: (time.sleep(0.5), pathlib.Path(sys.argv[1]).write_text('done'))).start(); "
            "exit_without_teardown(4)")
    result = subprocess.run([sys.executable, "-c", code, str(marker)], capture_output=True, text=True)
    assert result.returncode == 4 and marker.read_text() == "done"
