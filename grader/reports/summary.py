"""Class-level results: a machine-readable summary for CI and an overview page.

Item statistics are over the students whose submission was graded and whose
item is not pending manual review (a pending item has no score yet).
"""
from __future__ import annotations

import io
import math
import statistics
from pathlib import Path
from typing import Any
from urllib.parse import quote

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..results import SubmissionResult
from ._format import safe_float
from .gradebook import item_order

FULL_MARKS_TOL = 1e-9
HISTOGRAM_PNG = "score_distribution.png"
DIFFICULTY_PNG = "item_difficulty.png"


def _full(score: float, max_score: float) -> bool:
    return score >= max_score - FULL_MARKS_TOL


def summary(results: list[SubmissionResult], assignment_id: str) -> dict[str, Any]:
    """{'assignment', 'counts': {students, graded, failed}, 'class': {mean, median, max},
    'students': {name: {score, max, graded, reason, failed: [item ids], pending: [item ids]}},
    'items': {id: {title, kind, max, mean, full_marks, n}}}.

    ``failed`` (count) is students that could not be graded; a student's
    ``failed`` items are those that lost points (pending items are listed apart).
    ``full_marks`` is the share of students with full marks on the item (its
    difficulty: low = hard); None when no student has a score for it. JSON-safe."""
    graded = [r for r in results if r.graded]
    students = {}
    for r in sorted(results, key=lambda r: r.student):
        students[r.student] = {
            "score": safe_float(r.score), "max": safe_float(r.max_score), "graded": r.graded, "reason": r.reason,
            "failed": [i.id for i in r.items if i.grading != "pending" and not _full(i.score, i.max_score)],
            "pending": [i.id for i in r.items if i.grading == "pending"],
        }
    items: dict[str, Any] = {}
    for iid in item_order(results):
        found = [i for r in graded for i in r.items if i.id == iid]
        scored = [i for i in found if i.grading != "pending"]
        first = next((i for r in results for i in r.items if i.id == iid))
        items[iid] = {
            "title": first.title, "kind": first.kind, "max": safe_float(first.max_score),
            "extra_credit": first.extra_credit, "hidden": first.hidden, "n": len(scored),
            "mean": safe_float(statistics.fmean(i.score for i in scored)) if scored else None,
            "full_marks": round(sum(_full(i.score, i.max_score) for i in scored) / len(scored), 4) if scored else None,
        }
    totals = [r.score for r in graded]
    return {
        "assignment": assignment_id,
        "counts": {"students": len(results), "graded": len(graded), "failed": len(results) - len(graded)},
        "class": {
            "mean": safe_float(statistics.fmean(totals)) if totals else None,
            "median": safe_float(statistics.median(totals)) if totals else None,
            "max": safe_float(max((r.max_score for r in results), default=0.0)),
        },
        "students": students,
        "items": items,
    }


# ---------------------------------------------------------------- class page

def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def histogram_png(results: list[SubmissionResult]) -> bytes:
    totals = [r.score for r in results if r.graded and math.isfinite(r.score)]
    max_score = max((r.max_score for r in results), default=0.0)
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.add_subplot()
    if totals:
        top = max(max_score, max(totals), 1.0)
        ax.hist(totals, bins=min(20, max(5, len(totals))), range=(0, top), color="#0969da", edgecolor="white")
        if max_score:
            ax.axvline(max_score, color="#656d76", linestyle="--", linewidth=1)
    else:
        ax.text(0.5, 0.5, "no graded submissions", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("total score")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Score distribution")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def difficulty_png(summ: dict[str, Any]) -> bytes:
    ids = [i for i, s in summ["items"].items() if s["full_marks"] is not None]
    fig = Figure(figsize=(6.4, max(1.6, 0.32 * len(ids) + 0.9)))
    ax = fig.add_subplot()
    if ids:
        shares = [summ["items"][i]["full_marks"] * 100 for i in ids]
        colours = ["#1a7f37" if s >= 75 else "#bf8700" if s >= 40 else "#cf222e" for s in shares]
        ax.barh(range(len(ids)), shares, color=colours)
        ax.set_yticks(range(len(ids)), ids)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
    else:
        ax.text(0.5, 0.5, "no scored items", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("students with full marks (%)")
    ax.set_title("Item difficulty")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def class_html(results: list[SubmissionResult], assignment_title: str, summ: dict[str, Any]) -> str:
    from .html import environment
    students = [{"name": name, "href": quote(name) + "/report.html", **s} for name, s in summ["students"].items()]
    return environment().get_template("class.html.j2").render(
        title=assignment_title, s=summ, students=students,
        histogram=HISTOGRAM_PNG, difficulty=DIFFICULTY_PNG)


def render_class_html(results: list[SubmissionResult], assignment_title: str, out_dir: str | Path) -> Path:
    """Write ``index.html`` and its two PNG charts into ``out_dir``; returns the page's path."""
    from .write import write_atomic
    out = Path(out_dir)
    assignment_id = results[0].assignment if results else ""
    summ = summary(results, assignment_id)
    write_atomic(out / HISTOGRAM_PNG, histogram_png(results))
    write_atomic(out / DIFFICULTY_PNG, difficulty_png(summ))
    return write_atomic(out / "index.html", class_html(results, assignment_title, summ))
