"""Forward tensor operations: convolution, pooling, activations, linear layers.

Inputs are single images without a batch dimension: ``H x W`` (one channel) or
``C x H x W``. Everything runs in float64 through ``torch.nn.functional``.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .convert import integer, pair, plain, tensor
from .errors import ReferenceError_


# --------------------------------------------------------------------- convolution

def conv2d_operands(input: Any, weight: Any, bias: Any = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, Callable[[torch.Tensor], torch.Tensor]]:
    """Batched 4-D input / weight, the bias vector, and how to shape the output back.

    input  ``H x W`` or ``C x H x W``;
    weight ``K x K`` (one channel in and out), ``C_in x K x K`` (one filter) or
    ``C_out x C_in x K x K``; bias a number or one per output channel.
    """
    x = tensor(input, "input", dims=(2, 3))
    w = tensor(weight, "weight", dims=(2, 3, 4))
    x4 = x.reshape(1, 1, *x.shape) if x.dim() == 2 else x.unsqueeze(0)
    c_in = x4.shape[1]
    if w.dim() == 2:
        if c_in != 1:
            raise ReferenceError_(
                f"weight: a {w.shape[0]}x{w.shape[1]} kernel needs a single-channel input, but input has "
                f"{c_in} channels; give weight as C_in x K x K or C_out x C_in x K x K")
        w4 = w.reshape(1, 1, *w.shape)
    elif w.dim() == 3:
        w4 = w.unsqueeze(0)
    else:
        w4 = w
    if w4.shape[1] != c_in:
        raise ReferenceError_(f"weight: expects {w4.shape[1]} input channel(s) (shape {list(w.shape)}), "
                              f"but input has {c_in} (shape {list(x.shape)})")
    c_out = w4.shape[0]
    b = None
    if bias is not None:
        b = tensor(bias, "bias", dims=(0, 1)).reshape(-1)
        if b.numel() == 1 and c_out != 1:
            b = b.expand(c_out).clone()
        if b.numel() != c_out:
            raise ReferenceError_(f"bias: expected {c_out} value(s), one per output channel, got {b.numel()}")
    keep_channels = w.dim() == 4

    def unbatch(y: torch.Tensor) -> torch.Tensor:
        return y[0] if keep_channels else y[0, 0]

    return x4, w4, b, unbatch


def conv_padding(padding: Any) -> Any:
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ReferenceError_(f"padding: expected an integer, a pair, 'same' or 'valid', got {padding!r}")
        return padding
    return pair(padding, "padding", minimum=0)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, flip: bool = False) -> Any:
    """2-D convolution. Cross-correlation as torch does; true convolution (kernel
    flipped in both axes) when ``flip`` is true."""
    x4, w4, b, unbatch = conv2d_operands(input, weight, bias)
    if flip:
        w4 = w4.flip(-1, -2)
    try:
        y = F.conv2d(x4, w4, b, stride=pair(stride, "stride", minimum=1), padding=conv_padding(padding),
                     dilation=pair(dilation, "dilation", minimum=1))
    except RuntimeError as e:
        raise ReferenceError_(f"conv2d: {e}") from None
    return plain(unbatch(y))


# -------------------------------------------------------------------------- pooling

def _pool(kind: str, input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
          count_include_pad: bool = True) -> Any:
    x = tensor(input, "input", dims=(2, 3))
    x4 = x.reshape(1, 1, *x.shape) if x.dim() == 2 else x.unsqueeze(0)
    k = pair(kernel_size, "kernel_size", minimum=1)
    s = k if stride is None else pair(stride, "stride", minimum=1)
    p = pair(padding, "padding", minimum=0)
    try:
        if kind == "max":
            y = F.max_pool2d(x4, k, s, p, ceil_mode=bool(ceil_mode))
        else:
            y = F.avg_pool2d(x4, k, s, p, ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))
    except RuntimeError as e:
        raise ReferenceError_(f"{kind}_pool2d: {e}") from None
    return plain(y[0, 0] if x.dim() == 2 else y[0])


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False) -> Any:
    """Max pooling; stride defaults to the kernel size."""
    return _pool("max", input, kernel_size, stride, padding, ceil_mode)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Any:
    """Average pooling; stride defaults to the kernel size."""
    return _pool("avg", input, kernel_size, stride, padding, ceil_mode, count_include_pad)


# ---------------------------------------------------------------------- activations

def relu(input: Any) -> Any:
    """max(0, x) elementwise."""
    return plain(torch.relu(tensor(input, "input")))


def leaky_relu(input: Any, negative_slope: float = 0.01) -> Any:
    """x for x > 0, negative_slope * x otherwise."""
    return plain(F.leaky_relu(tensor(input, "input"), float(negative_slope)))


def sigmoid(input: Any) -> Any:
    """1 / (1 + exp(-x)) elementwise."""
    return plain(torch.sigmoid(tensor(input, "input")))


def tanh(input: Any) -> Any:
    """tanh(x) elementwise."""
    return plain(torch.tanh(tensor(input, "input")))


def softmax(input: Any, dim: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``dim`` (the last by default)."""
    x = tensor(input, "input")
    if x.dim() == 0:
        raise ReferenceError_("input: softmax needs at least one dimension, got a single number")
    d = integer(dim, "dim")
    if not -x.dim() <= d < x.dim():
        raise ReferenceError_(f"dim: {d} is out of range for an input of shape {list(x.shape)}")
    return plain(torch.softmax(x, d))


# ---------------------------------------------------------------------------- linear

def linear(input: Any, weight: Any, bias: Any = None) -> Any:
    """y = W x + b. ``weight`` is out x in (or a single row ``in``); ``input`` is one
    vector ``in`` or a batch ``N x in`` (rows are samples)."""
    x = tensor(input, "input", dims=(1, 2))
    w = tensor(weight, "weight", dims=(1, 2))
    w2 = w.unsqueeze(0) if w.dim() == 1 else w
    if w2.shape[1] != x.shape[-1]:
        hint = ""
        if w2.shape[0] == x.shape[-1]:
            hint = "; weight looks like in x out: give it as out x in (y = W x)"
        raise ReferenceError_(f"weight: shape {list(w.shape)} takes {w2.shape[1]} input features, "
                              f"but input has {x.shape[-1]}{hint}")
    b = None
    if bias is not None:
        b = tensor(bias, "bias", dims=(0, 1)).reshape(-1)
        if b.numel() != w2.shape[0]:
            raise ReferenceError_(f"bias: expected {w2.shape[0]} value(s), one per output, got {b.numel()}")
    y = F.linear(x, w2, b)
    if w.dim() == 1:
        y = y[..., 0]
    return plain(y)
