"""Item checks, one module per kind of check; ``CHECKS`` maps a rubric check type
to the module implementing ``score`` (and, for slow work, ``measure`` /
``measure_key``; see ``base``)."""
from __future__ import annotations

import importlib
from types import SimpleNamespace

from . import manual, simple, value

CHECKS: dict[str, object] = {
    "value": value,
    "freetext": manual,
    "plot": SimpleNamespace(score=simple.score_plot),
    "execution": SimpleNamespace(score=simple.score_execution),
    "hidden": SimpleNamespace(score=simple.score_hidden),
}

# Checks that run the student's model live in their own modules (they pull in
# the sandboxed probe and the training harness).
for _type, _module, _prefix in (("model", "model", ""), ("function", "model", "function_"),
                                ("retrain", "retrain", "")):
    try:
        _mod = importlib.import_module(f".{_module}", __name__)
    except ImportError:  # pragma: no cover - only while a module is being built
        continue
    CHECKS[_type] = SimpleNamespace(**{name: getattr(_mod, _prefix + name) for name in ("score", "measure", "measure_key")
                                       if hasattr(_mod, _prefix + name)})
