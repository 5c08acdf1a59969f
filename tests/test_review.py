"""The manual-review queue: written once, filled by a TA, merged without re-running."""
from pathlib import Path

import yaml

from grader.answers import AnswerBook
from grader.checks import manual
from grader.checks.base import Context
from grader.review import load_reviews, write_queue
from grader.rubric import load_rubric

RUBRIC = """\
assignment: {id: demo, title: Demo}
items:
  - id: q1
    title: Why batch norm?
    points: 3
    answer: why
    check:
      type: freetext
      deductions:
        - {points: 1, text: partially correct}
        - {points: 1, text: did not mention internal covariate shift}
"""


def score(tmp_path, reviews):
    p = tmp_path / "r.yaml"
    p.write_text(RUBRIC)
    rubric = load_rubric(p)
    ctx = Context(rubric=rubric, student="s", submission=tmp_path, notebook=None, execution={},
                  answers=AnswerBook({"why": {"ok": True, "value": "it normalises"}}, {}),
                  artefacts=tmp_path, cache=tmp_path)
    ctx.__dict__["reviews"] = reviews
    return manual.score(rubric.items[0], None, ctx)


def test_unreviewed_items_are_pending(tmp_path):
    r = score(tmp_path, {})
    assert r.status == "pending" and r.grading == "pending" and r.given == "it normalises"


def test_review_file_roundtrip_and_deductions(tmp_path):
    path = tmp_path / "review" / "s.yaml"
    write_queue(path, "s", "demo", "fp1", {"q1": {"title": "Why batch norm?", "points": 3, "answer": "it normalises"}})
    data = yaml.safe_load(path.read_text())
    data["items"]["q1"].update(reviewed=True, deductions=[2], comment="mention covariate shift")
    path.write_text(yaml.safe_dump(data))
    # grader refreshing the queue keeps what the TA wrote
    write_queue(path, "s", "demo", "fp1", {"q1": {"title": "Why batch norm?", "points": 3, "answer": "changed"}})
    reviews, problem = load_reviews(path, "fp1")
    assert problem == "" and reviews["q1"].deductions == [2]
    r = score(tmp_path, reviews)
    assert r.grading == "manual" and r.score == 2 and r.status == "partial"
    assert any("covariate shift" in d for d in r.details)


def test_review_goes_stale_when_the_submission_changes(tmp_path):
    path = tmp_path / "s.yaml"
    write_queue(path, "s", "demo", "fp1", {"q1": {"title": "t", "points": 3}})
    data = yaml.safe_load(path.read_text())
    data["items"]["q1"]["reviewed"] = True
    path.write_text(yaml.safe_dump(data))
    reviews, _ = load_reviews(path, "fp2")
    r = score(tmp_path, reviews)
    assert r.score == 3 and "stale" in r.message and r.details[0].startswith("STALE")


def test_broken_review_file_is_reported(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("items: [unclosed\n")
    reviews, problem = load_reviews(path, "fp")
    assert reviews == {} and "invalid YAML" in problem and str(path) in problem
