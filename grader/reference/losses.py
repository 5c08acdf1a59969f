"""Loss functions: L1, MSE, cross-entropy, NLL, binary cross-entropy.

``reduction`` is "mean" (the default, as in torch), "sum" or "none".
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .convert import integer, plain, tensor
from .errors import ReferenceError_

REDUCTIONS = ("mean", "sum", "none")


def _reduction(reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ReferenceError_(f"reduction: expected one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    return reduction


def _pair(input: Any, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x, t = tensor(input, "input"), tensor(target, "target")
    if x.shape != t.shape:
        raise ReferenceError_(f"target: shape {list(t.shape)} differs from input shape {list(x.shape)}")
    return x, t


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean (or sum) of |input - target|."""
    x, t = _pair(input, target)
    return plain(F.l1_loss(x, t, reduction=_reduction(reduction)))


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean (or sum) of (input - target)^2."""
    x, t = _pair(input, target)
    return plain(F.mse_loss(x, t, reduction=_reduction(reduction)))


def class_target(scores: torch.Tensor, target: Any) -> tuple[torch.Tensor, bool]:
    """The target as class indices (long, shape N) or as probabilities (shape of
    ``scores``, N x C); the flag says which (True: probabilities)."""
    if isinstance(target, bool):
        raise ReferenceError_(f"target: expected a class index or probabilities, got {target!r}")
    n_classes = scores.shape[-1]
    t = tensor(target, "target")
    if t.shape == scores.shape and scores.dim() >= 1 and not (scores.dim() == 1 and t.dim() == 0):
        if scores.dim() == 1:
            t = t.unsqueeze(0)
        if (t < 0).any():
            raise ReferenceError_("target: probabilities must not be negative")
        return t, True
    want = scores.shape[:-1]
    if t.dim() == 0 and tuple(want) == (1,):
        t = t.reshape(1)
    if t.shape != want:
        raise ReferenceError_(
            f"target: expected {'one class index' if want[0] == 1 else f'{want[0]} class indices'} or "
            f"probabilities of shape {list(scores.shape)}, got shape {list(t.shape)}")
    idx = t.reshape(-1)
    for v in idx.tolist():
        integer(v, "target", minimum=0)
        if v >= n_classes:
            raise ReferenceError_(f"target: class index {int(v)} is out of range for {n_classes} classes")
    return idx.long(), False


def _scores(logits: Any, name: str) -> torch.Tensor:
    z = tensor(logits, name, dims=(1, 2))
    return z.unsqueeze(0) if z.dim() == 1 else z


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Any:
    """-log softmax(logits)[target], averaged over the batch. ``logits`` is C or
    N x C; ``target`` a class index (per sample) or one-hot / probabilities."""
    z = _scores(logits, "logits")
    t, _ = class_target(z, target)
    return _single(F.cross_entropy(z, t, reduction=_reduction(reduction)), logits)


def _single(loss: torch.Tensor, scores: Any) -> Any:
    """Unbatch a per-sample (reduction "none") loss of a single 1-D score vector."""
    if loss.dim() == 1 and tensor(scores, "input").dim() == 1:
        loss = loss[0]
    return plain(loss)


def nll_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """-input[target] (input holds log-probabilities), averaged over the batch."""
    z = _scores(input, "input")
    t, probs = class_target(z, target)
    red = _reduction(reduction)
    per = -(z * t).sum(-1) if probs else F.nll_loss(z, t, reduction="none")
    out = per.mean() if red == "mean" else per.sum() if red == "sum" else per
    return _single(out, input)


def binary_cross_entropy(input: Any, target: Any, reduction: str = "mean", logits: bool = False) -> Any:
    """-(t log p + (1-t) log(1-p)); ``input`` holds probabilities p, or raw scores
    when ``logits`` is true (p = sigmoid(input))."""
    x, t = _pair(input, target)
    red = _reduction(reduction)
    if logits:
        return plain(F.binary_cross_entropy_with_logits(x, t, reduction=red))
    if ((x < 0) | (x > 1)).any():
        raise ReferenceError_("input: probabilities must lie in [0, 1] (pass logits: true for raw scores)")
    return plain(F.binary_cross_entropy(x, t, reduction=red))
