"""Stage package: submit."""
