"""Values as text, exactly: whole floats lose their ``.0`` and nothing else changes, so a finding or a
define.xml code shows the value as stored (SUPP and RELREC values round instead:
``pipeline.sdtm.derive_helpers.format_number``)."""

from __future__ import annotations

from typing import Any

import numpy as np


def value_text(value: Any) -> str:
    """A value as text, whole floats without ``.0`` (a code read back as float stays ``3``).

    >>> value_text(3.0), value_text(np.float32(2.5)), value_text("A")
    ('3', '2.5', 'A')
    """
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
