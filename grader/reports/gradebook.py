"""The class gradebook: one row per student, one column per rubric item.

An item cell is the item's score; it is empty (NaN) when there is no grade yet:
the item is pending manual review, or the submission could not be graded.
"""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..results import SubmissionResult

SUMMARY_COLUMNS = ["total", "max", "auto", "manual", "pending", "unverified", "graded", "reason"]


def item_order(results: list[SubmissionResult]) -> list[str]:
    """Item ids in rubric order: as the results list them, first seen first."""
    order: dict[str, None] = {}
    for r in results:
        for i in r.items:
            order.setdefault(i.id, None)
    return list(order)


def gradebook(results: list[SubmissionResult]) -> pd.DataFrame:
    """Index ``student`` (sorted); columns: item ids in rubric order, then
    total, max, auto, manual, pending, unverified, graded, reason."""
    ids = item_order(results)
    clash = set(ids) & set(SUMMARY_COLUMNS)
    if clash:
        raise ValueError(f"item ids clash with gradebook columns: {sorted(clash)}")
    rows = []
    for r in sorted(results, key=lambda r: r.student):
        scores = {i.id: (float("nan") if i.grading == "pending" else i.score) for i in r.items}
        row: dict[str, object] = {"student": r.student}
        row.update({i: scores.get(i, float("nan")) for i in ids})
        row.update(total=r.score, max=r.max_score, **r.points_by_grading(), graded=r.graded, reason=r.reason)
        rows.append(row)
    df = pd.DataFrame(rows, columns=["student", *ids, *SUMMARY_COLUMNS])
    df[ids + SUMMARY_COLUMNS[:6]] = df[ids + SUMMARY_COLUMNS[:6]].astype(float)
    df["graded"] = df["graded"].astype(bool)
    df["reason"] = df["reason"].astype(str)
    return df.set_index("student")


def gradebook_csv(results: list[SubmissionResult]) -> str:
    buf = io.StringIO()
    gradebook(results).round(4).to_csv(buf, lineterminator="\n")
    return buf.getvalue()


def write_gradebook(results: list[SubmissionResult], path: str | Path) -> Path:
    """Write the gradebook as CSV (atomically); returns the path."""
    from .write import write_atomic
    return write_atomic(path, gradebook_csv(results))
