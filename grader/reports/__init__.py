"""Reports rendered from grading results (``grader.results`` only).

- ``to_gradescope``         Gradescope autograder results.json (dict)
- ``render_student_html``   the per-student HTML page
- ``gradebook`` / ``write_gradebook``   one row per student, CSV
- ``summary`` / ``render_class_html``   class statistics (JSON) and overview page
- ``write_atomic`` / ``write_student_reports`` / ``write_class_reports``   files on disk
"""
from .gradebook import gradebook, write_gradebook
from .gradescope import to_gradescope
from .html import render_student_html
from .summary import render_class_html, summary
from .write import write_atomic, write_class_reports, write_student_reports

__all__ = [
    "gradebook", "render_class_html", "render_student_html", "summary", "to_gradescope",
    "write_atomic", "write_class_reports", "write_gradebook", "write_student_reports",
]
