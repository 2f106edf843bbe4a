"""Stage package: analysis."""
