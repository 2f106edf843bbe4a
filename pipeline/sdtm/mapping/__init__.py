"""The declarative raw -> SDTM mapping engine (see docs/mapping-language.md).

- ``spec``: load and check ``mappings/<study>/<domain>.yaml`` (line numbers kept for messages).
- ``algorithms``: the closed registry (assign, hardcode, assign_ct, assign_unit, iso8601,
  convert_unit, concat, lookup, derive) and row-mask conditions.
- ``dates``, ``units``, ``ct``: ISO 8601 parsing, unit conversion, controlled terminology.
- ``engine``: ingest sources, bind, transpose, map, quarantine, count rows for the ledger.
- ``records``: records derived from records (ratio, e.g. UPCR).
- ``examples``: ``run_example`` to try a snippet on a few rows.
"""
