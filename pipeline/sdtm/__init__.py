"""Stage package: sdtm."""
