"""Stage package: sdtm. ``stage.run(ctx)`` ingests the raw exports, maps them with the study's
mapping files (``mapping/``), derives timing, sequence and reference variables (``derive_*.py``,
``trial_design.py``, ``supp.py``, ``relrec.py``) and writes SDTM, lineage, quarantine and ledger."""
