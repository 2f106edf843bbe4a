"""make specs-check: the specs are checked before any data; a broken spec names file and line (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.common.errors import ConfigError
from pipeline.common.study import StudyContext
from pipeline.validate.specs_check import check_specs

from .conftest import TINY_DATASETS, write_project


def check(tmp_path: Path, datasets_yaml: str) -> None:
    root = write_project(tmp_path / "p", datasets_yaml=datasets_yaml)
    check_specs(StudyContext.create("tiny", outputs=tmp_path / "o", root=root))


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_tiny_spec_is_clean(tmp_path: Path) -> None:
    check(tmp_path, TINY_DATASETS)


@pytest.mark.parametrize("needle, replacement, problem", [
    ("      AETERM: {}", "      AETERMXX: {}", "AE.AETERMXX: not a AE variable of the standard"),
    ("      AETERM: {}", '      AETERM: {label: "Reported Term for the Adverse Event, Verbatim"}',
     "AE.AETERM: label has 45 characters (max 40)"),
    ("      AETERM: {}", "      AETERMLONG: {sponsor_defined: true, label: Long, type: Char}",
     "AE.AETERMLONG: name is not 1-8 upper-case letters"),
    ("      AESEV: {}", "      AESEV: {codelist: SEVERITY}", "AE.AESEV: codelist SEVERITY does not exist"),
    ("      AETERM: {}", "      AETERM: {type: Text}", "AE.AETERM: type 'Text' must be Char or Num"),
    ("      AETERM: {}", "      AETERM: {length: 300}", "AE.AETERM: length 300 must be 1-200"),
    ("    keys: [STUDYID, USUBJID, LBTESTCD, VISITNUM]", "    keys: [STUDYID, USUBJID, LBTESTCD, LBSPEC]",
     "dataset LB: key LBSPEC is not a variable of the dataset"),
])
def test_broken_spec_names_file_line_and_problem(tmp_path: Path, needle: str, replacement: str, problem: str) -> None:
    broken = TINY_DATASETS.replace(needle, replacement, 1)
    assert broken != TINY_DATASETS
    line = line_of(broken, replacement.strip())
    with pytest.raises(ConfigError) as info:
        check(tmp_path, broken)
    message = str(info.value)
    assert problem in message
    assert f"datasets.yaml:{line}: " in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"datasets.yaml:\d+: invalid YAML"):
        check(tmp_path, TINY_DATASETS + "\n  bad: [unclosed\n")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    broken = TINY_DATASETS.replace("      AETERM: {}", "      AETERMXX: {}").replace("      AESEV: {}",
                                                                                     "      AESEV: {codelist: NOPE}")
    with pytest.raises(ConfigError, match=r"^2 problems in the spec files") as info:
        check(tmp_path, broken)
    assert [line.split(": ")[1] for line in info.value.problems] == ["AE.AETERMXX", "AE.AESEV"]


def test_broken_expectations_yaml_names_file_and_line(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", expectations_yaml="expectations:\n  - id: ISL-0299\n    title: t\n")
    with pytest.raises(ConfigError, match=r"expectations.yaml:line 2: expectation is missing dataset"):
        check_specs(StudyContext.create("tiny", outputs=tmp_path / "o", root=root))


@pytest.mark.parametrize("study", ["iscalimab-ln", "cdiscpilot01"])
def test_project_specs_pass_through_the_cli(study: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["specs-check", "--study", study, "--outputs", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "specs ok" in result.output
