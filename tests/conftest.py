"""Shared fixtures: the staged data folder and grading a sample folder once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Staged offline data sets (the same folder the demo uses, so staging happens once)."""
    root = Path(os.environ.get("GRADER_DATA", ROOT / "data"))
    os.environ["GRADER_DATA"] = str(root)  # reference values read the same copy the notebooks see
    from grader import datasets as ds
    for name in ("mnist", "fashion-mnist"):
        ds.stage(name, root)
    return root


def grade_folder(rubric_path: Path, submissions: Path, reports: Path, data_root: Path, **options):
    """Grade a folder through the library API; returns {student: SubmissionResult}."""
    from grader.grade import Options, grade_batch
    from grader.rubric import load_rubric

    rubric = load_rubric(rubric_path)
    opts = Options(data_root=data_root, workers=options.pop("workers", 2), **options)
    outcome = grade_batch(rubric, submissions, reports, opts)
    return {r.student: r for r in outcome.results}


@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory, data_root):
    """grade_samples('tmu-hw4') grades submissions/tmu-hw4 once per session."""
    done: dict[str, tuple[dict, Path]] = {}

    def grade(assignment: str):
        if assignment not in done:
            reports = tmp_path_factory.mktemp(f"reports-{assignment}")
            results = grade_folder(ROOT / "rubrics" / f"{assignment}.yaml", ROOT / "submissions" / assignment,
                                   reports, data_root)
            done[assignment] = (results, reports)
        return done[assignment]
    return grade


def items(result) -> dict:
    return {i.id: i for i in result.items}
