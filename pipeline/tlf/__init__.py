"""Rendering of tables and listings from the ARD: HTML, RTF and fixed-width TXT.

``stage.run(ctx)`` (the CLI's ``tables`` command) runs :mod:`pipeline.analysis` and then renders
every output of ``specs/<study>/tlf.yaml`` into ``tlf/<output_id>.html``, ``.rtf`` and ``.txt``.

The path from ARD to file: :func:`pipeline.tlf.display.build_display` places the ARD values into a
:class:`~pipeline.tlf.display.Display` (titles, column headers ``Arm (N=39)``, lines of text cells
formatted by :mod:`pipeline.tlf.formatting`), :mod:`pipeline.tlf.paginate` splits lines into pages
keeping blocks together, and one jinja2 template per format (``templates/``) writes the result.
Templates never compute; numbers are identical across formats because all three show the same
strings.
"""
