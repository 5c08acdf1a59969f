"""Gradients by autograd: for an output y = f(x, w) and an upstream gradient
g = dL/dy, the gradient of L = sum(g * y) with respect to w or x."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .convert import pair, plain, tensor
from .errors import ReferenceError_
from .ops import conv2d_operands, conv_padding


def _upstream(upstream: Any, y: torch.Tensor, shown: torch.Tensor) -> torch.Tensor:
    """The upstream gradient shaped like y; ``shown`` is y as the caller sees it
    (without the batch and single-channel dimensions). None means all ones."""
    if upstream is None:
        return torch.ones_like(y)
    g = tensor(upstream, "upstream")
    if g.shape != shown.shape:
        raise ReferenceError_(f"upstream: shape {list(g.shape)} differs from the output shape {list(shown.shape)}")
    return g.reshape(y.shape)


# ----------------------------------------------------------------------------- conv 1-d

def _conv1d(input: Any, weight: Any, stride: Any, padding: Any, dilation: Any, flip: bool):
    x = tensor(input, "input", dims=(1, 2))
    w = tensor(weight, "weight", dims=(1, 2, 3))
    x3 = x.reshape(1, 1, -1) if x.dim() == 1 else x.unsqueeze(0)
    w3 = w.reshape(1, 1, -1) if w.dim() == 1 else (w.unsqueeze(0) if w.dim() == 2 else w)
    if w3.shape[1] != x3.shape[1]:
        raise ReferenceError_(f"weight: expects {w3.shape[1]} input channel(s), input has {x3.shape[1]}")
    x3.requires_grad_(True)
    w3 = w3.detach().requires_grad_(True)
    w_used = w3.flip(-1) if flip else w3
    pad = conv_padding(padding)
    try:
        y = F.conv1d(x3, w_used, stride=pair(stride, "stride", minimum=1)[0],
                     padding=pad if isinstance(pad, str) else pad[0],
                     dilation=pair(dilation, "dilation", minimum=1)[0])
    except RuntimeError as e:
        raise ReferenceError_(f"conv1d: {e}") from None
    shown = y[0] if w.dim() == 3 else y[0, 0]
    return x, w, x3, w3, y, shown


def conv1d_weight_grad(input: Any, weight: Any, upstream: Any = None, stride: Any = 1, padding: Any = 0,
                       dilation: Any = 1, flip: bool = False) -> Any:
    """dL/dw for y = conv1d(x, w) (cross-correlation; true convolution with flip);
    input N or C x N, weight K, C_in x K or C_out x C_in x K, upstream shaped like y."""
    x, w, x3, w3, y, shown = _conv1d(input, weight, stride, padding, dilation, flip)
    (y * _upstream(upstream, y, shown)).sum().backward()
    return plain(w3.grad.reshape(w.shape))


def conv1d_input_grad(input: Any, weight: Any, upstream: Any = None, stride: Any = 1, padding: Any = 0,
                      dilation: Any = 1, flip: bool = False) -> Any:
    """dL/dx for y = conv1d(x, w)."""
    x, w, x3, w3, y, shown = _conv1d(input, weight, stride, padding, dilation, flip)
    (y * _upstream(upstream, y, shown)).sum().backward()
    return plain(x3.grad.reshape(x.shape))


# ----------------------------------------------------------------------------- conv 2-d

def _conv2d_backward(input: Any, weight: Any, upstream: Any, bias: Any, stride: Any, padding: Any,
                     dilation: Any, flip: bool):
    x4, w4, b, unbatch = conv2d_operands(input, weight, bias)
    x4.requires_grad_(True)
    w4 = w4.detach().requires_grad_(True)
    try:
        y = F.conv2d(x4, w4.flip(-1, -2) if flip else w4, b, stride=pair(stride, "stride", minimum=1),
                     padding=conv_padding(padding), dilation=pair(dilation, "dilation", minimum=1))
    except RuntimeError as e:
        raise ReferenceError_(f"conv2d: {e}") from None
    (y * _upstream(upstream, y, unbatch(y))).sum().backward()
    return x4, w4


def conv2d_weight_grad(input: Any, weight: Any, upstream: Any = None, bias: Any = None, stride: Any = 1,
                       padding: Any = 0, dilation: Any = 1, flip: bool = False) -> Any:
    """dL/dw for y = conv2d(x, w) (shapes as for conv2d; upstream shaped like y)."""
    _, w4 = _conv2d_backward(input, weight, upstream, bias, stride, padding, dilation, flip)
    return plain(w4.grad.reshape(tensor(weight, "weight").shape))


def conv2d_input_grad(input: Any, weight: Any, upstream: Any = None, bias: Any = None, stride: Any = 1,
                      padding: Any = 0, dilation: Any = 1, flip: bool = False) -> Any:
    """dL/dx for y = conv2d(x, w): the upstream gradient fully convolved with the kernel."""
    x4, _ = _conv2d_backward(input, weight, upstream, bias, stride, padding, dilation, flip)
    return plain(x4.grad.reshape(tensor(input, "input").shape))


# ------------------------------------------------------------------------------ pooling

def _pool_grad(kind: str, input: Any, kernel_size: Any, stride: Any, padding: Any, upstream: Any) -> Any:
    x = tensor(input, "input", dims=(2, 3))
    x4 = (x.reshape(1, 1, *x.shape) if x.dim() == 2 else x.unsqueeze(0)).requires_grad_(True)
    k = pair(kernel_size, "kernel_size", minimum=1)
    s = k if stride is None else pair(stride, "stride", minimum=1)
    p = pair(padding, "padding", minimum=0)
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    try:
        y = pool(x4, k, s, p)
    except RuntimeError as e:
        raise ReferenceError_(f"{kind}_pool2d: {e}") from None
    (y * _upstream(upstream, y, y[0, 0] if x.dim() == 2 else y[0])).sum().backward()
    return plain(x4.grad.reshape(x.shape))


def max_pool2d_grad(input: Any, kernel_size: Any, stride: Any = None, upstream: Any = None, padding: Any = 0) -> Any:
    """dL/dx for y = max_pool2d(x): each window's upstream gradient goes to its
    maximum; where windows overlap the contributions add up. upstream defaults to ones."""
    return _pool_grad("max", input, kernel_size, stride, padding, upstream)


def avg_pool2d_grad(input: Any, kernel_size: Any, stride: Any = None, upstream: Any = None, padding: Any = 0) -> Any:
    """dL/dx for y = avg_pool2d(x): each window's upstream gradient spread evenly."""
    return _pool_grad("avg", input, kernel_size, stride, padding, upstream)
