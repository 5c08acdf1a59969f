"""Per-student HTML report (one self-contained page, opened offline).

Autoescape is on: titles, messages, given values and table cells may all come
from student code. The CSS is inlined from ``templates/report.css``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from ..results import ItemResult, SubmissionResult
from ._format import (KIND_LABELS, fmt_inline, fmt_number, fmt_score, html_value, is_hidden_for, normalize,
                      pair_precision, table_columns, visible_result)

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["score"] = fmt_score
    env.filters["num"] = fmt_number
    return env


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [{str(k): v for k, v in r.items()} for r in rows]
    cols = table_columns(rows)
    return {"columns": cols,
            "rows": [[fmt_inline(normalize(r[c])) if c in r else "" for c in cols] for r in rows]}


def _relative(path: str) -> bool:
    """Figures must be relative paths inside the report folder (no URLs, no '..')."""
    return bool(path) and ":" not in path and not path.startswith(("/", "\\")) and ".." not in Path(path).parts


def item_view(item: ItemResult, student_view: bool) -> dict[str, Any]:
    hidden = is_hidden_for(item, student_view)
    view: dict[str, Any] = {
        "id": item.id, "title": item.title, "kind": item.kind, "hidden": hidden,
        "status": "hidden" if hidden else item.status, "grading": item.grading,
        "extra_credit": item.extra_credit, "hidden_item": item.hidden,
        "score": None if hidden else item.score, "max_score": item.max_score,
    }
    if hidden:
        return view
    prec = pair_precision(item.expected, item.given)
    view.update(
        checked=KIND_LABELS.get(item.kind, item.kind), source=item.source, message=item.message,
        expected=html_value(item.expected, prec),
        given=html_value(item.given, prec, compare=item.expected if item.status != "passed" else None),
        details=item.details, table=_table(item.table) if item.table else None,
        figures=[quote(f) for f in item.figures if _relative(f)], unverified_score=item.unverified_score,
    )
    return view


def render_student_html(result: SubmissionResult, assignment_title: str, *, student_view: bool = False) -> str:
    """The report page. ``student_view`` redacts hidden items to 'hidden' and
    leaves their points out of the totals shown."""
    shown = visible_result(result, student_view)
    n_hidden = len(result.items) - len(shown.items)
    return environment().get_template("report.html.j2").render(
        r=result, title=assignment_title, student_view=student_view,
        total=shown.score, max_total=shown.max_score, points=shown.points_by_grading(),
        n_hidden=n_hidden, items=[item_view(i, student_view) for i in result.items],
        ex=result.execution,
    )
