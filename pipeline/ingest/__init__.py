"""Stage package: ingest. Raw site exports (CSV, XLSX, SAS XPORT, sas7bdat) read as text with lineage ids
and a file manifest: :mod:`pipeline.ingest.readers` (``read_raw_file``, ``ReaderOptions``, ``add_lineage``,
``file_manifest_entry``). The SDTM stage (``pipeline/sdtm/stage.py``) drives ingestion from the mapping files.
"""
