"""Writing reports to disk. Every file is written atomically (a temporary file
in the same folder, then ``os.replace``), so a reader — a web server, a CI job,
a half-finished re-run — never sees a truncated report."""
from __future__ import annotations

import json
from pathlib import Path

from ..results import SubmissionResult
from .gradebook import gradebook_csv
from .gradescope import to_gradescope
from .html import render_student_html
from ..fsutil import write_atomic
from .summary import render_class_html, summary


def student_dir(out_dir: str | Path, student: str) -> Path:
    """``<out>/<student>``; refuses names that would leave ``out_dir``."""
    if not student or student in (".", "..") or any(c in student for c in "/\\\0"):
        raise ValueError(f"unsafe student name for a folder: {student!r}")
    return Path(out_dir) / student


def _json(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_student_reports(result: SubmissionResult, out_dir: str | Path, assignment_title: str,
                          *, student_view: bool = False) -> Path:
    """Write ``<out>/<student>/results.json`` (Gradescope) and ``report.html``;
    returns the student's folder."""
    folder = student_dir(out_dir, result.student)
    write_atomic(folder / "results.json", _json(to_gradescope(result, student_view=student_view)))
    write_atomic(folder / "report.html", render_student_html(result, assignment_title, student_view=student_view))
    return folder


def write_class_reports(results: list[SubmissionResult], out_dir: str | Path, assignment_id: str,
                        assignment_title: str) -> dict[str, Path]:
    """Write ``gradebook.csv``, ``summary.json`` and ``index.html`` (+ its PNG
    charts) into ``out_dir``; returns {'gradebook', 'summary', 'index'} paths."""
    out = Path(out_dir)
    return {
        "gradebook": write_atomic(out / "gradebook.csv", gradebook_csv(results)),
        "summary": write_atomic(out / "summary.json", _json(summary(results, assignment_id))),
        "index": render_class_html(results, assignment_title, out),
    }
