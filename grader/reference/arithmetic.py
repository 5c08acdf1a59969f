"""Architecture arithmetic: output sizes and shapes, receptive fields, jumps,
parameter counts, and the padding / kernel-size algebra of convolutions.

Shapes and parameter counts come from instantiating the torch modules (on the
meta device, so VGG-sized layers cost nothing); the size formulas are the ones
in the torch documentation of Conv2d and MaxPool2d.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from .convert import integer
from .errors import ReferenceError_
from .layers import LayerSpec
from .notation import parse_layers

# ------------------------------------------------------------------ 1-D size algebra


def conv_output_size(in_size: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> int:
    """floor((n + 2p - d(k-1) - 1) / s) + 1."""
    n, k = integer(in_size, "in_size", minimum=1), integer(kernel_size, "kernel_size", minimum=1)
    s, p = integer(stride, "stride", minimum=1), integer(padding, "padding", minimum=0)
    d = integer(dilation, "dilation", minimum=1)
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        raise ReferenceError_(f"kernel_size: a kernel spanning {d * (k - 1) + 1} does not fit an input of "
                              f"{n} with padding {p}")
    return span // s + 1


def pool_output_size(in_size: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                     ceil_mode: bool = False) -> int:
    """Like conv_output_size, stride defaulting to the kernel size; with ceil_mode
    the division rounds up, but the last window must start inside the input."""
    n, k = integer(in_size, "in_size", minimum=1), integer(kernel_size, "kernel_size", minimum=1)
    s = k if stride is None else integer(stride, "stride", minimum=1)
    p, d = integer(padding, "padding", minimum=0), integer(dilation, "dilation", minimum=1)
    if p * 2 > k:
        raise ReferenceError_(f"padding: pooling padding must be at most half the kernel size ({k}), got {p}")
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        raise ReferenceError_(f"kernel_size: a window of {d * (k - 1) + 1} does not fit an input of {n}")
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def same_padding(kernel_size: Any, dilation: Any = 1) -> int:
    """Padding per side that keeps the size at stride 1: d(k-1)/2."""
    k, d = integer(kernel_size, "kernel_size", minimum=1), integer(dilation, "dilation", minimum=1)
    total = d * (k - 1)
    if total % 2:
        raise ReferenceError_(f"kernel_size: a kernel spanning {total + 1} (even) has no symmetric 'same' "
                              f"padding: it needs {total} in total, {total // 2} on one side and "
                              f"{total - total // 2} on the other")
    return total // 2


def kernel_size_for(in_size: Any, out_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> int:
    """The kernel size that maps in_size to out_size: k = (n + 2p - s(m-1) - 1)/d + 1
    (with stride > 1 the largest such kernel: the windows then tile exactly)."""
    n, m = integer(in_size, "in_size", minimum=1), integer(out_size, "out_size", minimum=1)
    s, p = integer(stride, "stride", minimum=1), integer(padding, "padding", minimum=0)
    d = integer(dilation, "dilation", minimum=1)
    span = n + 2 * p - s * (m - 1) - 1
    k = span // d + 1
    if span < 0 or conv_output_size(n, k, s, p, d) != m:
        raise ReferenceError_(f"out_size: no kernel maps {n} to {m} with stride {s}, padding {p}, dilation {d}")
    return k


def padding_for(in_size: Any, out_size: Any, kernel_size: Any, stride: Any = 1, dilation: Any = 1) -> int:
    """The smallest padding per side that maps in_size to out_size."""
    n, m = integer(in_size, "in_size", minimum=1), integer(out_size, "out_size", minimum=1)
    k, s = integer(kernel_size, "kernel_size", minimum=1), integer(stride, "stride", minimum=1)
    d = integer(dilation, "dilation", minimum=1)
    need = s * (m - 1) + d * (k - 1) + 1 - n  # = 2p at least
    for p in range(max(0, math.ceil(need / 2)), max(0, math.ceil(need / 2)) + s + 1):
        if n + 2 * p - d * (k - 1) - 1 >= 0 and conv_output_size(n, k, s, p, d) == m:
            return p
    raise ReferenceError_(f"out_size: no padding maps {n} to {m} with kernel {k}, stride {s}, dilation {d}")


# ------------------------------------------------------------------------------ shapes


def _shape(input_shape: Any) -> list[int]:
    if isinstance(input_shape, (int, float)) and not isinstance(input_shape, bool):
        input_shape = [input_shape]
    if not isinstance(input_shape, (list, tuple)) or not input_shape:
        raise ReferenceError_(f"input_shape: expected a shape like [3, 32, 32] (C x H x W, no batch), got {input_shape!r}")
    return [integer(v, "input_shape", minimum=1) for v in input_shape]


def output_shapes(input_shape: Any, layers: Any, only: Any = None) -> list[list[int]]:
    """The shape after each layer (batch dimension stripped), found by running a
    zero tensor through the torch modules. A Linear straight after a conv / pool
    flattens its input first. ``only``: report just these categories (conv, pool,
    linear, activation, ...)."""
    specs = parse_layers(layers)
    wanted = _categories(only, specs, allowed=None)
    x = torch.zeros(1, *_shape(input_shape), device="meta")
    shapes: list[list[int]] = []
    for i, spec in enumerate(specs, 1):
        x = _forward(spec, x, i)
        if spec.category in wanted or spec.kind in wanted:
            shapes.append(list(x.shape[1:]))
    return shapes


def output_shape(input_shape: Any, layers: Any) -> list[int]:
    """The shape after the last layer (batch dimension stripped)."""
    return output_shapes(input_shape, layers)[-1]


def _forward(spec: LayerSpec, x: torch.Tensor, i: int) -> torch.Tensor:
    where = f"layer {i} {spec.label()!r}"
    shape = list(x.shape[1:])
    if spec.kind == "conv" or spec.category == "pool" or spec.kind == "batchnorm2d":
        if x.dim() != 4:
            raise ReferenceError_(f"{where} needs a C x H x W input, got shape {shape}")
    if spec.kind == "conv" and shape[0] != spec["in_channels"]:
        raise ReferenceError_(f"{where} expects {spec['in_channels']} input channels, but gets shape {shape}")
    if spec.kind in ("batchnorm2d", "batchnorm1d") and shape[0] != spec["num_features"]:
        raise ReferenceError_(f"{where} expects {spec['num_features']} channels, but gets shape {shape}")
    if spec.kind == "linear" and x.dim() > 2 and spec["in_features"] != shape[-1] \
            and spec["in_features"] == math.prod(shape):
        x = x.flatten(1)
        shape = list(x.shape[1:])
    if spec.kind == "linear" and shape[-1] != spec["in_features"]:
        raise ReferenceError_(f"{where} expects {spec['in_features']} input features, but gets shape {shape}"
                              f" ({math.prod(shape)} values)")
    module = spec.module().eval()
    try:
        return module(x)
    except RuntimeError as e:
        raise ReferenceError_(f"{where} cannot take an input of shape {shape}: {e}") from None


# --------------------------------------------------------------------- receptive fields

KERNEL_CATEGORIES = ("conv", "pool")


def _categories(only: Any, specs: list[LayerSpec], allowed: Iterable[str] | None) -> set[str]:
    if only is None:
        return {s.category for s in specs} | {s.kind for s in specs}
    names = [only] if isinstance(only, str) else only
    if not isinstance(names, (list, tuple)) or not names:
        raise ReferenceError_(f"only: expected a list of layer kinds like ['conv', 'pool'], got {only!r}")
    out = set()
    for n in names:
        key = str(n).lower().replace("_", "")
        key = {"convolution": "conv", "conv2d": "conv", "pooling": "pool", "maxpool2d": "maxpool",
               "avgpool2d": "avgpool", "fc": "linear"}.get(key, key)
        valid = set(allowed) if allowed is not None else None
        if valid is not None and key not in valid:
            raise ReferenceError_(f"only: {n!r} is not one of {', '.join(sorted(valid))}")
        out.add(key)
    return out


def kernel_steps(layers: Any, only: Any = KERNEL_CATEGORIES) -> list[tuple[int, int, bool]]:
    """(effective kernel size, stride, reported?) for every conv / pool layer up to
    the first flatten or linear layer; activations, norms and dropout are skipped."""
    specs = parse_layers(layers)
    wanted = _categories(only, specs, allowed=("conv", "pool", "maxpool", "avgpool"))
    steps = []
    for spec in specs:
        if spec.category in ("linear", "flatten"):
            break
        if spec.category in KERNEL_CATEGORIES:
            k = spec.get("dilation", 1) * (spec["kernel_size"] - 1) + 1
            steps.append((k, spec["stride"], spec.category in wanted or spec.kind in wanted))
    if not any(r for _, _, r in steps):
        raise ReferenceError_("layers: no convolution or pooling layer to compute a receptive field for")
    return steps


def receptive_fields(layers: Any, only: Any = KERNEL_CATEGORIES) -> list[int]:
    """R_k after each conv / pool layer: R_0 = 1, R_k = R_{k-1} + (K_k - 1) J_{k-1},
    J_k = J_{k-1} S_k (J_0 = 1)."""
    r, j, out = 1, 1, []
    for k, s, reported in kernel_steps(layers, only):
        r, j = r + (k - 1) * j, j * s
        if reported:
            out.append(r)
    return out


def receptive_field(layers: Any) -> int:
    """The receptive field of the last conv / pool layer."""
    return receptive_fields(layers)[-1]


def jumps(layers: Any, only: Any = KERNEL_CATEGORIES) -> list[int]:
    """J_k = J_{k-1} S_k after each conv / pool layer: the input-pixel distance
    between neighbouring outputs."""
    j, out = 1, []
    for _, s, reported in kernel_steps(layers, only):
        j *= s
        if reported:
            out.append(j)
    return out


# --------------------------------------------------------------------- parameter counts

def _count(spec: LayerSpec, trainable_only: bool) -> int:
    m = spec.module()
    n = sum(p.numel() for p in m.parameters() if p.requires_grad or not trainable_only)
    if not trainable_only:  # BatchNorm's running mean and variance, as Keras counts them
        n += sum(b.numel() for name, b in m.named_buffers() if b.dtype.is_floating_point)
    return int(n)


def param_counts(layers: Any, trainable_only: bool = True) -> list[int]:
    """Parameters of each layer (0 for activations, pooling, ...), from torch modules.
    With trainable_only false, BatchNorm running statistics count too."""
    return [_count(s, bool(trainable_only)) for s in parse_layers(layers)]


def param_count(layers: Any, trainable_only: bool = True) -> int:
    """Total parameters of the layers (weights and biases), from torch modules."""
    return sum(param_counts(layers, trainable_only))
