"""Spec and mapping files are data: every malformed edit is one ConfigError naming file, line and key (exit 2)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.common.errors import EXIT_BAD_INPUT, ConfigError
from pipeline.common.study import PROJECT_ROOT, StudyContext
from pipeline.sdtm.stage import load_mappings

STUDY = "iscalimab-ln"


@pytest.fixture()
def root(study_root) -> Path:
    return study_root


def _edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` with ``new``; the 1-based line of the change."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


MAPPING_CASES = [
    ("ae.yaml", "required: [USUBJID, AETERM]", "required: 5", "required: expected a list of names"),
    ("dm.yaml", "numeric: []", "numeric: 5", "numeric: expected a list of names"),
    ("ae.yaml", "seq: {order: [AESTDTC, AEDECOD, AESPID]}", "seq: {order: 5}",
     "derivations.seq.order: expected a list of names"),
    ("ae.yaml", "dy: [{dtc: AESTDTC, new_var: AESTDY}, {dtc: AEENDTC, new_var: AEENDY}]", "dy: abc",
     "derivations.dy: expected a list, got 'abc'"),
    ("ae.yaml", "epoch: {dtc: AESTDTC, before_first: first", "epoch: {dtc: AESTDTC, same_day: sometimes, before_first: first",
     "derivations.epoch.same_day: one of earlier, later, got 'sometimes'"),
    ("sites.yaml", "reader: {decimal: ',', delimiter: ';', encoding: latin-1}",
     "reader: {decimal: ',', delimiter: ';', encoding: latin-1, skip_rows: two}",
     "reader.skip_rows: expected a whole number (0 or more), got 'two'"),
    ("sites.yaml", "reader: {decimal: ',', delimiter: ';', encoding: latin-1}",
     "reader: {decimal: ',', delimiter: ';;', encoding: latin-1}", "reader.delimiter: expected one character, got ';;'"),
    ("sites.yaml", "reader: {decimal: ',', delimiter: ';', encoding: latin-1}",
     "reader: {decimal: ',', delimiter: ';', encoding: latin-42}", "reader.encoding: expected a known text encoding"),
    ("ae.yaml", "  - domain_add: DS", "  - domain_add: ZZ", "relrec domain_add: ZZ is not a domain of this study's mappings"),
    ("ae.yaml", "filter: \"AEACN == 'DRUG WITHDRAWN'\"", "filter: \"AEACN == \"",
     "relrec filter: expression 'AEACN == ': incomplete or invalid syntax"),
    ("ae.yaml", "relid_prefix: AEDS", "relid_prefix: [AE, DS]", "relrec[1].relid_prefix: expected text"),
    ("ae.yaml", "condition: {column: _ongoing, equals: \"Y\"}", "condition: {column: _ongoing, matches: \"(Y\"}",
     "matches: expected a valid regular expression, got '(Y' (missing ), unterminated subpattern"),
]


@pytest.mark.parametrize("file, old, new, message", MAPPING_CASES, ids=[c[2][:40] for c in MAPPING_CASES])
def test_a_malformed_mapping_edit_names_file_line_and_key(root, file, old, new, message):
    path = root / "mappings" / STUDY / file
    line = _edit(path, old, new)
    with pytest.raises(ConfigError) as raised:
        load_mappings(root / "mappings" / STUDY)
    text = str(raised.value)
    assert text.startswith(f"{path}:{line}: "), text
    assert message in text


def test_a_bad_regex_in_a_derive_extract_is_named_at_load(root):
    path = root / "mappings" / STUDY / "dm.yaml"
    text = path.read_text(encoding="utf-8")
    line = _edit(path, "  AGEU: {hardcode: YEARS}", "  AGEU: {derive: {function: extract, column: age_unit, pattern: '[a-'}}")
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: variable AGEU: derive extract pattern: expected a valid "
                                          r"regular expression, got '\[a-' \(unterminated character set"):
        load_mappings(root / "mappings" / STUDY)
    assert "AGEU" in text


@pytest.mark.parametrize("old, new, message", [
    ("unscheduled_visit_increment: 0.01", "unscheduled_visit_increment: abc",
     "unscheduled_visit_increment: expected a number above 0, got 'abc'"),
    ("treatment_epoch_tail_days: 28", "treatment_epoch_tail_days: -3", "treatment_epoch_tail_days: expected a whole number"),
    ("epochs: [SCREENING, TREATMENT, FOLLOW-UP]", "epochs: SCREENING", "epochs: expected a list of names"),
])
def test_a_malformed_study_yaml_value_names_file_line_and_key(root, old, new, message):
    path = root / "specs" / STUDY / "study.yaml"
    line = _edit(path, old, new)
    ctx = StudyContext.create(STUDY, root=root)
    with pytest.raises(ConfigError) as raised:
        ctx.design
    assert str(raised.value).startswith(f"{path}:{line}: {message}")


def test_a_latin1_byte_names_its_line(root):
    path = root / "mappings" / STUDY / "ae.yaml"
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4] + b"  # Fi\xe8vre"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ConfigError, match=rf"^{path}:5: not UTF-8 text \(byte 0xe8 at column \d+\); save the file as UTF-8$"):
        load_mappings(root / "mappings" / STUDY)


def test_a_list_used_as_a_key_names_its_line(root):
    path = root / "mappings" / STUDY / "ae.yaml"
    line = _edit(path, "required: [USUBJID, AETERM]", "? [USUBJID, AETERM]\n: required")
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: a key must be a plain name or value, not a list$"):
        load_mappings(root / "mappings" / STUDY)


def test_an_alias_bomb_in_a_values_map_fails_fast_naming_its_line(root):
    path = root / "mappings" / STUDY / "sites.yaml"
    laughs = ["      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"      l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    _edit(path, "    values: &numeric_codes   # coded CRF values by canonical column name\n",
          "    values: &numeric_codes   # coded CRF values by canonical column name\n      bomb:\n" + "\n".join(laughs) + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: aliases expand to more than 1,000,000 values; refusing"):
        load_mappings(root / "mappings" / STUDY)
    assert time.perf_counter() - started < 2


def test_python_tags_are_refused(root):
    path = root / "mappings" / STUDY / "ae.yaml"
    line = _edit(path, "required: [USUBJID, AETERM]", "required: !!python/object/apply:os.system ['true']")
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: invalid YAML: could not determine a constructor"):
        load_mappings(root / "mappings" / STUDY)


def test_the_cli_exits_2_with_one_line_for_a_spec_error(root, simulated, tmp_path):
    path = root / "mappings" / STUDY / "ae.yaml"
    line = _edit(path, "required: [USUBJID, AETERM]", "required: 5")
    shutil.copytree(PROJECT_ROOT / "pipeline", root / "pipeline")
    done = subprocess.run([sys.executable, "-m", "pipeline", "sdtm", "--raw", str(simulated.raw_dir),
                           "--outputs", str(tmp_path / "out")], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == EXIT_BAD_INPUT
    errors = [row for row in done.stderr.splitlines() if row.startswith("error:")]
    assert errors == [f"error: {path}:{line}: required: expected a list of names, e.g. [USUBJID, AESTDTC], got 5"]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("text", [
    "{" + ",".join(["?"] * 200) + "}", "\n".join(["?"] * 200), "[" + ",".join(["? :"] * 200) + "]",
    "{" + ",".join(["a"] * 200) + "}", "- " * 200, "[" * 100 + "]" * 100, "[" + ",".join(["{}"] * 200) + "]",
])
def test_no_yaml_node_takes_less_than_a_quarter_character(text):
    """The walk that counts expanded aliases is skipped for short documents without anchors, on this bound."""
    import yaml

    from pipeline.common.specfile import _ALIAS_FREE_SAFE_CHARS, MAX_EXPANDED_NODES, LineLoader

    stack, nodes = [LineLoader(text).get_single_node()], 0
    while stack:
        node = stack.pop()
        nodes += 1
        stack += [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else \
            list(node.value) if isinstance(node, yaml.SequenceNode) else []
    assert 100 <= nodes <= 4 * len(text)
    assert _ALIAS_FREE_SAFE_CHARS * 4 <= MAX_EXPANDED_NODES
