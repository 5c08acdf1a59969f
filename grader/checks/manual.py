"""Free-text answers: routed to the manual-review queue, merged back when reviewed."""
from __future__ import annotations

from .. import answers as ans
from ..results import ItemResult
from ..rubric import FreeTextCheck, Item
from .base import Context, result


def answer_text(item: Item, ctx: Context) -> str:
    """What the reviewer sees: the named answer, or the cells carrying the item's tag."""
    check = item.check
    if item.answer is not None:
        got = ctx.answers.get(item)
        if isinstance(got, ans.Answer):
            return str(got.value)
    if isinstance(check, FreeTextCheck) and check.cell_tag:
        return "\n\n".join(ctx.execution.get("tagged_text", {}).get(check.cell_tag, []))
    return ""


def score(item: Item, measurement: dict | None, ctx: Context) -> ItemResult:
    check = item.check
    assert isinstance(check, FreeTextCheck)
    reviews = ctx.__dict__.get("reviews", {})
    review = reviews.get(item.id)
    text = answer_text(item, ctx)
    if review is None or not review.reviewed:
        msg = "queued for review by a TA"
        if review is not None and review.problem:
            msg += f" ({review.problem})"
        return result(item, status="pending", grading="pending", given=text or None, message=msg)
    lost, lines = 0.0, []
    for n in review.deductions:
        if 1 <= n <= len(check.deductions):
            d = check.deductions[n - 1]
            lost += d.points
            lines.append(f"-{d.points:g}: {d.text}")
        else:
            lines.append(f"(deduction {n} does not exist in the rubric and was ignored)")
    points = max(0.0, min(item.points, item.points - lost + review.adjust))
    if review.adjust:
        lines.append(f"{review.adjust:+g}: adjustment by the reviewer")
    if review.comment:
        lines.append(f"reviewer: {review.comment}")
    if review.stale:
        lines.insert(0, "STALE: the submission changed after this review; please review again")
    status = "passed" if points >= item.points else ("partial" if points > 0 else "failed")
    return result(item, status=status, grading="manual", score=round(points, 4), given=text or None,
                  message="reviewed by hand" + (" (stale review)" if review.stale else ""), details=lines)
