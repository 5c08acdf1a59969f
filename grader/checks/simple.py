"""Checks read straight off the execution record: figures shown, errors raised,
and what is left of a hidden item in the students' copy of a rubric."""
from __future__ import annotations

from ..results import ItemResult
from ..rubric import ExecutionCheck, Item, PlotCheck
from .base import Context, result


def score_plot(item: Item, measurement: dict | None, ctx: Context) -> ItemResult:
    check = item.check
    assert isinstance(check, PlotCheck)
    cells = ctx.execution.get("cells", [])
    if check.cell_tag:
        cells = [c for c in cells if check.cell_tag in c.get("tags", [])]
    shown = sum(c.get("images", 0) for c in cells)
    submitted = sum(c.get("submitted_images", 0) for c in cells if c.get("skipped"))
    where = f" in cells tagged {check.cell_tag!r}" if check.cell_tag else ""
    given = f"{shown} figure(s){where}"
    if submitted:
        # cells grader does not re-run (the student's long training): their figures
        # can only come from the notebook as handed in
        shown += submitted
        given = f"{shown} figure(s){where}, {submitted} of them from cells grader did not re-run (as handed in)"
    expected = f"at least {check.min_figures} figure(s){where}"
    if shown >= check.min_figures:
        return result(item, status="passed", score=item.points, given=given, expected=expected,
                      message="the figures are there" + ("; their content is reviewed by hand" if check.review else ""))
    reason = "the notebook did not run to the end" if ctx.execution.get("status") in ("timeout", "killed") else ""
    return result(item, status="failed", given=given, expected=expected,
                  message=f"{shown} of the {check.min_figures} required figure(s) were produced"
                          + (f" ({reason})" if reason else ""))


def score_execution(item: Item, measurement: dict | None, ctx: Context) -> ItemResult:
    check = item.check
    assert isinstance(check, ExecutionCheck)
    status = ctx.execution.get("status", "not-run")
    errors = ctx.execution.get("cell_errors", [])
    if status in ("ok", "errors") and len(errors) <= check.max_errors:
        return result(item, status="passed", score=item.points, message="the notebook runs from top to bottom")
    msg = ctx.execution.get("message") or f"{len(errors)} cell(s) raised an error"
    return result(item, status="failed", message=msg, details=errors[:10])


def score_hidden(item: Item, measurement: dict | None, ctx: Context) -> ItemResult:
    return result(item, status="hidden", grading="pending", message="hidden: graded after the deadline")
