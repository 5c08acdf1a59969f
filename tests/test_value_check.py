"""Pen-and-paper checks: tolerances, partial credit, diagnoses, error carried forward,
and answers that try to cheat the comparison."""
from pathlib import Path

import pytest

from grader.answers import AnswerBook
from grader.checks import value
from grader.checks.base import Context
from grader.rubric import load_rubric

RUBRIC = """\
assignment: {id: demo, title: Demo}
defaults: {tolerance: {abs: 0.05}}
data:
  x: [[3, 1, 9, 2], [0, 0, 3, 3], [0, 3, 1, 1], [8, 2, 8, 7]]
  w: [[0.2, 0.3, -0.1], [0.3, -1.1, 1.0], [-1.0, 1.1, 0.3]]
  t: [[1, 2], [3, 1]]
items:
  - id: conv
    title: conv
    points: 4
    answer: conv
    check: {type: value, expected: {compute: conv2d, args: {input: $x, weight: $w, padding: 1}}, compare: {kind: array, partial: true}}
  - id: pool
    title: pool
    points: 2
    answer: pool
    check:
      type: value
      expected: {compute: max_pool2d, args: {input: {compute: relu, args: {input: "@conv"}}, kernel_size: 2}}
      compare: array
      carry_forward: 0.5
  - id: loss
    title: loss
    points: 2
    answer: loss
    check: {type: value, expected: {compute: l1_loss, args: {input: "@pool", target: $t}}, compare: number}
  - id: acc
    title: accuracy
    points: 1
    answer: acc
    check: {type: value, expected: 0.9786, compare: {kind: number, percent: true, tolerance: {abs: 0.0001}}}
"""

CONV = [[-2.3, 9.7, -3.4, 0.8], [1.7, 6.6, 0.8, 0.1], [12.4, -6.0, 10.3, 0.4], [-7.1, 9.0, -0.4, -4.8]]


@pytest.fixture
def rubric(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(RUBRIC)
    return load_rubric(p)


def grade(rubric, **answers):
    book = AnswerBook({k: {"ok": True, "value": v} for k, v in answers.items()}, {})
    ctx = Context(rubric=rubric, student="s", submission=Path("."), notebook=None, execution={}, answers=book,
                  artefacts=Path("."), cache=Path("."))
    out = {}
    for item in rubric.items:
        out[item.id] = ctx.results[item.id] = value.score(item, None, ctx)
    return out


def test_right_answers_pass_within_tolerance(rubric):
    r = grade(rubric, conv=[[v + 0.04 for v in row] for row in CONV], pool=[[9.7, 0.8], [12.4, 10.3]],
              loss=7.15, acc="97.86 %")
    assert all(x.status == "passed" for x in r.values()), {k: v.message for k, v in r.items()}


def test_partial_credit_per_element_and_where(rubric):
    wrong = [row[:] for row in CONV]
    wrong[0][3] = 4.7
    r = grade(rubric, conv=wrong)
    assert r["conv"].score == pytest.approx(4 * 15 / 16)
    assert "1 of 16 entries differ (at (1, 4))" in r["conv"].details


def test_diagnosis_names_the_mistake(rubric):
    import torch
    flipped = torch.nn.functional.conv2d(torch.tensor(rubric.data["x"], dtype=torch.float64)[None, None],
                                         torch.tensor(rubric.data["w"], dtype=torch.float64).flip(0, 1)[None, None],
                                         padding=1)[0, 0].tolist()
    r = grade(rubric, conv=flipped, loss=28.6)
    assert r["conv"].score == 0 and "flipped the kernel" in r["conv"].message
    assert "sum" in r["loss"].message and r["loss"].expected == pytest.approx(7.15)


def test_transposed_matrix_is_explained(rubric):
    r = grade(rubric, conv=[list(col) for col in zip(*CONV)])
    assert "transposed" in r["conv"].message


def test_error_carried_forward_gives_the_rubric_share(rubric):
    wrong = [row[:] for row in CONV]
    wrong[0][3] = 4.7                               # pooled top-right becomes 4.7
    r = grade(rubric, conv=wrong, pool=[[9.7, 4.7], [12.4, 10.3]], loss=7.525)
    assert r["pool"].score == pytest.approx(1.0)     # carry_forward: 0.5 of 2 points
    assert "your own answer to conv" in r["pool"].message
    assert r["loss"].score == 0                      # no carry_forward on this item


def test_missing_and_malformed_answers_are_reported(rubric):
    r = grade(rubric, conv="a matrix", acc=None)
    assert r["conv"].status == "error" and "could not be read" in r["conv"].message
    assert r["pool"].status == "missing" and "no answer found" in r["pool"].message
    assert r["acc"].status == "missing"


def test_an_answer_cannot_cheat_the_comparison(rubric):
    # what reaches the check is JSON-parsed plain data; objects are refused in the kernel,
    # and a string that is not a number does not compare equal to anything
    r = grade(rubric, loss="anything", acc=[0.9786, 0.1])
    assert r["loss"].score == 0 and r["acc"].score == 0
