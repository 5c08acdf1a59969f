"""Grading the DS5220 HW4 samples end to end: the reference gets full marks on its
automatic items, the seed's and the sigmoid student's mistakes are caught, written
answers go to the review queue with the seed's Gradescope deductions."""
import json

import pytest

from conftest import items

FREETEXT = ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3-discussion", "3.1", "3.2-report", "3.3-comparison"]
AUTO = ["2.3-model", "2.3-inspection", "3.2-model", "3.3-cnn-params", "3.3-mlp-params", "run"]
RETRAIN = ["2.3-accuracy", "3.2-accuracy"]


@pytest.fixture(scope="module")
def ds(graded_samples):
    return graded_samples("ds5220-hw4")


def test_every_sample_is_graded(ds):
    results, _ = ds
    assert set(results) == {"reference", "seed-student", "sigmoid-student"}
    assert all(r.graded for r in results.values())


def test_reference_gets_full_marks_on_automatic_items(ds):
    ref = items(ds[0]["reference"])
    for item_id in AUTO:
        assert ref[item_id].status == "passed", (item_id, ref[item_id].message)
        assert ref[item_id].score == ref[item_id].max_score
    # offline subset only: reached, but unverified
    for item_id in RETRAIN:
        assert ref[item_id].grading == "unverified", ref[item_id].message
        assert ref[item_id].unverified_score == ref[item_id].max_score and ref[item_id].score == 0
    for free in FREETEXT:
        assert ref[free].status == "pending" and ref[free].grading == "pending"


def test_seed_student_mistakes_are_caught(ds):
    seed = items(ds[0]["seed-student"])
    # the MLP as handed in (flattening twice is harmless) and the parameter counts are right
    assert seed["2.3-model"].status == "passed"
    assert seed["3.3-cnn-params"].status == "passed" and seed["3.3-cnn-params"].given == 8490
    assert seed["3.3-mlp-params"].status == "passed"
    assert seed["3.2-model"].status == "passed"          # 8,490 parameters, layers as specified
    assert seed["2.3-accuracy"].unverified_score == seed["2.3-accuracy"].max_score
    # its CNN drops activations at test time (F.dropout2d without training=...) and puts a ReLU
    # on the logits: retrained by grader it misses the (offline) target
    cnn = seed["3.2-accuracy"]
    assert cnn.grading == "unverified" and cnn.unverified_score == 0 and cnn.score == 0
    assert "vs threshold 85.00 %" in cnn.message
    # inspection figures were handed in (read from the notebook as submitted)
    assert seed["2.3-inspection"].status == "passed"
    # written answers (m = 50,000 in 2.2, 'sigmoid' for the softmax in 2.1, 8480 / 100,770 and
    # 'CNN slightly better' in 3.2/3.3) wait for the reviewer, with the answers shown
    for free in FREETEXT:
        assert seed[free].status == "pending"
    assert "50,000" in seed["2.2"].given and "8480" in seed["3.3-comparison"].given


def test_sigmoid_student_mistakes_are_caught(ds):
    sg = items(ds[0]["sigmoid-student"])
    model = sg["2.3-model"]
    assert model.status == "partial" and 0 < model.score < model.max_score
    assert "Sigmoid" in " ".join([model.message] + model.details)
    for p in ("3.3-cnn-params", "3.3-mlp-params"):
        assert sg[p].score == 0 and "bias" in sg[p].message
    assert sg["3.3-cnn-params"].given == 8450 and sg["3.3-cnn-params"].expected == 8490
    assert sg["2.3-inspection"].score == 0
    # claimed 94.2 % is below the real 95 % target, whatever the retraining gives
    cnn = sg["3.2-accuracy"]
    assert cnn.unverified_score == 0 and "94.20 %" in cnn.message and "below the 95.00 % target" in cnn.message
    assert sg["3.2-model"].status == "passed" and sg["run"].status == "passed"


def test_reports_and_review_queue(ds):
    results, reports = ds
    for student in results:
        gs = json.loads((reports / student / "results.json").read_text())
        assert len(gs["tests"]) == 18
        assert sum(t["max_score"] for t in gs["tests"]) == 100
    queue = (reports / "review" / "seed-student.yaml").read_text()
    assert "did not mention internal covariate shift" in queue and "Calculation of Parameters not shown" in queue
