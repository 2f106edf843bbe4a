"""Stage package: adam."""
