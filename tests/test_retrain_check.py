"""The retrain check end to end on a full data set (Fashion-MNIST from Debian):
deterministic, threshold pass and fail, a claim it cannot reproduce is flagged,
identical models train once, and a rubric change rescores without retraining."""
from pathlib import Path

import nbformat
import pytest

from conftest import grade_folder, items

RUBRIC = """\
assignment: {id: retrain-demo, title: Retrain demo}
limits: {notebook_timeout: 120, cell_timeout: 60}
datasets: [fashion-mnist]
items:
  - id: easy
    title: at least 40 %
    points: 2
    check:
      type: retrain
      model: {class: Net}
      protocol: {dataset: fashion-mnist, train_subset: 600, test_subset: 300, epochs: 1, batch_size: 32, seeds: [0, 1]}
      threshold: THRESHOLD
      claim: {variable: claimed}
  - id: hard
    title: at least 99 %
    points: 1
    check:
      type: retrain
      model: {class: Net}
      protocol: {dataset: fashion-mnist, train_subset: 600, test_subset: 300, epochs: 1, batch_size: 32, seeds: [0, 1]}
      threshold: 0.99
"""

NET = """import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    def forward(self, x):
        return self.f(x)
"""


def notebook(path: Path, claimed: float) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(NET), nbformat.v4.new_code_cell(f"claimed = {claimed}"),
                nbformat.v4.new_code_cell("for epoch in range(10**9): pass", metadata={"tags": ["long-running"]})]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, data_root):
    base = tmp_path_factory.mktemp("retrain")
    subs = base / "subs"
    subs.mkdir()
    notebook(subs / "honest.ipynb", 0.6)
    notebook(subs / "bragging.ipynb", 0.995)
    rubric = base / "r.yaml"
    rubric.write_text(RUBRIC.replace("THRESHOLD", "0.4"))
    reports = base / "reports"
    return grade_folder(rubric, subs, reports, data_root, workers=1), rubric, subs, reports


def test_threshold_pass_and_fail_on_full_data(graded):
    results = graded[0]
    honest = items(results["honest"])
    assert honest["easy"].status == "passed" and honest["easy"].grading == "auto" and honest["easy"].score == 2
    assert honest["hard"].status == "failed" and honest["hard"].score == 0
    assert [row["seed"] for row in honest["easy"].table] == [0, 1]
    assert honest["easy"].figures == ["easy-loss.png"]


def test_claim_that_cannot_be_reproduced_is_flagged(graded):
    brag = items(graded[0]["bragging"])
    assert "claimed 99.50 %" in brag["easy"].message and "cannot be reproduced" in brag["easy"].message
    honest = items(graded[0]["honest"])
    assert "cannot be reproduced" not in honest["easy"].message


def test_identical_models_train_once_and_deterministically(graded):
    results, _, _, reports = graded
    a, b = items(results["honest"])["easy"], items(results["bragging"])["easy"]
    assert a.given == b.given                       # same model, same protocol: one cached training
    runs = list((reports / ".grader" / "cache" / "retrain").rglob("*.json"))
    assert len(runs) == 2                           # two seeds, shared by both students and both items


def test_rescoring_after_a_threshold_change_does_not_retrain(graded, data_root, tmp_path):
    _, rubric, subs, reports = graded
    before = {p: p.stat().st_mtime_ns for p in (reports / ".grader").rglob("*.json")
              if "results" not in p.parts}
    rubric.write_text(RUBRIC.replace("THRESHOLD", "0.999"))
    again = grade_folder(rubric, subs, reports, data_root, workers=1)
    assert items(again["honest"])["easy"].status == "failed"
    after = {p: p.stat().st_mtime_ns for p in before}
    assert before == after                          # executions and trainings reused as they were


def test_retraining_is_deterministic_across_runs(graded, data_root, tmp_path):
    _, rubric, subs, _ = graded
    fresh = grade_folder(rubric, subs, tmp_path / "fresh", data_root, workers=1)
    assert items(fresh["honest"])["easy"].table == items(graded[0]["honest"])["easy"].table or \
        [r["accuracy"] for r in items(fresh["honest"])["easy"].table] == \
        [r["accuracy"] for r in items(graded[0]["honest"])["easy"].table]
