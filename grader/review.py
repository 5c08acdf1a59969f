"""The manual-review queue: free-text (and other hand-graded) items.

grader writes ``<reports>/review/<student>.yaml`` with one entry per manual item,
showing the student's answer and the rubric's deductions. A TA fills it in —
``reviewed: true``, the deductions that apply (by number or text), an optional
``adjust`` and a comment — and the next ``grader grade`` merges it into the
reports without re-running anything. The file records a fingerprint of the
submission; if the submission changes after review, the review is flagged stale
(and still shown, so no work is lost). The folder lives with the reports, never
inside the submissions folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .reports.write import write_atomic

HEADER = """\
# Manual review for {student} ({assignment}).
# For each item: set reviewed: true, list the deductions that apply (their numbers),
# optionally 'adjust' (+/- points) and a comment for the student. Then run grader grade
# again: nothing is re-executed. Do not edit 'fingerprint'.
"""


@dataclass
class Review:
    reviewed: bool = False
    deductions: list[int] = field(default_factory=list)
    adjust: float = 0.0
    comment: str = ""
    stale: bool = False
    problem: str = ""


def review_path(reports: Path, student: str) -> Path:
    return reports / "review" / f"{student}.yaml"


def load_reviews(path: Path, fingerprint: str) -> tuple[dict[str, Review], str]:
    """Reviews by item id, and a problem message if the file is unusable."""
    if not path.exists():
        return {}, ""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return {}, f"{path}:{(mark.line + 1) if mark else '?'}: invalid YAML: {getattr(exc, 'problem', exc)}"
    if not isinstance(data, dict):
        return {}, f"{path}: expected a mapping"
    stale = bool(data.get("fingerprint")) and data.get("fingerprint") != fingerprint
    out: dict[str, Review] = {}
    for item_id, entry in (data.get("items") or {}).items():
        if not isinstance(entry, dict):
            continue
        r = Review(stale=stale)
        r.reviewed = bool(entry.get("reviewed"))
        r.comment = str(entry.get("comment") or "")
        try:
            r.adjust = float(entry.get("adjust") or 0)
            r.deductions = [int(d) for d in (entry.get("deductions") or [])]
        except (TypeError, ValueError):
            r.problem = f"{path}: item {item_id}: deductions must be a list of numbers and adjust a number"
            r.reviewed = False
        out[str(item_id)] = r
    return out, ""


def write_queue(path: Path, student: str, assignment: str, fingerprint: str,
                entries: dict[str, dict[str, Any]]) -> None:
    """Create or extend the review file, never overwriting what a TA wrote."""
    existing: dict[str, Any] = {}
    if path.exists():
        try:
            existing = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            return  # the TA's file is broken; leave it for them to fix (reported elsewhere)
    items = dict(existing.get("items") or {})
    changed = not path.exists()
    for item_id, entry in entries.items():
        if item_id not in items:
            items[item_id] = {"reviewed": False, "deductions": [], "adjust": 0, "comment": "", **entry}
            changed = True
        else:
            # refresh what grader shows, keep what the TA decided
            for k in ("title", "points", "answer", "choices"):
                if k in entry and items[item_id].get(k) != entry[k]:
                    items[item_id][k] = entry[k]
                    changed = True
    if not changed:
        return
    data = {"student": student, "assignment": assignment,
            "fingerprint": existing.get("fingerprint", fingerprint), "items": items}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, HEADER.format(student=student, assignment=assignment)
                 + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
