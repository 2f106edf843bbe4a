"""Stage package: ingest. Raw site exports read as text, with lineage ids and a file manifest.

Public interface (``pipeline.ingest.readers``):
- ``read_raw_file(path, ReaderOptions)``: CSV / XLSX / SAS XPORT / sas7bdat as a frame of strings.
- ``ReaderOptions.from_dict({...})``: delimiter, decimal, encoding, sheet, format ... (unknown keys rejected).
- ``add_lineage(frame, file, site)``: the ``_file``, ``_row`` (1-based), ``_site``, ``_subject`` columns.
- ``file_manifest_entry(path, relative, rows, fmt)``: path, size, SHA-256, rows read, format.
The SDTM stage (``pipeline/sdtm/stage.py``) drives ingestion from the mapping files.
"""
