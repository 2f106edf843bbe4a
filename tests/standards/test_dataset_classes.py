"""The SDTMIG 3.4 observation class of every domain in specs/standards, as the IG's section 6 files them.

The class decides which conformance rules apply (ours and CORE's, whose offline library is built from the
same table) and is written to define.xml; IE filed under EVENTS once made CORE skip every IE rule.
"""

from __future__ import annotations

from pipeline.standards.tables import load_standard_datasets

# SDTMIG 3.4 sections 5 (special purpose), 6.1-6.4 (general observation classes), 7 (trial design),
# 8 (relationships)
SDTMIG_CLASSES = {
    "DM": "SPECIAL PURPOSE", "SE": "SPECIAL PURPOSE", "SV": "SPECIAL PURPOSE",
    "CM": "INTERVENTIONS", "EX": "INTERVENTIONS",
    "AE": "EVENTS", "DS": "EVENTS", "DV": "EVENTS", "MH": "EVENTS",
    "IE": "FINDINGS", "LB": "FINDINGS", "VS": "FINDINGS", "QS": "FINDINGS", "RS": "FINDINGS",
    "TS": "TRIAL DESIGN", "TA": "TRIAL DESIGN", "TE": "TRIAL DESIGN", "TV": "TRIAL DESIGN", "TI": "TRIAL DESIGN",
    "TD": "TRIAL DESIGN", "TM": "TRIAL DESIGN",
    "SUPPQUAL": "RELATIONSHIP", "RELREC": "RELATIONSHIP",
}


def test_every_domain_has_its_sdtmig_class() -> None:
    table = load_standard_datasets()
    classes = table["class"].to_dict()
    assert set(classes) == set(SDTMIG_CLASSES)
    assert {d: c for d, c in classes.items() if SDTMIG_CLASSES[d] != c} == {}
