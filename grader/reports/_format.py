"""Value formatting shared by the renderers: compact numbers, matrices, lists.

Values in ``ItemResult.expected`` / ``given`` are arbitrary (numbers, nested
lists, numpy arrays, dicts, strings written by students). Everything here turns
them into plain text or into a small view model for the HTML template; nothing
here produces markup, so escaping stays with Jinja's autoescape.
"""
from __future__ import annotations

import math
from typing import Any

from ..results import ItemResult, SubmissionResult

MAX_ROWS = 12          # matrix rows / cols shown before eliding
MAX_COLS = 12
MAX_LIST = 24          # list items shown inline
MAX_TEXT = 2000        # characters of a string value
PRECISIONS = (4, 6, 8, 12, 17)

KIND_LABELS = {
    "penpaper": "pen-and-paper answer",
    "model": "model architecture",
    "retrain": "retraining accuracy",
    "plot": "figures in the notebook",
    "freetext": "written answer (manual review)",
    "execution": "notebook execution",
}


def is_hidden_for(item: ItemResult, student_view: bool) -> bool:
    """Hidden items are redacted in a student view; publish may already have
    reduced them to status 'hidden'."""
    return item.status == "hidden" or (student_view and item.hidden)


def visible_result(result: SubmissionResult, student_view: bool) -> SubmissionResult:
    """The result without the items a student may not see (for totals)."""
    return result.model_copy(update={"items": [i for i in result.items if not is_hidden_for(i, student_view)]})


def safe_float(x: Any) -> float:
    """A finite float for JSON (NaN / inf / None -> 0.0)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return 0.0
    return round(f, 4) if math.isfinite(f) else 0.0


def normalize(v: Any) -> Any:
    """numpy / torch arrays and tuples -> lists; numpy scalars -> python."""
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        try:
            v = v.tolist()
        except Exception:  # noqa: BLE001 - a hostile object may raise anything
            return str(v)
    if isinstance(v, tuple):
        v = list(v)
    if isinstance(v, list):
        return [normalize(x) for x in v]
    if isinstance(v, dict):
        return {str(k): normalize(x) for k, x in v.items()}
    return v


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, float, str))


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_matrix(v: Any) -> bool:
    return (isinstance(v, list) and len(v) > 0 and all(isinstance(r, list) for r in v)
            and len({len(r) for r in v}) == 1 and len(v[0]) > 0
            and all(_is_scalar(x) and not isinstance(x, str) for r in v for x in r))


def fmt_number(x: Any, prec: int = 4) -> str:
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.{prec}g}"
    return str(x)


def fmt_score(x: float | None) -> str:
    return "–" if x is None else fmt_number(safe_float(x), 4)


def _truncate(s: str, n: int = MAX_TEXT) -> str:
    return s if len(s) <= n else s[:n] + f"… ({len(s) - n} more characters)"


def fmt_inline(v: Any, prec: int = 4) -> str:
    """One line: numbers compact, lists as [a, b, c], dicts as {k: v}."""
    if isinstance(v, str):
        return _truncate(v)
    if _is_scalar(v):
        return fmt_number(v, prec)
    if isinstance(v, list):
        parts = [fmt_inline(x, prec) for x in v[:MAX_LIST]]
        if len(v) > MAX_LIST:
            parts.append(f"… {len(v) - MAX_LIST} more")
        return _truncate("[" + ", ".join(parts) + "]")
    if isinstance(v, dict):
        items = list(v.items())
        parts = [f"{k}: {fmt_inline(x, prec)}" for k, x in items[:MAX_LIST]]
        if len(items) > MAX_LIST:
            parts.append(f"… {len(items) - MAX_LIST} more")
        return _truncate("{" + ", ".join(parts) + "}")
    return _truncate(str(v))


def matrix_cells(m: list[list[Any]], prec: int = 4) -> tuple[list[list[str]], bool, bool]:
    """Formatted cells (elided to MAX_ROWS x MAX_COLS) and whether rows / cols were cut."""
    rows_cut, cols_cut = len(m) > MAX_ROWS, len(m[0]) > MAX_COLS
    return ([[fmt_number(x, prec) for x in r[:MAX_COLS]] for r in m[:MAX_ROWS]], rows_cut, cols_cut)


def fmt_text(v: Any, prec: int = 4) -> str:
    """Plain text, possibly several lines (matrices as aligned rows)."""
    v = normalize(v)
    if is_matrix(v):
        cells, rows_cut, cols_cut = matrix_cells(v, prec)
        width = max(len(c) for r in cells for c in r)
        lines = ["  ".join(c.rjust(width) for c in r) + ("  …" if cols_cut else "") for r in cells]
        if rows_cut:
            lines.append(f"… ({len(v)} x {len(v[0])})")
        return "\n".join(lines)
    return fmt_inline(v, prec)


def pair_precision(expected: Any, given: Any) -> int:
    """The smallest precision at which differing expected / given also *look*
    different (0.12345 vs 0.12349 must not both read 0.1235)."""
    e, g = normalize(expected), normalize(given)
    if e is None or g is None or e == g:
        return PRECISIONS[0]
    for p in PRECISIONS:
        if fmt_text(e, p) != fmt_text(g, p):
            return p
    return PRECISIONS[-1]


def html_value(v: Any, prec: int = 4, compare: Any = None) -> dict[str, Any] | None:
    """View model for the template: {'matrix': rows, ...} or {'text': str}.

    With ``compare`` (the expected value, same shape), matrix cells that differ
    at the shown precision are flagged."""
    v = normalize(v)
    if v is None:
        return None
    if is_matrix(v):
        cells, rows_cut, cols_cut = matrix_cells(v, prec)
        other = normalize(compare)
        diff = None
        if is_matrix(other) and len(other) == len(v) and len(other[0]) == len(v[0]):
            ocells, _, _ = matrix_cells(other, prec)
            diff = [[c != o for c, o in zip(r, orow)] for r, orow in zip(cells, ocells)]
        rows = [[{"v": c, "diff": bool(diff and diff[i][j])} for j, c in enumerate(r)]
                for i, r in enumerate(cells)]
        return {"matrix": rows, "rows_cut": rows_cut, "cols_cut": cols_cut,
                "shape": f"{len(v)} × {len(v[0])}"}
    text = fmt_inline(v, prec)
    return {"text": text, "block": "\n" in text or len(text) > 120}


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if str(k) not in cols:
                cols.append(str(k))
    return cols


def fmt_table_text(rows: list[dict[str, Any]]) -> str:
    rows = [{str(k): v for k, v in r.items()} for r in rows]
    cols = table_columns(rows)
    body = [[fmt_inline(normalize(r[c]), 4) if c in r else "" for c in cols] for r in rows]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(x.ljust(w) for x, w in zip(b, widths)).rstrip() for b in body]
    return "\n".join(lines)


def points_line(result: SubmissionResult) -> str:
    p = result.points_by_grading()
    return (f"{fmt_score(p['auto'])} auto, {fmt_score(p['manual'])} manual, "
            f"{fmt_score(p['pending'])} pending review, {fmt_score(p['unverified'])} unverified")
