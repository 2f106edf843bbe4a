"""Stage package ``report``: the self-contained data-quality review report (``reports/dq_report.html``).

:mod:`.sections` turns each stage's outputs into tables (missing inputs say "not run");
:mod:`.stage` renders them with jinja2 (autoescape on) from ``templates/dq_report.html.j2``.
"""
