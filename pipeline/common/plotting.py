"""Pictures as inline SVG from matplotlib, byte-identical across runs (the report's charts, the TLF figures).

Determinism: the SVG backend, a fixed ``svg.hashsalt`` (clip-path and glyph ids), text kept as text
(``svg.fonttype: none``) and no date in the metadata. The XML prolog is dropped so the markup can sit
inside an HTML page; matplotlib escapes every text it writes.
"""

from __future__ import annotations

import io
import re

SVG_SALT = "cdisc-pipeline-dq-report"
ARM_COLOURS = ["#1f3b57", "#c2571a", "#3b8f5a", "#8a4b9b", "#6a7785"]
_RC = {"svg.hashsalt": SVG_SALT, "svg.fonttype": "none", "font.size": 9, "font.family": "DejaVu Sans",
       "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 72}
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)  # RDF namespaces only: no date, no need


def figure_to_svg(figure) -> str:
    """The figure as SVG markup without the XML prolog, with no date; the figure is closed.

    >>> figure, axes = new_figure(1, 1)
    >>> _ = axes.plot([0, 1], [0, 1])
    >>> svg = figure_to_svg(figure)
    >>> svg.startswith("<svg") and "<dc:date>" not in svg and "<metadata>" not in svg
    True
    """
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "cdisc-pipeline report"},
                       bbox_inches="tight")
    return _METADATA.sub("", _PROLOG.sub("", buffer.getvalue(), count=1), count=1).strip()


def new_figure(width: float, height: float):
    """A figure (inches) and its one axes, in the project's style."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(width, height))
        axes = figure.add_subplot()
    return figure, axes
