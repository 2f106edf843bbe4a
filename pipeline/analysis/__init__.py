"""Statistics and analysis results data (ARD) for tables and listings.

Every output of ``specs/<study>/tlf.yaml`` becomes ``ard/<output_id>.parquet`` and ``.json``: one
row per statistic with the columns ``output_id, row_id, row_label, group, stat, value``
(DESIGN.md contracts). Values are unrounded; rounding happens in :mod:`pipeline.tlf`.

Conventions beyond the contract:

- Rows are stored in display order (the shell's row order; SOC/PT rows by descending total
  frequency), so a reader needs no other ordering key.
- ``row_id == "big_n"`` (stat ``N``) holds the population count of every column; the column
  headers ``Iscalimab 10 mg/kg (N=39)`` are read from it.
- Between-arm comparisons are their own rows (e.g. ``upcr_comparison``) whose ``group`` is the arm
  compared with the reference arm (stats ``diff``/``ratio``, ``*_lcl``, ``*_ucl``, ``pvalue``).
- Listings (``l_sae``) use the same columns with text values: ``row_id`` identifies the record
  (``USUBJID|AESEQ``), ``group`` the treatment, ``stat`` the listed variable and ``value`` the
  formatted text.
- The JSON file holds the same rows as a list of records (``NaN`` written as ``null``).
"""
