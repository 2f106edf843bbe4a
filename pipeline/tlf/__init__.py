"""Stage package: tlf."""
