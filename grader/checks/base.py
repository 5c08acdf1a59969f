"""The contract between the pipeline and the checks.

Grading a submission has two phases:

1. *measure* (slow, cached on disk): things that need the student's code to run
   — the notebook execution itself, a model probe, a retraining. A check that
   needs such work implements ``measure(item, ctx) -> dict`` (plain JSON data)
   and ``measure_key(item, ctx) -> str`` (hash of every input that changes the
   measurement; the pipeline skips ``measure`` when the key is cached).
2. *score* (fast, pure): ``score(item, measurement, ctx) -> ItemResult``. Changing
   points, thresholds or tolerances in the rubric only re-runs this phase.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..results import ItemResult
from ..rubric import Item, Rubric


@dataclass
class Context:
    rubric: Rubric
    student: str
    submission: Path                     # the submission as handed in (file or folder); read-only
    notebook: Path | None                # the student's notebook inside it
    execution: dict[str, Any]            # the stored execution record (see grader.execute)
    answers: "Any"                       # grader.answers.AnswerBook
    artefacts: Path                      # this student's report folder, for plots
    cache: Path                          # shared cache folder (retraining results, probes)
    sandbox: Any = None                  # callable(scratch: Path) -> grader.sandbox.SandboxSpec
    public: bool = False                 # student self-check: hidden items are not graded
    results: dict[str, ItemResult] = field(default_factory=dict)   # items scored so far


class ItemCheck(Protocol):
    def score(self, item: Item, measurement: dict | None, ctx: Context) -> ItemResult: ...


def stable_hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def result(item: Item, **kw: Any) -> ItemResult:
    """An ItemResult pre-filled from the rubric item."""
    kw.setdefault("status", "failed")
    return ItemResult(id=item.id, title=item.title, kind=item.kind, max_score=item.points,
                      hidden=item.hidden, extra_credit=item.extra_credit, **kw)
