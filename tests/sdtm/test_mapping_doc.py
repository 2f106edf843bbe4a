"""Every ```yaml example block of docs/mapping-language.md runs and gives what it says."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from pipeline.sdtm.mapping.algorithms import REGISTRY, DERIVE_FUNCTIONS
from pipeline.sdtm.mapping.examples import example_env, run_example

DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping-language.md"
TEXT = DOC.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml example\n(.*?)```", TEXT, flags=re.DOTALL)


@pytest.fixture(scope="module")
def env():
    return example_env()


def _same(actual, expected) -> bool:
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    if isinstance(expected, float):
        return actual == pytest.approx(expected, rel=1e-9)
    return actual == expected


def test_the_doc_has_examples():
    assert len(BLOCKS) >= 12


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_doc_example_runs_as_documented(env, number):
    example = yaml.safe_load(BLOCKS[number])
    records, quarantine = run_example(example, env, path=f"{DOC.name} example {number + 1}")
    expected = example.get("expect") or []
    assert len(records) == len(expected), records.to_dict("records")
    for actual, wanted in zip(records.to_dict("records"), expected):
        for key, value in wanted.items():
            assert _same(actual.get(key), value), (key, actual.get(key), value)
    assert quarantine["reason"].tolist() == (example.get("quarantine") or [])


def test_every_algorithm_and_derive_function_is_documented():
    for name in REGISTRY:
        assert f"### `{name}`" in TEXT, name
    for name in DERIVE_FUNCTIONS:
        assert f"| `{name}` |" in TEXT, name
    assert "### `condition`" in TEXT and "## 4. `transpose`" in TEXT
