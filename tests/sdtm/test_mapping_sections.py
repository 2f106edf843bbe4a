"""Every section of a mapping file is parsed into typed objects at load: a misspelt key anywhere fails
naming the file and line, and every problem of every mapping file of a run is reported together."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mini import make_ctx  # noqa: E402

from pipeline.common.errors import ConfigError  # noqa: E402
from pipeline.sdtm.mapping.algorithms import Batch, Columns, DateDialect, MappingEnv, iso8601  # noqa: E402
from pipeline.sdtm.mapping.derivations import DERIVATIONS, EpochParams, SeqParams  # noqa: E402
from pipeline.sdtm.mapping.records import RatioSpec  # noqa: E402
from pipeline.sdtm.mapping.spec import RelrecSpec, SuppSpec, load_mapping  # noqa: E402
from pipeline.sdtm.stage import load_mappings  # noqa: E402

BASE = """\
domain: AE
sources: []
variables:
  AETERM: {assign: term}
"""
SECTIONS = """\
derivations:
  dy: [{dtc: AESTDTC, new_var: AESTDY}]
  epoch: {dtc: AESTDTC, same_day: earlier}
  seq: {order: [AESTDTC, AETERM]}
supp:
  - {qnam: AETRTEM, qlabel: Treatment Emergent Flag, qorig: Derived}
relrec:
  - {domain_add: DS, filter: "AEACN == 'DRUG WITHDRAWN'", relid_prefix: AEDS}
derived_records:
  - function: ratio
    numerator: {AETERM: A}
    denominator: {AETERM: B}
    match_on: [USUBJID]
    value: AESEV
    unit: AETERM
    common_unit: mg/dL
    set_values_to: {AETERM: RATIO}
"""


def write(tmp_path: Path, text: str, name: str = "ae.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_section_is_typed(tmp_path):
    mapping = load_mapping(write(tmp_path, BASE + SECTIONS))
    assert [(s.derivation.verb, s.params) for s in mapping.derivations] == [
        ("derive_var_dy", DERIVATIONS["dy"].params(dtc="AESTDTC", new_var="AESTDY")),
        ("derive_var_epoch", EpochParams(dtc="AESTDTC", same_day="earlier")),
        ("derive_var_seq", SeqParams(order=("AESTDTC", "AETERM")))]
    assert mapping.derivations[1].where.line == 7
    assert mapping.supp == (SuppSpec("AETRTEM", "Treatment Emergent Flag", mapping.supp[0].where, qorig="Derived"),)
    assert mapping.supp[0].column == "AETRTEM" and mapping.supp[0].where.line == 10
    assert mapping.relrec == (RelrecSpec("DS", mapping.relrec[0].where, filter="AEACN == 'DRUG WITHDRAWN'",
                                         relid_prefix="AEDS"),)
    ratio = mapping.derived_records[0]
    assert isinstance(ratio, RatioSpec) and ratio.match_on == ("USUBJID",) and ratio.digits is None


@pytest.mark.parametrize(("change", "line", "message"), [
    (("  seq: {order:", "  seq: {ordr:"), 8, "derivations.seq: unknown key 'ordr'"),
    (("  seq: {order: [AESTDTC, AETERM]}", "  seqq: {order: [AESTDTC]}"), 8, "derivations: unknown key 'seqq'"),
    (("same_day: earlier", "same_day: sooner"), 7, "derivations.epoch.same_day: one of earlier, later, got 'sooner'"),
    (("[{dtc: AESTDTC, new_var: AESTDY}]", "[{dtc: AESTDTC}]"), 6, "derivations.dy[1]: needs 'new_var'"),
    (("qorig: Derived}", "qorig: Derived, qlable: X}"), 10, "supp[1]: unknown key 'qlable'"),
    (("relid_prefix: AEDS}", "relid_prefx: AEDS}"), 12, "relrec[1]: unknown key 'relid_prefx'"),
    (("filter: \"AEACN == 'DRUG WITHDRAWN'\"", "filter: \"AEACN ==\""), 12, "relrec filter: expression"),
    (("    common_unit: mg/dL", "    common_units: mg/dL"), 20, "derived_records[1]: unknown key 'common_units'"),
    (("  - function: ratio", "  - function: product"), 14, "derived_records[1].function: one of ratio, got 'product'"),
    (("derivations:", "derivation:"), 5, "mapping: unknown key 'derivation'"),
])
def test_misspelt_key_in_any_section_fails_at_load(tmp_path, change, line, message):
    path = write(tmp_path, (BASE + SECTIONS).replace(*change))
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    text = str(info.value)
    assert text.startswith(f"{path}:{line}: "), text
    assert message in text


def test_all_problems_of_all_mapping_files_are_reported_together(tmp_path):
    folder = tmp_path / "mappings"
    folder.mkdir()
    write(folder, BASE.replace("AETERM: {assign: term}", "AETERM: {asign: term}") + SECTIONS.replace("qorig:", "qorgi:"))
    write(folder, "domain: DS\nsources: []\nvariables:\n  DSTERM: {assign: term}\nrelrec:\n  - {domain_add: ZZ}\n",
          "ds.yaml")
    with pytest.raises(ConfigError) as info:
        load_mappings(folder)
    problems = info.value.problems
    assert problems == [
        f"{folder / 'ae.yaml'}:4: variable AETERM: unknown algorithm 'asign' (known: assign, assign_ct, assign_unit, "
        "concat, convert_unit, derive, hardcode, iso8601, lookup)",
        f"{folder / 'ae.yaml'}:10: supp[1]: unknown key 'qorgi' (known: description, qeval, qlabel, qnam, qorig, source)",
        f"{folder / 'ds.yaml'}:6: relrec domain_add: ZZ is not a domain of this study's mappings (AE, DS)",
    ]
    assert str(info.value).startswith("3 problems in the spec files:\n")


def test_stage_reports_every_problem_through_the_cli_contract(tmp_path):
    ctx = make_ctx(tmp_path, {"ae.yaml": BASE.replace("assign: term", "assign: {column: term, uper: true}")
                              + "derivations:\n  seq: {order: AETERM}\n"})
    from pipeline.sdtm.stage import run

    with pytest.raises(ConfigError) as info:
        run(ctx)
    assert len(info.value.problems) == 2
    assert "unknown option(s) uper for assign" in info.value.problems[0]
    assert info.value.problems[1].endswith(":6: derivations.seq.order: expected a list of names, e.g. [USUBJID, AESTDTC], "
                                           "got 'AETERM'")


def test_batch_dialects_are_explicit_per_row():
    """Two sites in one batch, each row parsed with its own site's formats and time precision."""
    batch = Batch((DateDialect(("%d.%m.%Y %H:%M",)), DateDialect(("iso8601",), {}, "minute")), np.array([0, 1, 0]))
    frame = pd.DataFrame({"D": ["05.03.2024 10:30", "2024-03-06T08:15:59", "2024-03-07"]})
    result = iso8601(Columns(frame, batch=batch), {"column": "D"}, MappingEnv())
    assert result.values.tolist() == ["2024-03-05T10:30", "2024-03-06T08:15", None]
    assert result.reason.tolist()[2].startswith("unparseable date '2024-03-07'")

