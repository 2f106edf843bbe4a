"""Stage package: ingest."""
