"""Pen-and-paper answers against references grader computes itself.

The expected value is an expression over the rubric's data: ``$x`` is a data
entry, ``@1a-conv`` is another item's expected value, ``{compute: f, args: …}``
calls ``grader.reference``. Evaluating the same expression with ``@`` bound to
the *student's* earlier answers gives error-carried-forward credit: one slip in
the convolution must not cost the ReLU, pooling and loss items as well.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from .. import answers as ans
from ..reference import compute, likely_mistakes
from ..results import ItemResult
from ..rubric import Compare, Compute, Item, Rubric, Tolerance, ValueCheck
from .base import Context, result


class ExpressionError(ValueError):
    pass


def evaluate(expr: Any, rubric: Rubric, ref: Callable[[str], Any]) -> Any:
    """Evaluate a rubric expression; ``ref(item_id)`` supplies ``@item`` values."""
    if isinstance(expr, Compute) or (isinstance(expr, dict) and "compute" in expr):
        c = expr if isinstance(expr, Compute) else Compute.model_validate(expr)
        args = {k: evaluate(v, rubric, ref) for k, v in c.args.items()}
        return compute(c.compute, **args)
    if isinstance(expr, dict):
        return {k: evaluate(v, rubric, ref) for k, v in expr.items()}
    if isinstance(expr, list):
        return [evaluate(v, rubric, ref) for v in expr]
    if isinstance(expr, str) and expr.startswith("$"):
        return rubric.data[expr[1:]]
    if isinstance(expr, str) and expr.startswith("@"):
        return ref(expr[1:])
    return expr


def references(expr: Any) -> list[str]:
    """Item ids an expression depends on (``@item``)."""
    if isinstance(expr, Compute):
        return [r for v in expr.args.values() for r in references(v)]
    if isinstance(expr, dict):
        return [r for v in expr.values() for r in references(v)]
    if isinstance(expr, list):
        return [r for v in expr for r in references(v)]
    if isinstance(expr, str) and expr.startswith("@"):
        return [expr[1:]]
    return []


# ---------------------------------------------------------------- comparison

def _close(a: float, b: float, tol: Tolerance) -> bool:
    return math.isclose(a, b, rel_tol=tol.rel, abs_tol=tol.abs)


def _flat(x: Any) -> list[float]:
    if isinstance(x, list):
        return [v for item in x for v in _flat(item)]
    return [float(x)]


def normalise(raw: Any, cmp: Compare) -> Any:
    """The student's raw answer in the form the comparison needs (or AnswerError)."""
    if cmp.kind == "number":
        return ans.parse_number(raw, percent=cmp.percent)
    if cmp.kind == "integer":
        return ans.parse_integer(raw)
    if cmp.kind == "array":
        return ans.parse_array(raw)
    if cmp.kind == "shape":
        return ans.parse_shape(raw)
    return ans.parse_text(raw)


def _expected_form(expected: Any, cmp: Compare) -> Any:
    """The reference in the same form; it is already a fraction, never a percentage."""
    return normalise(expected, cmp.model_copy(update={"percent": False}) if cmp.percent else cmp)


def agreement(given: Any, expected: Any, cmp: Compare, tol: Tolerance) -> tuple[float, str]:
    """Share of the answer that is right (0..1) and, when not all, what differs."""
    if cmp.kind == "number":
        return (1.0, "") if _close(given, expected, tol) else (0.0, "")
    if cmp.kind == "integer":
        return (1.0, "") if given == expected else (0.0, "")
    if cmp.kind == "shape":
        if given == expected:
            return 1.0, ""
        for layout in cmp.layouts:
            if layout == "HWC" and len(expected) == 3 and given == [expected[1], expected[2], expected[0]]:
                return 1.0, ""
            if layout == "HW" and len(expected) == 3 and given == expected[1:]:
                return 1.0, ""
        return 0.0, ""
    if cmp.kind in ("text", "choice"):
        return (1.0, "") if given.casefold() == str(expected).casefold() else (0.0, "")
    # arrays
    gs, es = ans.shape_of(given), ans.shape_of(expected)
    if gs != es:
        return 0.0, f"shape {_fmt_shape(gs)} where {_fmt_shape(es)} was expected"
    g, e = _flat(given), _flat(expected)
    ok = [_close(a, b, tol) for a, b in zip(g, e)]
    if all(ok):
        return 1.0, ""
    wrong = [i for i, good in enumerate(ok) if not good]
    where = ", ".join(_position(i, es) for i in wrong[:6]) + (" …" if len(wrong) > 6 else "")
    return sum(ok) / len(ok), f"{len(wrong)} of {len(ok)} entries differ (at {where})"


def _fmt_shape(shape: list[int]) -> str:
    return "×".join(map(str, shape)) if shape else "scalar"


