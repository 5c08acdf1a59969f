"""Reference calculations grader computes itself from a question's data.

Rubric items name one of :data:`COMPUTATIONS` and give plain arguments (nested
lists of numbers, ints, strings, bools; ``$data`` / ``@item`` references are
resolved by the caller)::

    expected: {compute: conv2d, args: {input: $x, weight: $w, padding: 1}}

Results are plain Python data (floats rounded to 12 significant digits to drop
float noise, ints, nested lists), computed with torch:
tensor operations through ``torch.nn.functional`` in float64, gradients by
autograd, shapes and parameter counts by instantiating ``torch.nn`` modules.
:func:`likely_mistakes` gives, for the same arguments, the values typical slips
produce, keyed by an explanation that can be shown to the student.

Modules: ``ops`` (convolution, pooling, activations, linear), ``losses``,
``notation`` + ``layers`` (the handout's layer notation), ``arithmetic``
(shapes, receptive fields, parameter counts, size algebra), ``grads``
(autograd gradients), ``mistakes`` (the mistake generators), ``convert``
(plain data <-> tensors).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from . import arithmetic, data, grads, losses, mistakes, ops
from .convert import plain
from .errors import ReferenceError_
from .layers import LayerSpec
from .notation import parse_layers

__all__ = ["Computation", "COMPUTATIONS", "compute", "likely_mistakes", "usage", "ReferenceError_", "LayerSpec",
           "parse_layers"]


@dataclass(frozen=True)
class Computation:
    name: str
    fn: Callable[..., Any]                                  # fn(**args) -> plain data
    mistakes: Callable[..., dict[str, Any]] | None = None   # mistakes(**args) -> {explanation: value}
    doc: str = ""


def _entry(name: str, fn: Callable[..., Any], with_mistakes: bool = True) -> Computation:
    doc = inspect.getdoc(fn) or ""
    return Computation(name, fn, getattr(mistakes, name) if with_mistakes else None, doc)


COMPUTATIONS: dict[str, Computation] = {c.name: c for c in [
    # forward operations
    _entry("conv2d", ops.conv2d),
    _entry("max_pool2d", ops.max_pool2d),
    _entry("avg_pool2d", ops.avg_pool2d),
    _entry("relu", ops.relu),
    _entry("leaky_relu", ops.leaky_relu),
    _entry("sigmoid", ops.sigmoid),
    _entry("tanh", ops.tanh),
    _entry("softmax", ops.softmax),
    _entry("linear", ops.linear),
    # losses
    _entry("l1_loss", losses.l1_loss),
    _entry("mse_loss", losses.mse_loss),
    _entry("cross_entropy", losses.cross_entropy),
    _entry("nll_loss", losses.nll_loss),
    _entry("binary_cross_entropy", losses.binary_cross_entropy),
    # architecture arithmetic
    _entry("output_shapes", arithmetic.output_shapes),
    _entry("output_shape", arithmetic.output_shape),
    _entry("receptive_fields", arithmetic.receptive_fields),
    _entry("receptive_field", arithmetic.receptive_field),
    _entry("jumps", arithmetic.jumps),
    _entry("param_counts", arithmetic.param_counts),
    _entry("param_count", arithmetic.param_count),
    _entry("conv_output_size", arithmetic.conv_output_size),
    _entry("pool_output_size", arithmetic.pool_output_size),
    _entry("same_padding", arithmetic.same_padding),
    _entry("kernel_size_for", arithmetic.kernel_size_for),
    _entry("padding_for", arithmetic.padding_for),
    # gradients
    _entry("conv1d_weight_grad", grads.conv1d_weight_grad),
    _entry("conv1d_input_grad", grads.conv1d_input_grad),
    _entry("conv2d_weight_grad", grads.conv2d_weight_grad),
    _entry("conv2d_input_grad", grads.conv2d_input_grad),
    _entry("max_pool2d_grad", grads.max_pool2d_grad),
    _entry("avg_pool2d_grad", grads.avg_pool2d_grad),
    # from the data set itself
    Computation("dataset_mean", data.dataset_mean, data.dataset_mean_mistakes, inspect.getdoc(data.dataset_mean) or ""),
    Computation("dataset_std", data.dataset_std, data.dataset_std_mistakes, inspect.getdoc(data.dataset_std) or ""),
]}


def _lookup(name: str, args: dict[str, Any]) -> Computation:
    if name not in COMPUTATIONS:
        raise ReferenceError_(f"unknown computation {name!r}; known: {', '.join(sorted(COMPUTATIONS))}")
    comp = COMPUTATIONS[name]
    sig = inspect.signature(comp.fn)
    try:
        sig.bind(**args)
    except TypeError as e:
        raise ReferenceError_(f"{name}: {e}; it takes {usage(name)}") from None
    return comp


def usage(name: str) -> str:
    """'conv2d(input, weight, bias=None, ...)': how a computation is called."""
    params = inspect.signature(COMPUTATIONS[name].fn).parameters.values()
    shown = [p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}" for p in params]
    return f"{name}({', '.join(shown)})"


def compute(name: str, **args: Any) -> Any:
    """Run computation ``name`` on plain arguments; bad arguments raise ReferenceError_."""
    comp = _lookup(name, args)
    try:
        return plain(comp.fn(**args))
    except ReferenceError_ as e:
        msg = str(e)
        raise ReferenceError_(msg if msg.startswith(f"{name}:") else f"{name}: {msg}") from None
    except (TypeError, ValueError, RuntimeError, IndexError) as e:
        raise ReferenceError_(f"{name}: bad arguments ({type(e).__name__}: {e})") from None


def likely_mistakes(name: str, **args: Any) -> dict[str, Any]:
    """{explanation: value} for typical slips on this computation with these
    arguments: its own mistakes first, then generic ones for array results
    (transposed, signs flipped). Mistakes that give the correct value, or the
    same value as an earlier mistake, are left out."""
    correct = compute(name, **args)
    comp = COMPUTATIONS[name]
    found: dict[str, Any] = {}
    if comp.mistakes is not None:
        try:
            found.update(comp.mistakes(**args))
        except (ReferenceError_, TypeError, ValueError, RuntimeError, IndexError):
            pass
    for text, value in mistakes.generic(correct).items():
        found.setdefault(text, value)
    out: dict[str, Any] = {}
    for text, value in found.items():
        if mistakes.same(value, correct) or any(mistakes.same(value, v) for v in out.values()):
            continue
        out[text] = plain(value)
    return out
