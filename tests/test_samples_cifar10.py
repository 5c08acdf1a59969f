"""Grading the CIFAR-10 CNN samples end to end. Task 1 by hand (the seed student's answers.yaml,
the other student's notebook variables); model checks without data; CIFAR-10 is not shipped, so
every retrain item must stay pending with grader's "not available" message (unless a CIFAR-10 copy
is provided, which these tests do not assume)."""
import os

import pytest

from conftest import items

TASK1 = ["1a-conv", "1c-padding", "1d-kernel", "1e-pool", "1f-second", "1g-layers", "1g-total"]
RETRAIN = ["2b-accuracy", "3b-improved-accuracy", "3d-best-accuracy", "4a-accuracy"]
PLOTS = ["2c-plot", "3e-plot", "4b-plot"]
FREE = ["1b", "3f-discussion"]


@pytest.fixture(scope="module")
def cifar(graded_samples):
    from grader import datasets as ds
    if ds.stage("cifar10", ds.default_data_root()).available:
        pytest.skip("CIFAR-10 is provided here: these tests cover the offline case")
    return graded_samples("cifar10-cnn")


def test_every_sample_is_graded(cifar):
    results, _ = cifar
    assert set(results) == {"reference", "seed-student", "no-bias-student"}
    assert all(r.graded for r in results.values())


def test_retrain_items_are_pending_not_pretended(cifar):
    for student, result in cifar[0].items():
        got = items(result)
        for item_id in RETRAIN:
            r = got[item_id]
            assert r.status == "pending" and r.grading == "pending", (student, item_id)
            assert r.score == 0 and "CIFAR-10 is not available offline" in r.message
        for item_id in FREE:
            assert got[item_id].status == "pending"


def test_reference_gets_full_marks_on_automatic_items(cifar):
    ref = items(cifar[0]["reference"])
    for item_id in TASK1 + ["2a-model", "3a-improved-model", "3c-best-model"] + PLOTS:
        assert ref[item_id].status == "passed", (item_id, ref[item_id].message)
        assert ref[item_id].score == ref[item_id].max_score
    assert ref["1a-conv"].expected == [[11, -2, -4, 1, -7], [24, -8, -12, 5, -12], [19, -10, -4, 3, -15]]
    assert ref["1g-total"].expected == 390410
    assert sum(ref[i].max_score for i in ref) == 30


def test_seed_student_mistakes_are_all_caught(cifar):
    seed = items(cifar[0]["seed-student"])
    assert seed["1a-conv"].source == "answers.yaml: 1a-conv"
    # "- [[11, -2, ...]]" as written: the cross-correlation, the kernel never flipped
    assert seed["1a-conv"].score == 0 and "without flipping" in seed["1a-conv"].message
    assert seed["1c-padding"].status == "passed" and seed["1e-pool"].status == "passed"
    # 512 - 508 - 1 = 3: sign slip in -S(H_O - 1); the 5x5 kernel is expected
    assert seed["1d-kernel"].score == 0 and seed["1d-kernel"].given == 3 and seed["1d-kernel"].expected == 5
    # 254 - 3 + 1 = 252 is right for their own kernel: credit carried forward
    assert seed["1f-second"].score == 1 and "carried forward" in seed["1f-second"].message
    # D_I * 26 * D_O per conv layer (a bias per input depth): conv layers wrong, FC layers right
    layers = seed["1g-layers"]
    assert layers.status == "partial" and layers.score == pytest.approx(0.8)
    assert "3 of 5 entries differ (at (1), (2), (3))" in layers.details
    assert seed["1g-total"].score == 0 and seed["1g-total"].given == 400522 and seed["1g-total"].expected == 390410
    assert "a bias was counted per input channel and filter" in seed["1g-total"].message
    # the seed's models build; grader reports their size without any data
    assert seed["2a-model"].status == "passed"
    assert seed["3a-improved-model"].status == "passed" and seed["3a-improved-model"].given["total_params"] == 390986
    assert seed["3c-best-model"].status == "passed"


def test_no_bias_student_gets_diagnoses(cifar):
    nb = items(cifar[0]["no-bias-student"])
    assert "padding was forgotten" in nb["1a-conv"].message and nb["1a-conv"].score == 0
    assert "total padding of both sides" in nb["1c-padding"].message
    assert "+1 of the output-size formula" in nb["1d-kernel"].message
    assert nb["1f-second"].score == 1 and "carried forward" in nb["1f-second"].message
    for item_id in ("1g-layers", "1g-total"):
        assert nb[item_id].score == 0 and "bias term was not counted" in nb[item_id].message
    # 128 hidden units where the network has 64
    assert nb["2a-model"].status == "partial" and "off by +131,776" in nb["2a-model"].message
    assert "out_features expected 64, found 128" in nb["2a-model"].message
    # one max-pool too many: the classifier cannot take the features (BestModel inherits it)
    for item_id in ("3a-improved-model", "3c-best-model"):
        assert nb[item_id].status == "partial" and "mat1 and mat2 shapes cannot be multiplied" in nb[item_id].message
