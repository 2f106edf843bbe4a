"""Readers of the CDISC standards in ``specs/standards/``: one reader per kind of knowledge, used by every stage."""
