"""Raw clinical-trial site exports -> SDTM -> ADaM -> tables, driven by study metadata.

The stages are the architecture; each is a package:

    simulate -> ingest -> sdtm -> validate -> adam -> analysis -> tlf -> submit -> report
"""

__version__ = "0.1.0"
