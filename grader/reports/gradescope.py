"""Gradescope autograder ``results.json``.

https://gradescope-autograders.readthedocs.io/en/latest/specs/ — top-level
``score`` / ``output`` / ``tests``; each test has name, score, max_score,
status, output, visibility and tags. Gradescope has no extra-credit field, so
extra-credit items say so in their name.
"""
from __future__ import annotations

import math
from typing import Any

from ..results import ItemResult, SubmissionResult
from ._format import (fmt_number, fmt_score, fmt_table_text, fmt_text, is_hidden_for, pair_precision,
                      points_line, safe_float, visible_result)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _labelled(label: str, value: Any, prec: int) -> str:
    text = fmt_text(value, prec)
    return f"{label}:\n{_indent(text)}" if "\n" in text else f"{label}: {text}"


def item_output(item: ItemResult) -> str:
    """The plain-text explanation of one item."""
    lines: list[str] = []
    if item.message:
        lines.append(item.message)
    if item.grading == "pending":
        lines.append("Pending manual review.")
    if item.grading == "unverified":
        lines.append(f"Unverified: {fmt_score(item.unverified_score)} points reached on offline / subset data only.")
    prec = pair_precision(item.expected, item.given)
    if item.expected is not None:
        lines.append(_labelled("Expected", item.expected, prec))
    if item.given is not None:
        lines.append(_labelled("Given", item.given, prec))
    if item.source:
        lines.append(f"Source: {item.source}")
    lines += item.details
    if item.table:
        lines.append(fmt_table_text(item.table))
    if item.figures:
        lines.append("Figures: " + ", ".join(item.figures))
    return "\n".join(lines)


def _test(item: ItemResult, student_view: bool) -> dict[str, Any]:
    score, max_score = safe_float(item.score), safe_float(item.max_score)
    name = item.name + (" (extra credit)" if item.extra_credit else "")
    redacted = is_hidden_for(item, student_view)
    return {
        "name": name,
        "score": score,
        "max_score": max_score,
        "status": "passed" if math.isclose(score, max_score, abs_tol=1e-9) else "failed",
        "output": "hidden" if redacted else item_output(item),
        "visibility": "after_published" if item.hidden else "visible",
        "tags": [item.grading, item.kind],
    }


def summary_output(result: SubmissionResult, student_view: bool = False) -> str:
    ex = result.execution
    lines = []
    if not result.graded:
        lines.append(f"Not graded: {result.reason or 'no reason given'}")
    run = f"Execution: {ex.status} (sandbox: {ex.sandbox}"
    run += f", {fmt_number(round(ex.duration, 1))} s)" if ex.duration else ")"
    if ex.message:
        run += f" - {ex.message}"
    lines.append(run)
    if ex.cell_errors:
        lines.append(f"Cells with errors: {len(ex.cell_errors)}")
    if ex.locked_cells_modified:
        lines.append("Locked cells modified: " + ", ".join(ex.locked_cells_modified))
    shown = visible_result(result, student_view)
    lines.append(f"Points: {points_line(shown)}")
    if n_hidden := len(result.items) - len(shown.items):
        lines.append(f"{n_hidden} hidden item(s) are scored after publication.")
    return "\n".join(lines)


def to_gradescope(result: SubmissionResult, *, student_view: bool = False) -> dict:
    """The results.json dict. Valid JSON: no NaN / inf anywhere (scores are
    sanitised; values only appear inside text). Hidden items get visibility
    'after_published'; in ``student_view`` their output is just 'hidden'."""
    return {
        "score": safe_float(result.score),
        "output": summary_output(result, student_view),
        "tests": [_test(i, student_view) for i in result.items],
    }
