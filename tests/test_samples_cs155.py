"""Grading the CS155 Set 4 samples end to end: the reference gets full marks on its
automatic items, the seed's and the wide-not-deep student's mistakes are caught."""
import json

import pytest

from conftest import items

FREETEXT = ["1A", "1B", "1C", "1D", "1E", "2A", "2B-values", "3A", "3F", "3G-discussion"]
VALUES = ["2B-height", "2B-width", "2B-train", "2B-test", "3B", "3C", "3D", "3E", "3G-sweep-ps"]
MODELS = ["2C-model", "2D-model", "2E-model", "3G-model"]
RETRAIN = ["2C-accuracy", "2D-accuracy", "2E-accuracy", "3G-accuracy"]


@pytest.fixture(scope="module")
def cs(graded_samples):
    return graded_samples("cs155-set4")


def test_every_sample_is_graded(cs):
    results, _ = cs
    assert set(results) == {"reference", "seed-student", "wide-not-deep-student"}
    assert all(r.graded for r in results.values())


def test_reference_gets_full_marks_on_automatic_items(cs):
    ref = items(cs[0]["reference"])
    for item_id in VALUES + MODELS + ["3G-sweep-plot"]:
        assert ref[item_id].status == "passed", (item_id, ref[item_id].message)
        assert ref[item_id].score == ref[item_id].max_score
    for item_id in RETRAIN:   # offline subset: reached, unverified
        assert ref[item_id].grading == "unverified", ref[item_id].message
        assert ref[item_id].unverified_score == ref[item_id].max_score and ref[item_id].score == 0
    for free in FREETEXT:
        assert ref[free].status == "pending" and ref[free].grading == "pending"


def test_seed_student_mistakes_are_caught(cs):
    seed = items(cs[0]["seed-student"])
    # paper answers from answers.yaml, all right (28 x 28 x 8 accepted as H x W x C)
    for item_id in ["2B-height", "2B-width", "2B-train", "2B-test", "3B", "3C", "3D", "3E"]:
        assert seed[item_id].status == "passed", (item_id, seed[item_id].message)
        assert seed[item_id].source == f"answers.yaml: {item_id}"
    for item_id in MODELS:
        assert seed[item_id].status == "passed", (item_id, seed[item_id].message)
    for item_id in RETRAIN:
        assert seed[item_id].unverified_score == seed[item_id].max_score, (item_id, seed[item_id].message)
    # the dropout sweep is not reported: no probabilities, no plot
    assert seed["3G-sweep-ps"].status == "missing" and seed["3G-sweep-ps"].score == 0
    assert seed["3G-sweep-plot"].score == 0
    # 1A ('derivatives equal to a small number'), the missing 1D drawing, 1E without linear
    # separability, 3F without invariance: queued for the reviewer with the answer shown
    for free in FREETEXT:
        assert seed[free].status == "pending"
    assert "not included in the write-up" in seed["1D"].given
    assert "small number" in seed["1A"].given


def test_wide_not_deep_student_mistakes_are_caught(cs):
    w = items(cs[0]["wide-not-deep-student"])
    assert w["2C-model"].status == "partial" and "128 hidden units" in w["2C-model"].message
    assert w["2D-model"].status == "partial" and "1 hidden layer" in w["2D-model"].message
    assert w["2E-model"].score == 0 and w["2E-accuracy"].score == 0      # not attempted (extra credit)
    assert w["3B"].score == 0 and "bias" in w["3B"].message
    assert w["3C"].score == 0 and w["3C"].expected == [8, 28, 28]
    assert w["3D"].status == "partial" and w["3D"].score == pytest.approx(1.5)
    assert w["3E"].status == "passed"
    g = w["3G-model"]
    assert g.status == "partial" and "AvgPool2d" in g.message and "BatchNorm" in g.message
    assert w["3G-accuracy"].unverified_score == 0 and "below the 98.50 % target" in w["3G-accuracy"].message
    assert w["3G-sweep-ps"].score == 0 and w["3G-sweep-plot"].status == "passed"


def test_reports_and_points(cs):
    results, reports = cs
    for student in results:
        gs = json.loads((reports / student / "results.json").read_text())
        assert len(gs["tests"]) == 28
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["students"]["reference"]["max"] == 100
    queue = (reports / "review" / "seed-student.yaml").read_text()
    assert "linearly separable" in queue
