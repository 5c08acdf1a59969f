"""The one exception the reference calculations raise."""
from __future__ import annotations


class ReferenceError_(ValueError):
    """Bad arguments to a reference calculation (the message says which and why).

    The trailing underscore keeps it apart from Python's built-in ``ReferenceError``.
    """
