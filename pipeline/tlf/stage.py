"""Tables stage (``python -m pipeline tables``): analysis -> ARD, then ARD -> HTML, RTF and TXT.

Rendering reads the ARD files written by :mod:`pipeline.analysis.stage`, so a table always shows
what the ARD holds.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.analysis import stage as analysis_stage
from pipeline.analysis.ard import read_ard
from pipeline.analysis.shell import Shell, load_shell
from pipeline.common.io import write_text_atomic
from pipeline.common.logs import get_logger
from pipeline.common.study import StudyContext
from pipeline.tlf.figures import compute_figure_data, render_figure
from pipeline.tlf.display import build_display
from pipeline.tlf.templating import template
from pipeline.tlf.render_html import render_html
from pipeline.tlf.render_rtf import render_rtf
from pipeline.tlf.render_txt import render_txt

log = get_logger("tlf")
FORMATS = ("html", "rtf", "txt")


def _settings(shell: Shell, output_id: str, fmt: str) -> dict:
    """Layout settings of one format: the shell defaults, overridden by the output's own."""
    return {**(shell.defaults.get(fmt) or {}), **(shell.outputs[output_id].get(fmt) or {})}


def render_output(shell: Shell, output_id: str, ard_dir: str | Path, tlf_dir: str | Path) -> list[Path]:
    """Render one output from ``ard/<output_id>.parquet`` into ``tlf/<output_id>.html/.rtf/.txt``.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from pipeline.analysis.ard import write_ard
    >>> from pipeline.analysis.examples import EXAMPLE_DESIGN, example_adam, example_shell
    >>> from pipeline.analysis.stage import build_output_ard
    >>> shell = example_shell()
    >>> ard = build_output_ard(shell, "table2", EXAMPLE_DESIGN, example_adam().__getitem__)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = write_ard(ard, Path(tmp) / "ard", "table2")
    ...     paths = render_output(shell, "table2", Path(tmp) / "ard", Path(tmp) / "tlf")
    ...     "2 (40.0)" in paths[2].read_text()
    True
    """
    ard = read_ard(ard_dir, output_id)
    info_path = Path(ard_dir) / "run_info.json"
    run_info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else None
    display = build_display(shell, output_id, ard, run_info)
    txt = {"width": 132, "length": 60, **_settings(shell, output_id, "txt")}
    texts = {"html": render_html(display, _settings(shell, output_id, "html")),
             "rtf": render_rtf(display, _settings(shell, output_id, "rtf")),
             "txt": render_txt(display, int(txt["width"]), int(txt["length"]))}
    tlf_dir = Path(tlf_dir)
    # RTF is 7-bit by construction (non-ASCII escaped); TXT and HTML are UTF-8.
    paths = [write_text_atomic(tlf_dir / f"{output_id}.{fmt}", texts[fmt]) for fmt in FORMATS]
    figure = shell.outputs[output_id].get("figure")
    if figure:
        title = " ".join(str(t) for t in (shell.outputs[output_id].get("number"), shell.outputs[output_id]["title"]) if t)
        svg = render_figure(compute_figure_data(ard, figure), figure, title)
        paths.append(write_text_atomic(tlf_dir / f"{output_id}.svg", svg + "\n"))
    return paths


def render_index(shell: Shell, output_ids: list[str], study: str) -> str:
    """``tlf/index.html``: number, title and population of every output, linking its files.

    >>> from pipeline.analysis.examples import example_shell
    >>> html = render_index(example_shell(), ["table1"], "demo")
    >>> 'href="table1.rtf"' in html and "Summary of efficacy endpoints" in html
    True
    """
    entries = [{"output_id": oid, "number": shell.outputs[oid].get("number", ""), "title": shell.outputs[oid]["title"],
                "population": shell.populations[shell.outputs[oid]["population"]]["label"]} for oid in output_ids]
    return template("index.html.j2").render(
        study=study, entries=entries, formats=FORMATS,
        font=(shell.defaults.get("html") or {}).get("font", "Courier New, Courier, monospace"))


def run(ctx: StudyContext) -> None:
    """Compute the ARD of every shell output, then write ``tlf/<output_id>.{html,rtf,txt}`` and ``tlf/index.html``."""
    results = analysis_stage.run(ctx)
    if not results:
        return
    shell = load_shell(ctx.specs_dir)
    for output_id in results:
        paths = render_output(shell, output_id, ctx.ard_dir, ctx.tlf_dir)
        log.info("tlf %s: %s", output_id, ", ".join(p.name for p in paths))
    write_text_atomic(ctx.tlf_dir / "index.html", render_index(shell, list(results), ctx.study))
