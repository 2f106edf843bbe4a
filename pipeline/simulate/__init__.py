"""Stage package: simulate."""
