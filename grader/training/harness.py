"""Prepare data once, retrain a model deterministically, predict the test images.

The harness is *label-blind* on the test side: :class:`PreparedData` keeps the
test labels for the caller, :meth:`PreparedData.save_for_worker` writes a file
without them, and :func:`train_and_predict` only returns predictions; the
caller scores them with :func:`score_predictions`.

Speed comes from doing the data work once on whole tensors (read IDX, resize
the batch, normalise) instead of PIL + transforms per sample per epoch, and
from indexing mini-batches out of one pre-built tensor instead of a
``DataLoader``.
"""
from __future__ import annotations

import math
import os
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import datasets
from .protocol import TrainProtocol

DEFAULT_MAX_THREADS = 4
EVAL_BATCH = 1024
HARNESS_VERSION = "1"


# --------------------------------------------------------------------------- data

@dataclass
class PreparedData:
    """Resized uint8 images (NCHW) + normalisation; float32 tensors built on demand.

    Keeping uint8 makes the worker file 4x smaller; :meth:`train_x` /
    :meth:`test_x` apply the same normalisation wherever they are called, so
    caller and worker see bit-identical inputs.
    """

    train_u8: torch.Tensor
    train_y: torch.Tensor
    test_u8: torch.Tensor
    test_y: torch.Tensor | None  # None in the worker
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return int(self.meta.get("n_classes", int(self.train_y.max()) + 1))

    def _float(self, u8: torch.Tensor) -> torch.Tensor:
        x = u8.to(torch.float32).div_(255.0)
        if self.mean is not None:
            c = x.shape[1]
            mean = torch.tensor(self.mean, dtype=torch.float32).reshape(1, -1, 1, 1).expand(1, c, 1, 1)
            std = torch.tensor(self.std, dtype=torch.float32).reshape(1, -1, 1, 1).expand(1, c, 1, 1)
            x.sub_(mean).div_(std)
        return x

    def train_x(self) -> torch.Tensor:
        return self._float(self.train_u8)

    def test_x(self) -> torch.Tensor:
        return self._float(self.test_u8)

    def worker_payload(self) -> dict[str, Any]:
        """Everything the training process needs, and no test labels."""
        return {
            "train_u8": self.train_u8,
            "train_y": self.train_y,
            "test_u8": self.test_u8,
            "mean": list(self.mean) if self.mean is not None else None,
            "std": list(self.std) if self.std is not None else None,
            "meta": self.meta,
        }

    def save_for_worker(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(self.worker_payload(), tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def load_for_worker(cls, path: Path | str) -> "PreparedData":
        d = torch.load(path, map_location="cpu", weights_only=True)
        if "test_y" in d:
            raise ValueError(f"{path} contains test labels; the training process must not get them")
        return cls(
            d["train_u8"], d["train_y"], d["test_u8"], None,
            tuple(d["mean"]) if d["mean"] is not None else None,
            tuple(d["std"]) if d["std"] is not None else None,
            d["meta"],
        )


def select_indices(
    labels: torch.Tensor, subset: int | None = None, per_class: int | None = None, seed: int = 0
) -> torch.Tensor | None:
    """Deterministic image selection; ``None`` means all images, in file order.

    A fixed permutation (``seed``) is drawn; ``per_class`` takes the first
    ``per_class`` images of each class in that order, ``subset`` the first
    ``subset`` images (after ``per_class`` if both are given). Returned indices
    are sorted, so the selection keeps the data set's order.
    """
    if subset is None and per_class is None:
        return None
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    if per_class is not None:
        lab = labels[order]
        keep = torch.zeros(len(order), dtype=torch.bool)
        for c in torch.unique(labels).tolist():
            pos = torch.nonzero(lab == c).flatten()[:per_class]
            keep[pos] = True
        order = order[keep]
    if subset is not None:
        order = order[:subset]
    return torch.sort(order).values


def prepare(protocol: TrainProtocol | dict | Any, root: Path | str | None = None) -> PreparedData:
    """Load, select, resize and normalise the protocol's data once.

    ``normalize="auto"`` uses :func:`grader.datasets.mean_std` on the *whole*
    train split (after the resize), i.e. the constants a student would compute.
    The data set must be staged (this calls :func:`grader.datasets.stage`,
    which is idempotent) and available.
    """
    p = TrainProtocol.from_any(protocol)
    root = Path(root) if root is not None else datasets.default_data_root()
    staged = datasets.stage(p.dataset, root)
    if not staged.available:
        raise RuntimeError(staged.message)

    tr_img, tr_y = datasets.load_tensors(p.dataset, root, train=True)
    te_img, te_y = datasets.load_tensors(p.dataset, root, train=False)
    n_classes = int(torch.cat([tr_y, te_y]).max()) + 1
    tr_idx = select_indices(tr_y, p.train_subset, p.per_class, p.data_seed)
    te_idx = select_indices(te_y, p.test_subset, None, p.data_seed + 1)
    if tr_idx is not None:
        tr_img, tr_y = tr_img[tr_idx], tr_y[tr_idx]
    if te_idx is not None:
        te_img, te_y = te_img[te_idx], te_y[te_idx]

    tr = datasets.to_nchw(tr_img)
    te = datasets.to_nchw(te_img)
    if p.resize is not None:
        tr = datasets.resize_uint8(tr, p.resize)
        te = datasets.resize_uint8(te, p.resize)

    if p.normalize == "auto":
        mean, std = datasets.mean_std(p.dataset, root, train=True, resize=p.resize)
    elif p.normalize is None:
        mean = std = None
    else:
        mean, std = tuple(float(v) for v in p.normalize[0]), tuple(float(v) for v in p.normalize[1])
        if len(mean) != len(std) or len(mean) not in (1, tr.shape[1]):
            raise ValueError(f"normalize needs one mean and std per channel ({tr.shape[1]}), got {p.normalize}")

    meta = {
        "dataset": p.dataset,
        "manifest": staged.manifest(),
        "data_protocol": p.data_dict(),
        "n_train": len(tr_y),
        "n_test": len(te_y),
        "n_classes": n_classes,
        "image_shape": list(tr.shape[1:]),
    }
    return PreparedData(tr.contiguous(), tr_y.contiguous(), te.contiguous(), te_y.contiguous(), mean, std, meta)


# --------------------------------------------------------------------------- training

@dataclass
class TrainOutcome:
    predictions: list[int]
    loss_curve: list[float]  # one value per iteration (mini-batch)
    epoch_losses: list[float]  # mean loss per epoch
    seconds: float  # training time (excluding evaluation)
    epochs_done: int
    device: str
    loss: str = ""  # the loss actually used: cross_entropy | nll | nll_of_log (softmax outputs)
    threads: int = 0
    seed: int = 0
    eval_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def default_threads() -> int:
    """``$GRADER_TRAIN_THREADS`` or min(4, cores): fixed, so runs are comparable."""
    env = os.environ.get("GRADER_TRAIN_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(DEFAULT_MAX_THREADS, os.cpu_count() or 1))


@contextmanager
def _reproducible(threads: int) -> Iterator[None]:
    """Deterministic algorithms + a fixed thread count, restored afterwards."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    prev_cudnn_det = torch.backends.cudnn.deterministic
    # cuBLAS needs this before its first use to be deterministic; harmless on CPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench
        torch.backends.cudnn.deterministic = prev_cudnn_det


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def detect_loss(outputs: torch.Tensor, atol: float = 1e-3) -> str:
    """``nll`` if rows are log-probabilities (logsumexp ~ 0), ``nll_of_log`` if
    they are probabilities (Softmax: non-negative, sum ~ 1), else ``cross_entropy``."""
    out = outputs.detach().float().reshape(outputs.shape[0], -1)
    if not torch.isfinite(out).all():
        return "cross_entropy"
    if torch.allclose(torch.logsumexp(out, dim=1), torch.zeros(len(out)), atol=atol) and (out <= atol).all():
        return "nll"
    if (out >= 0).all() and torch.allclose(out.sum(dim=1), torch.ones(len(out)), atol=atol):
        return "nll_of_log"
    return "cross_entropy"


def _loss_fn(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if kind == "nll":
        return F.nll_loss
    if kind == "nll_of_log":
        return lambda out, y: F.nll_loss(torch.log(out.clamp_min(1e-12)), y)
    return F.cross_entropy


def _optimizer(p: TrainProtocol, params) -> torch.optim.Optimizer:
    if p.optimizer == "sgd":
        return torch.optim.SGD(params, lr=p.lr, momentum=p.momentum)
    if p.optimizer == "adam":
        return torch.optim.Adam(params, lr=p.lr)
    raise ValueError(f"optimizer {p.optimizer!r} is not handled by the harness (sgd or adam)")


def _flat(out: torch.Tensor) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.reshape(out.shape[0], -1)


def train_and_predict(
    model_factory: Callable[[], nn.Module],
    data: PreparedData,
    protocol: TrainProtocol | dict | Any,
    seed: int | None = None,
    device: str | torch.device | None = None,
    threads: int | None = None,
    time_limit: float | None = None,
) -> TrainOutcome:
    """Train a fresh model from ``model_factory`` under ``protocol``; predict the test images.

    Reproducible for a given (seed, device, threads, torch version): the model
    is built right after ``torch.manual_seed(seed)`` (so initial weights depend
    only on the seed), mini-batch order comes from a seeded ``torch.Generator``
    (reshuffled every epoch, last partial batch kept, like
    ``DataLoader(shuffle=True)``), dropout draws from the seeded global RNG, and
    deterministic algorithms are on. ``time_limit`` (seconds) stops training
    early, after the current mini-batch; ``epochs_done`` then says how far it got.
    """
    p = TrainProtocol.from_any(protocol)
    seed = p.seed if seed is None else int(seed)
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = threads or default_threads()
    warnings: list[str] = []

    with _reproducible(threads):
        _seed_everything(seed)
        model = model_factory()
        if not isinstance(model, nn.Module):
            raise TypeError(f"the model factory returned {type(model).__name__}, not an nn.Module")
        model = model.to(dev)
        optimizer = _optimizer(p, model.parameters())

        train_x = data.train_x().to(dev)
        train_y = data.train_y.to(dev)
        n = len(train_y)
        if n == 0 or len(data.test_u8) == 0:
            raise ValueError("no training or no test images")

        loss_kind = p.loss
        if loss_kind == "auto":
            model.eval()
            with torch.no_grad():
                loss_kind = detect_loss(_flat(model(train_x[: min(64, n)])).cpu())
        loss_fn = _loss_fn(loss_kind)

        gen = torch.Generator().manual_seed(seed)
        losses: list[torch.Tensor] = []
        epoch_losses: list[float] = []
        epochs_done = 0
        stopped = False
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        for epoch in range(p.epochs):
            model.train()
            perm = torch.randperm(n, generator=gen).to(dev)
            start_len = len(losses)
            for start in range(0, n, p.batch_size):
                idx = perm[start : start + p.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(_flat(model(train_x[idx])), train_y[idx])
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
                if time_limit is not None and time.perf_counter() - t0 > time_limit:
                    stopped = True
                    break
            ep = torch.stack(losses[start_len:]).float()
            epoch_losses.append(float(ep.mean()))
            if stopped:
                warnings.append(f"time limit {time_limit:g}s reached during epoch {epoch + 1}; training stopped")
                break
            epochs_done += 1
            if not torch.isfinite(ep).all():
                warnings.append(f"loss became non-finite in epoch {epoch + 1}; training stopped")
                break
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - t0
        del train_x, train_y

        t1 = time.perf_counter()
        predictions = predict(model, data.test_x(), dev)
        eval_seconds = time.perf_counter() - t1

    curve = torch.stack(losses).float().cpu().tolist() if losses else []
    return TrainOutcome(
        predictions=predictions,
        loss_curve=[c if math.isfinite(c) else float("nan") for c in curve],
        epoch_losses=epoch_losses,
        seconds=seconds,
        epochs_done=epochs_done,
        device=str(dev),
        loss=loss_kind,
        threads=threads,
        seed=seed,
        eval_seconds=eval_seconds,
        warnings=warnings,
    )


def predict(model: nn.Module, images: torch.Tensor, device: str | torch.device = "cpu", batch: int = EVAL_BATCH) -> list[int]:
    """Arg-max class per image, in eval mode under ``no_grad``, in batches."""
    model.eval()
    out: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            out.append(_flat(model(images[start : start + batch].to(device))).argmax(dim=1).cpu())
    return torch.cat(out).tolist() if out else []


def score_predictions(predictions: Sequence[int] | torch.Tensor, labels: Sequence[int] | torch.Tensor) -> float:
    """Accuracy in [0, 1]. Lengths must match (a short prediction list is an error, not a pass)."""
    pred = torch.as_tensor(list(predictions) if not isinstance(predictions, torch.Tensor) else predictions, dtype=torch.int64)
    lab = torch.as_tensor(list(labels) if not isinstance(labels, torch.Tensor) else labels, dtype=torch.int64)
    if pred.shape != lab.shape:
        raise ValueError(f"{pred.numel()} predictions for {lab.numel()} labels")
    if lab.numel() == 0:
        raise ValueError("no labels to score against")
    return float((pred == lab).double().mean())
