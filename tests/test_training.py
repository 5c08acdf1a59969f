"""grader.training: deterministic, label-blind retraining on tiny data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from grader import datasets as gds
from grader.training import (
    PreparedData,
    ResultCache,
    TrainProtocol,
    cache_key,
    detect_loss,
    loss_curve_png,
    prepare,
    score_predictions,
    select_indices,
    train_and_predict,
)
from grader.training.worker import make_request

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]

MODEL_SOURCE = '''
import torch
from torch import nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self, channels=8, log_softmax=True):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 3)
        self.fc = nn.Linear(channels * 6 * 6, 10)
        self.log_softmax = log_softmax

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = self.fc(torch.flatten(x, 1))
        return F.log_softmax(x, dim=1) if self.log_softmax else x
'''


def _small_cnn_class():
    ns: dict = {}
    exec(MODEL_SOURCE, ns)
    return ns["SmallCNN"]


SmallCNN = _small_cnn_class()


def protocol(**kw) -> TrainProtocol:
    base = dict(dataset="mnist", resize=14, normalize="auto", per_class=60, test_subset=400,
                epochs=1, batch_size=32, optimizer="adam", lr=3e-3, loss="auto", seed=0)
    base.update(kw)
    return TrainProtocol(**base)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GRADER_MNIST_DIR", raising=False)
        gds.stage("mnist", r)
    return r


@pytest.fixture(scope="module")
def data(root) -> PreparedData:
    return prepare(protocol(), root)


@pytest.fixture(scope="module")
def run0(data):
    return train_and_predict(SmallCNN, data, protocol(), seed=0, threads=1, device="cpu")


def test_prepare_shapes_selection_and_normalisation(data, root):
    assert data.train_u8.shape == (600, 1, 14, 14) and data.train_u8.dtype == torch.uint8
    assert torch.bincount(data.train_y).tolist() == [60] * 10  # per_class
    assert data.test_u8.shape == (400, 1, 14, 14) and len(data.test_y) == 400
    x = data.train_x()
    assert x.dtype == torch.float32 and x.is_contiguous()
    (m,), (s,) = gds.mean_std("mnist", root, train=True, resize=14)
    assert data.mean == (m,) and data.std == (s,)
    assert abs(float(x.mean())) < 0.1 and abs(float(x.std()) - 1) < 0.1
    labels = torch.arange(100) % 10
    assert torch.equal(select_indices(labels, per_class=3, seed=5), select_indices(labels, per_class=3, seed=5))
    assert select_indices(labels) is None


def test_small_cnn_trains_in_one_epoch(run0, data):
    assert run0.epochs_done == 1 and run0.device == "cpu" and run0.threads == 1
    assert len(run0.loss_curve) == 600 // 32 + 1  # last partial batch kept
    assert len(run0.predictions) == 400 and all(isinstance(p, int) for p in run0.predictions)
    assert sum(run0.loss_curve[-5:]) < sum(run0.loss_curve[:5])
    assert score_predictions(run0.predictions, data.test_y) > 0.5  # chance is 0.1


def test_same_seed_identical_other_seed_differs(run0, data):
    again = train_and_predict(SmallCNN, data, protocol(), seed=0, threads=1, device="cpu")
    assert again.predictions == run0.predictions
    assert again.loss_curve == run0.loss_curve
    other = train_and_predict(SmallCNN, data, protocol(), seed=1, threads=1, device="cpu")
    assert other.loss_curve != run0.loss_curve
    assert other.predictions != run0.predictions


def test_accuracy_threshold_pass_fail(run0, data):
    acc = score_predictions(run0.predictions, data.test_y)
    assert acc >= 0.5  # a lenient rubric threshold passes
    assert not acc >= 0.999  # a strict one fails
    assert score_predictions([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    assert score_predictions(torch.tensor([1, 1]), torch.tensor([1, 1])) == 1.0
    with pytest.raises(ValueError):
        score_predictions([1, 2], [1, 2, 3])  # missing predictions are an error, not a pass


def test_loss_auto_detection(data):
    assert detect_loss(torch.log_softmax(torch.randn(8, 10), 1)) == "nll"
    assert detect_loss(torch.softmax(torch.randn(8, 10), 1)) == "nll_of_log"
    assert detect_loss(torch.randn(8, 10)) == "cross_entropy"
    p = protocol(per_class=None, train_subset=64, epochs=1)
    small = PreparedData(data.train_u8[:64], data.train_y[:64], data.test_u8[:16], None, data.mean, data.std, data.meta)
    assert train_and_predict(SmallCNN, small, p, threads=1, device="cpu").loss == "nll"
    logits = train_and_predict(lambda: SmallCNN(log_softmax=False), small, p, threads=1, device="cpu")
    assert logits.loss == "cross_entropy"
    forced = train_and_predict(SmallCNN, small, protocol(loss="cross_entropy"), threads=1, device="cpu")
    assert forced.loss == "cross_entropy"


def test_sgd_time_limit_and_protocol_from_rubric(data):
    small = PreparedData(data.train_u8[:128], data.train_y[:128], data.test_u8[:16], None, data.mean, data.std, data.meta)
    out = train_and_predict(SmallCNN, small, protocol(optimizer="sgd", lr=0.05, momentum=0.9, epochs=2), threads=1)
    assert out.epochs_done == 2 and len(out.epoch_losses) == 2
    stopped = train_and_predict(SmallCNN, small, protocol(epochs=3), threads=1, time_limit=0)
    assert stopped.epochs_done == 0 and len(stopped.loss_curve) == 1 and "time limit" in stopped.warnings[0]
    assert len(stopped.predictions) == 16
    with pytest.raises(ValueError, match="sgd or adam"):
        train_and_predict(SmallCNN, small, protocol(optimizer="lbfgs"), threads=1)

    from grader.rubric import Protocol

    rp = Protocol(dataset="mnist", resize=14, per_class=100, seeds=[3, 4], optimizer="sgd", lr=0.01)
    tp = TrainProtocol.from_any(rp)
    assert (tp.seed, tp.per_class, tp.optimizer, tp.resize) == (3, 100, "sgd", 14)
    assert TrainProtocol.from_any(rp, seed=4).seed == 4


def test_worker_subprocess_is_label_blind(tmp_path, data, run0):
    data_path = data.save_for_worker(tmp_path / "prepared.pt")
    payload = torch.load(data_path, weights_only=True)
    assert "test_y" not in payload and not any("label" in k or "test_y" in k for k in payload)
    assert set(payload) == {"train_u8", "train_y", "test_u8", "mean", "std", "meta"}

    src = tmp_path / "model.py"
    src.write_text(MODEL_SOURCE)
    out = tmp_path / "result.json"
    req = make_request(data_path, src, "SmallCNN", protocol(), out, seed=0, threads=1, device="cpu")
    req_path = tmp_path / "request.json"
    req_path.write_text(json.dumps(req))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "grader.training.worker", str(req_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["ok"] is True and result["loss"] == "nll"
    assert len(result["predictions"]) == len(data.test_y)
    # the same seed and thread count in another process gives the same run
    assert result["predictions"] == run0.predictions
    assert result["loss_curve"] == run0.loss_curve
    assert score_predictions(result["predictions"], data.test_y) > 0.5


def test_worker_refuses_labels_and_reports_errors(tmp_path, data):
    leaky = tmp_path / "leaky.pt"
    torch.save({**data.worker_payload(), "test_y": data.test_y}, leaky)
    with pytest.raises(ValueError, match="test labels"):
        PreparedData.load_for_worker(leaky)

    from grader.training import worker

    src = tmp_path / "model.py"
    src.write_text(MODEL_SOURCE)
    out = tmp_path / "r.json"
    req = tmp_path / "req.json"
    req.write_text(json.dumps(make_request(leaky, src, "SmallCNN", protocol(), out)))
    assert worker.main([str(req)]) == 1
    result = json.loads(out.read_text())
    assert result["ok"] is False and "test labels" in result["error"]


def test_cache_and_plot(tmp_path):
    manifest = {"name": "mnist", "n_train": 4000, "full": False}
    k = cache_key(MODEL_SOURCE, protocol(), manifest, 0)
    assert k == cache_key(MODEL_SOURCE, protocol().to_dict(), manifest, 0) and len(k) == 64
    assert k != cache_key(MODEL_SOURCE, protocol(), manifest, 1)
    assert k != cache_key(MODEL_SOURCE + "\n# edit", protocol(), manifest, 0)
    assert k != cache_key(MODEL_SOURCE, protocol(epochs=2), manifest, 0)
    cache = ResultCache(tmp_path / "cache")
    assert cache.get(k) is None and k not in cache
    cache.put(k, {"predictions": [1, 2], "seconds": 0.5})
    assert cache.get(k) == {"predictions": [1, 2], "seconds": 0.5} and k in cache
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    with pytest.raises(ValueError):
        cache.get("../etc/passwd")

    png = loss_curve_png({0: [2.3, 1.5, 0.9], 1: [2.2, 1.7, float("nan")]}, tmp_path / "loss.png", title="seeds", smooth=2)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
