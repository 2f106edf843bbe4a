"""The one jinja2 environment of the TLF templates (``templates/``): autoescape for HTML only."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.lru_cache(maxsize=None)
def template(name: str) -> jinja2.Template:
    """The template ``name``; HTML templates escape data values, TXT and RTF ones do not.

    >>> template("table.html.j2").environment.autoescape("table.html.j2"), template("table.txt.j2").name
    (True, 'table.txt.j2')
    """
    return _environment().get_template(name)


@functools.lru_cache(maxsize=None)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)
