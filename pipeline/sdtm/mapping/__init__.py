"""The declarative raw -> SDTM mapping engine (see docs/mapping-language.md).

- ``spec``: load and check ``mappings/<study>/<domain>.yaml`` (line numbers kept for messages).
- ``algorithms``: the closed registry (assign, hardcode, assign_ct, assign_unit, iso8601,
  convert_unit, concat, lookup, derive) and row-mask conditions.
- ``dates``, ``units``: ISO 8601 parsing, unit conversion (controlled terminology: ``pipeline.standards``).
- ``derivations``: the registries of the ``derivations:`` and ``derived_records:`` sections.
- ``engine``: ingest sources, bind, transpose, map, quarantine, count rows for the ledger.
- ``records``: records derived from records (ratio, e.g. UPCR).
- ``examples``: ``run_example`` to try a snippet on a few rows.
"""
