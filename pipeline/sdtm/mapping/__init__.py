"""The declarative raw -> SDTM mapping engine (see docs/mapping-language.md): ``spec`` loads and checks
a mapping file, ``algorithms`` is the closed registry (with ``dates`` and ``units``), ``engine`` ingests,
maps and quarantines, ``derivations`` and ``records`` hold the later sections' registries, and
``examples`` tries a snippet on a few rows.
"""
