"""Counting and checking what a student built, outside the student's kernel.

- ``extract.definitions_source``  the notebook's definitions (imports, def, class, constants), never its work
- ``probe`` (a separate process)  builds the model / calls the function, reports plain JSON
- ``runner.probe_model`` / ``runner.probe_function``  run the probe under ``grader.sandbox``
- ``inspect``   parameter counts, layers, hidden units, architecture diffs (pure)
- ``fromscratch``  references for from-scratch optimizer steps and backprop

Kept import-free on purpose: ``python -m grader.models.probe`` must import torch
before anything else, so nothing is imported here eagerly.
"""
from __future__ import annotations

from typing import Any

__all__ = ["definitions_source", "probe_model", "probe_function"]


def __getattr__(name: str) -> Any:
    if name == "definitions_source":
        from .extract import definitions_source
        return definitions_source
    if name in ("probe_model", "probe_function"):
        from . import runner
        return getattr(runner, name)
    raise AttributeError(name)