def _position(flat_index: int, shape: list[int]) -> str:
    idx = []
    for dim in reversed(shape):
        idx.append(flat_index % dim)
        flat_index //= dim
    return "(" + ", ".join(str(i + 1) for i in reversed(idx)) + ")"


# ---------------------------------------------------------------- the check

def expected_value(item: Item, rubric: Rubric, cache: dict[str, Any]) -> Any:
    if item.id not in cache:
        check = item.check
        assert isinstance(check, ValueCheck)
        cache[item.id] = evaluate(check.expected, rubric,
                                  lambda ref: expected_value(rubric.item(ref), rubric, cache))
    return cache[item.id]


def score(item: Item, measurement: dict | None, ctx: Context) -> ItemResult:
    check = item.check
    assert isinstance(check, ValueCheck)
    cmp = check.compare
    tol = cmp.tolerance or ctx.rubric.defaults.tolerance
    cache = ctx.__dict__.setdefault("_expected_cache", {})
    expected = _expected_form(expected_value(item, ctx.rubric, cache), cmp)

    got = ctx.answers.get(item)
    if isinstance(got, ans.Missing):
        return result(item, status="missing", expected=expected, source=got.source or None,
                      message=got.reason)
    try:
        given = normalise(got.value, cmp)
    except ans.AnswerError as exc:
        return result(item, status="error", expected=expected, given=got.value, source=got.source,
                      message=f"the answer could not be read: {exc}")
    share, where = agreement(given, expected, cmp, tol)
    base = dict(expected=expected, given=given, source=got.source)
    if share == 1.0:
        return result(item, status="passed", score=item.points, message="correct", **base)

    details = [where] if where else []
    explanation = _diagnose(item, check, given, cmp, tol, ctx) if check.diagnose else ""

    carried = _carry_forward(item, check, given, cmp, tol, ctx)
    partial = item.points * share if cmp.partial else 0.0
    if carried is not None and carried > partial:
        deps = ", ".join(references(check.expected))
        whole = carried >= item.points * check.carry_forward - 1e-9
        how = "right" if whole else "partly right"
        return result(item, status="partial", score=round(carried, 4),
                      message=f"wrong, but {how} for your own answer to {deps}: "
                              f"credit for the error carried forward",
                      details=([explanation] if explanation else []) + details, **base)
    if partial > 0:
        msg = f"partly right: {share:.0%} of the entries are correct"
        return result(item, status="partial", score=round(partial, 4),
                      message=f"{explanation} ({share:.0%} of the entries are correct)" if explanation else msg,
                      details=details, **base)
    return result(item, status="failed", message=explanation or "wrong answer", details=details, **base)


def _diagnose(item: Item, check: ValueCheck, given: Any, cmp: Compare, tol: Tolerance, ctx: Context) -> str:
    expr = check.expected
    if not isinstance(expr, Compute):
        return ""
    cache = ctx.__dict__.setdefault("_expected_cache", {})
    args = {k: evaluate(v, ctx.rubric, lambda ref: expected_value(ctx.rubric.item(ref), ctx.rubric, cache))
            for k, v in expr.args.items()}
    try:
        variants = likely_mistakes(expr.compute, **args)
    except Exception:  # a mistake generator failing must not cost the student the item
        return ""
    for explanation, value in variants.items():
        try:
            if agreement(given, _expected_form(value, cmp), cmp, tol)[0] == 1.0:
                return f"it looks like {explanation}" if not explanation.lower().startswith(("it ", "you ")) else explanation
        except (ans.AnswerError, TypeError, ValueError):
            continue
    return ""


def _carry_forward(item: Item, check: ValueCheck, given: Any, cmp: Compare, tol: Tolerance,
                   ctx: Context) -> float | None:
    """Points for an answer right w.r.t. the student's own earlier answers, if the rubric allows."""
    deps = references(check.expected)
    if not check.carry_forward or not deps:
        return None
    own: dict[str, Any] = {}
    for dep in deps:
        prior = ctx.results.get(dep)
        if prior is None or prior.status == "passed" or prior.given is None:
            continue
        own[dep] = prior.given
    if not own:
        return None
    cache = ctx.__dict__.setdefault("_expected_cache", {})

    def ref(dep: str) -> Any:
        return own[dep] if dep in own else expected_value(ctx.rubric.item(dep), ctx.rubric, cache)

    try:
        theirs = _expected_form(evaluate(check.expected, ctx.rubric, ref), cmp)
    except Exception:  # the student's earlier answer may not fit the computation at all
        return None
    share, _ = agreement(given, theirs, cmp, tol)
    if share < 1.0 and not cmp.partial:
        return None
    return item.points * check.carry_forward * share if share > 0 else None
