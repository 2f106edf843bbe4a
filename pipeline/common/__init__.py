"""Shared plumbing for every stage: study context, errors, atomic I/O, logging."""
