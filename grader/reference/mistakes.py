"""Likely mistakes: for each computation, what a typical slip produces, recomputed
from the same arguments (e.g. conv2d with the kernel flip toggled, or padding 0).

Each generator takes the computation's arguments and returns
``{"explanation shown to the student": value that mistake gives}``. A mistake
that cannot be recomputed for these arguments is left out.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F

from . import arithmetic, grads, losses, ops
from .convert import integer, pair, plain, tensor
from .errors import ReferenceError_
from .notation import parse_layers

Thunk = Callable[[], Any]


def collect(candidates: Iterable[tuple[str, Thunk]]) -> dict[str, Any]:
    """Evaluate each (explanation, thunk); those that fail for these arguments drop out."""
    out: dict[str, Any] = {}
    for text, thunk in candidates:
        try:
            out[text] = plain(thunk())
        except (ReferenceError_, ArithmeticError, RuntimeError, ValueError, IndexError):
            continue
    return out


def same(a: Any, b: Any) -> bool:
    """Equal as plain data, floats within rounding noise."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b)))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


# -------------------------------------------------------------------------- generic

def _depth_and_floats(v: Any) -> tuple[int, bool]:
    depth = 0
    while isinstance(v, list) and v:
        v, depth = v[0], depth + 1
    return depth, isinstance(v, float)


def generic(result: Any) -> dict[str, Any]:
    """Mistakes any array answer can have: transposed, signs flipped."""
    depth, floats = _depth_and_floats(result)
    if depth == 0 or not floats:
        return {}
    cands = []
    if depth >= 2:
        cands.append(("the matrix is transposed (rows and columns swapped)",
                      lambda: tensor(result, "result").transpose(-1, -2)))
    cands.append(("the signs are flipped", lambda: -tensor(result, "result")))
    return collect(cands)


# ------------------------------------------------------------------------- forward ops

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, flip=False):
    args = dict(input=input, weight=weight, bias=bias, stride=stride, padding=padding, dilation=dilation, flip=flip)
    flip_text = ("you used the kernel without flipping it (cross-correlation), but the question asks for "
                 "true convolution" if flip else
                 "you flipped the kernel (true convolution), but the question asks for cross-correlation "
                 "as deep-learning libraries compute it")
    c = [(flip_text, lambda: ops.conv2d(**{**args, "flip": not flip}))]
    if padding not in (0, [0, 0], "valid"):
        c.append(("padding was forgotten (no zero border was added)", lambda: ops.conv2d(**{**args, "padding": 0})))
    if bias is not None:
        c.append(("the bias was not added", lambda: ops.conv2d(**{**args, "bias": None})))
    if stride not in (1, [1, 1]):
        c.append(("the stride was ignored (the kernel moved one pixel at a time)",
                  lambda: ops.conv2d(**{**args, "stride": 1, "padding": 0 if padding == "valid" else padding})))
    if dilation not in (1, [1, 1]):
        c.append(("the dilation was ignored (a dense kernel was used)", lambda: ops.conv2d(**{**args, "dilation": 1})))
    return collect(c)


def _pool(kind: str):
    fn = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    other = ops.avg_pool2d if kind == "max" else ops.max_pool2d
    other_text = ("average pooling was used where max pooling was asked" if kind == "max"
                  else "max pooling was used where average pooling was asked")

    def mistakes(input, kernel_size, stride=None, padding=0, ceil_mode=False, **extra):
        args = dict(input=input, kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode)
        c = [(other_text, lambda: other(**args))]
        if (kernel_size if stride is None else stride) not in (1, [1, 1]):
            c.append(("the windows moved one pixel at a time instead of by the stride",
                      lambda: fn(**{**args, "stride": 1})))
        if padding not in (0, [0, 0]):
            c.append(("padding was forgotten", lambda: fn(**{**args, "padding": 0})))
        c.append(("the output size was rounded the other way (floor vs ceil)",
                  lambda: fn(**{**args, "ceil_mode": not ceil_mode})))
        return collect(c)
    return mistakes


max_pool2d = _pool("max")
avg_pool2d = _pool("avg")


def relu(input):
    x = tensor(input, "input")
    return collect([("the ReLU was not applied (negative values kept)", lambda: x),
                    ("negative values were replaced by their absolute value instead of 0", lambda: x.abs())])


def leaky_relu(input, negative_slope=0.01):
    x = tensor(input, "input")
    return collect([("the negative slope was ignored (plain ReLU)", lambda: torch.relu(x)),
                    ("the activation was not applied", lambda: x)])


def sigmoid(input):
    x = tensor(input, "input")
    return collect([("tanh was used instead of the sigmoid", lambda: torch.tanh(x)),
                    ("the sign in the exponent was flipped: 1 / (1 + exp(x))", lambda: torch.sigmoid(-x))])


def tanh(input):
    x = tensor(input, "input")
    return collect([("the sigmoid was used instead of tanh", lambda: torch.sigmoid(x))])


def softmax(input, dim=-1):
    x = tensor(input, "input")
    c = [("the values were normalised without exponentiating (x / sum x)",
          lambda: x / x.sum(integer(dim, "dim"), keepdim=True)),
         ("the exponentials were not normalised (no division by their sum)", lambda: x.exp())]
    if x.dim() == 2:
        c.insert(0, ("the softmax was taken over the wrong dimension",
                     lambda: torch.softmax(x, 1 - (integer(dim, "dim") % 2))))
    return collect(c)


def linear(input, weight, bias=None):
    c = []
    if bias is not None:
        c.append(("the bias was not added", lambda: ops.linear(input, weight)))
    c.append(("the weight matrix was used transposed (y = Wᵀx)",
              lambda: ops.linear(input, tensor(weight, "weight", dims=(2,)).T, bias)))
    return collect(c)


# ------------------------------------------------------------------------------ losses

def _swap_reduction(fn, reduction, args):
    if reduction == "mean":
        return ("a sum where a mean was asked", lambda: fn(**{**args, "reduction": "sum"}))
    if reduction == "sum":
        return ("a mean where a sum was asked", lambda: fn(**{**args, "reduction": "mean"}))
    return None


def _reduce(v: torch.Tensor, reduction: str) -> torch.Tensor:
    return v.mean() if reduction == "mean" else v.sum() if reduction == "sum" else v


def l1_loss(input, target, reduction="mean"):
    args = dict(input=input, target=target, reduction=reduction)
    x, t = tensor(input, "input"), tensor(target, "target")
    c = [_swap_reduction(losses.l1_loss, reduction, args),
         ("the differences were squared (that is the MSE, not the L1 loss)", lambda: losses.mse_loss(**args)),
         ("the absolute value was left out (signed differences)", lambda: _reduce(x - t, reduction))]
    return collect(x for x in c if x)


def mse_loss(input, target, reduction="mean"):
    args = dict(input=input, target=target, reduction=reduction)
    c = [_swap_reduction(losses.mse_loss, reduction, args),
         ("the differences were not squared (MSE without the square is the L1 loss)",
          lambda: losses.l1_loss(**args))]
    if reduction != "none":
        c.append(("the square root was taken (RMSE instead of MSE)", lambda: math.sqrt(losses.mse_loss(**args))))
        c.append(("a factor 1/2 was included", lambda: losses.mse_loss(**args) / 2))
    return collect(x for x in c if x)


def _log_probs_loss(logp: torch.Tensor, target_like: torch.Tensor, target: Any, reduction: str,
                    scale: float = 1.0) -> torch.Tensor:
    t, probs = losses.class_target(target_like, target)
    per = -(logp * t).sum(-1) if probs else -logp.gather(1, t[:, None])[:, 0]
    return _reduce(per * scale, reduction)


def cross_entropy(logits, target, reduction="mean"):
    args = dict(logits=logits, target=target, reduction=reduction)
    z = tensor(logits, "logits", dims=(1, 2))
    z = z.unsqueeze(0) if z.dim() == 1 else z
    logp = torch.log_softmax(z, -1)
    c = [_swap_reduction(losses.cross_entropy, reduction, args) if z.shape[0] > 1 else None,
         ("log base 10 was used instead of the natural log",
          lambda: _log_probs_loss(logp, z, target, reduction, 1 / math.log(10))),
         ("log base 2 was used instead of the natural log",
          lambda: _log_probs_loss(logp, z, target, reduction, 1 / math.log(2))),
         ("the minus sign was dropped", lambda: _log_probs_loss(logp, z, target, reduction, -1.0)),
         ("the softmax was skipped (minus log of the raw score)",
          lambda: _log_probs_loss(torch.log(_positive(z)), z, target, reduction))]
    return collect(x for x in c if x)


def _positive(z: torch.Tensor) -> torch.Tensor:
    if (z <= 0).any():
        raise ReferenceError_("not applicable")
    return z


def nll_loss(input, target, reduction="mean"):
    args = dict(input=input, target=target, reduction=reduction)
    z = tensor(input, "input", dims=(1, 2))
    z = z.unsqueeze(0) if z.dim() == 1 else z
    c = [_swap_reduction(losses.nll_loss, reduction, args) if z.shape[0] > 1 else None,
         ("the minus sign was dropped", lambda: _log_probs_loss(z, z, target, reduction, -1.0)),
         ("a softmax was applied to log-probabilities (that is cross-entropy on them)",
          lambda: losses.cross_entropy(input, target, reduction))]
    return collect(x for x in c if x)


def binary_cross_entropy(input, target, reduction="mean", logits=False):
    args = dict(input=input, target=target, reduction=reduction, logits=logits)
    x, t = tensor(input, "input"), tensor(target, "target")
    p = torch.sigmoid(x) if logits else x

    def bce(log, sign=1.0, only_positive=False):
        with torch.no_grad():
            terms = t * log(p) + (0 if only_positive else (1 - t) * log(1 - p))
        return _reduce(-sign * terms, reduction)

    c = [_swap_reduction(losses.binary_cross_entropy, reduction, args),
         ("log base 10 was used instead of the natural log", lambda: bce(torch.log10)),
         ("the minus sign was dropped", lambda: bce(torch.log, -1.0)),
         ("the (1 - t) log(1 - p) term was left out", lambda: bce(torch.log, only_positive=True))]
    return collect(x for x in c if x)


# -------------------------------------------------------------------------- arithmetic

def conv_output_size(in_size, kernel_size, stride=1, padding=0, dilation=1):
    n, k, s, p, d = (integer(v, name) for v, name in zip((in_size, kernel_size, stride, padding, dilation),
                                                          ("in_size", "kernel_size", "stride", "padding", "dilation")))
    span = n + 2 * p - d * (k - 1) - 1
    c = []
    if p:
        c += [("padding was forgotten", lambda: (n - d * (k - 1) - 1) // s + 1),
              ("padding was added on one side only", lambda: (n + p - d * (k - 1) - 1) // s + 1)]
    c.append(("the division was rounded up instead of down", lambda: -(-span // s) + 1))
    c.append(("the +1 of the formula was left out", lambda: span // s))
    if s > 1:
        c.append(("the stride was ignored", lambda: span + 1))
    if d > 1:
        c.append(("the dilation was ignored", lambda: (n + 2 * p - k) // s + 1))
    return collect(c)


def pool_output_size(in_size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    args = dict(in_size=in_size, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=ceil_mode)
    n, k = integer(in_size, "in_size"), integer(kernel_size, "kernel_size")
    c = [("the output size was rounded the other way (floor vs ceil)",
          lambda: arithmetic.pool_output_size(**{**args, "ceil_mode": not ceil_mode}))]
    if (k if stride is None else stride) != 1:
        c.append(("the stride was taken as 1 instead of " + ("the kernel size" if stride is None else str(stride)),
                  lambda: arithmetic.pool_output_size(**{**args, "stride": 1})))
    if stride is None or stride == k:
        c.append(("the size was divided by the kernel size without the window formula",
                  lambda: n // k))
    if padding:
        c.append(("padding was forgotten", lambda: arithmetic.pool_output_size(**{**args, "padding": 0})))
    return collect(c)


def same_padding(kernel_size, dilation=1):
    k, d = integer(kernel_size, "kernel_size"), integer(dilation, "dilation")
    c = [("the total padding of both sides was given instead of the padding per side", lambda: d * (k - 1))]
    if d > 1:
        c.append(("the dilation was ignored", lambda: arithmetic.same_padding(k)))
    return collect(c)


def kernel_size_for(in_size, out_size, stride=1, padding=0, dilation=1):
    n, m = integer(in_size, "in_size"), integer(out_size, "out_size")
    s, p, d = integer(stride, "stride"), integer(padding, "padding"), integer(dilation, "dilation")

    def k(n2p, s_, plus_one=True):
        span = n2p - s_ * (m - 1 if plus_one else m) - 1
        if span < 0:
            raise ReferenceError_("not applicable")
        return span // d + 1

    c = [("the +1 of the output-size formula was left out", lambda: k(n + 2 * p, s, plus_one=False))]
    if p:
        c.append(("padding was forgotten", lambda: k(n, s)))
    if s > 1:
        c.append(("the stride was ignored", lambda: k(n + 2 * p, 1)))
    return collect(c)


def padding_for(in_size, out_size, kernel_size, stride=1, dilation=1):
    args = dict(in_size=in_size, out_size=out_size, kernel_size=kernel_size, stride=stride, dilation=dilation)
    return collect([("the total padding of both sides was given instead of the padding per side",
                     lambda: 2 * arithmetic.padding_for(**args))])


# --------------------------------------------------------------------------- networks

def _formula_shapes(input_shape, layers, only, *, ceil=False, no_padding=False, no_stride=False):
    """Shapes from the size formula as a student would apply it, with a slip."""
    specs = parse_layers(layers)
    wanted = arithmetic._categories(only, specs, allowed=None)
    shape = list(input_shape if isinstance(input_shape, (list, tuple)) else [input_shape])
    out = []
    for spec in specs:
        if spec.category in ("conv", "pool"):
            k = spec.get("dilation", 1) * (spec["kernel_size"] - 1) + 1
            s = 1 if no_stride else spec["stride"]
            p = 0 if no_padding else spec["padding"]
            spans = [n + 2 * p - k for n in shape[1:]]
            if len(shape) != 3 or min(spans) < 0:
                raise ReferenceError_("not applicable")
            sizes = [(-(-x // s) if ceil else x // s) + 1 for x in spans]
            shape = [spec["out_channels"] if spec.kind == "conv" else shape[0], *sizes]
        elif spec.kind == "flatten":
            shape = [math.prod(shape)]
        elif spec.kind == "linear":
            shape = [spec["out_features"]] if len(shape) > 1 and spec["in_features"] == math.prod(shape) \
                else shape[:-1] + [spec["out_features"]]
        if spec.category in wanted or spec.kind in wanted:
            out.append(shape)
    return out


def output_shapes(input_shape, layers, only=None):
    specs = parse_layers(layers)
    c = [("padding was ignored", lambda: arithmetic.output_shapes(
            input_shape, [s.replace(padding=0) if s.category in ("conv", "pool") else s for s in specs], only)),
         ("the output sizes were rounded up (ceil) instead of down (floor)",
          lambda: _formula_shapes(input_shape, specs, only, ceil=True)),
         ("the strides were ignored", lambda: _formula_shapes(input_shape, specs, only, no_stride=True))]
    return collect(c)


def output_shape(input_shape, layers):
    return {text: v[-1] for text, v in output_shapes(input_shape, layers).items() if v}


def _rf_variants(layers, only):
    steps = arithmetic.kernel_steps(layers, only)

    def walk(rule):
        r, j, prev_s, out = 1, 1, 1, []
        first_s = steps[0][1]
        jb = first_s  # for the "jump started at S_1" slip
        for k, s, reported in steps:
            r = r + (k - 1) * rule(j, s, prev_s, jb)
            j, prev_s, jb = j * s, s, jb * s
            if reported:
                out.append(r)
        return out

    return [
        ("strides were not accumulated into the jump: each layer's own stride was used",
         lambda: walk(lambda j, s, ps, jb: s)),
        ("only the previous layer's stride was used ((K-1)·S of the layer before) instead of the product of "
         "all earlier strides", lambda: walk(lambda j, s, ps, jb: ps)),
        ("each layer's kernel was scaled by the jump after the layer (including its own stride) instead of "
         "the jump before it", lambda: walk(lambda j, s, ps, jb: j * s)),
        ("the first layer was counted with its own stride (the jump started at S₁ instead of 1)",
         lambda: walk(lambda j, s, ps, jb: jb)),
        ("the strides were ignored (kernel sizes only)", lambda: walk(lambda j, s, ps, jb: 1)),
    ]


def receptive_fields(layers, only=arithmetic.KERNEL_CATEGORIES):
    return collect(_rf_variants(layers, only))


def receptive_field(layers):
    return {text: v[-1] for text, v in receptive_fields(layers).items() if v}


def jumps(layers, only=arithmetic.KERNEL_CATEGORIES):
    steps = arithmetic.kernel_steps(layers, only)
    return collect([("each layer's own stride was given instead of the product of the strides so far",
                     lambda: [s for _, s, r in steps if r])])


def _param_variants(layers, trainable_only):
    specs = parse_layers(layers)
    c = []
    if any(s.kind in ("conv", "linear") for s in specs):
        c.append(("the bias term was not counted", lambda: arithmetic.param_counts(
            [s.replace(bias=False) if s.kind in ("conv", "linear") else s for s in specs], trainable_only)))
    if any(s.kind == "conv" for s in specs):
        c.append(("the convolution weights were counted as K·K·C_out, without the input channels C_in",
                  lambda: arithmetic.param_counts(
                      [s.replace(in_channels=1) if s.kind == "conv" else s for s in specs], trainable_only)))
        c.append(("the biases were counted once per weight instead of once per output channel",
                  lambda: [n + (n - s["out_channels"] if s.kind == "conv" and s.get("bias", True) else 0)
                           for s, n in zip(specs, arithmetic.param_counts(specs, trainable_only))]))
    if any(s.category == "norm" for s in specs):
        if trainable_only:
            c.append(("BatchNorm's running mean and variance were counted as parameters",
                      lambda: arithmetic.param_counts(specs, False)))
        c.append(("the BatchNorm layers were not counted",
                  lambda: [0 if s.category == "norm" else n
                           for s, n in zip(specs, arithmetic.param_counts(specs, trainable_only))]))
    if any(s.kind == "conv" for s in specs):  # last: rarer than the slips above when values coincide
        c.append(("a bias was counted per input channel and filter (C_in·(K·K+1)·C_out) instead of one per filter",
                  lambda: [n + ((s["in_channels"] - 1) * s["out_channels"] if s.kind == "conv" and s.get("bias", True)
                                else 0) for s, n in zip(specs, arithmetic.param_counts(specs, trainable_only))]))
    return c


def param_counts(layers, trainable_only=True):
    return collect(_param_variants(layers, trainable_only))


def param_count(layers, trainable_only=True):
    return {text: sum(v) for text, v in param_counts(layers, trainable_only).items()}


# ------------------------------------------------------------------------------ grads

def _grad_mistakes(fn, args, flip_text):
    c = [(flip_text, lambda: fn(**{**args, "flip": not args.get("flip", False)}))]
    up = args.get("upstream")
    if up is not None:
        c.append(("the upstream gradient was ignored (taken as all ones)", lambda: fn(**{**args, "upstream": None})))
    return collect(c)


def conv1d_weight_grad(input, weight, upstream=None, stride=1, padding=0, dilation=1, flip=False):
    return _grad_mistakes(grads.conv1d_weight_grad, dict(input=input, weight=weight, upstream=upstream, stride=stride,
                                                          padding=padding, dilation=dilation, flip=flip),
                          "the gradient is reversed: the input was convolved with the upstream gradient "
                          "instead of correlated with it")


def conv1d_input_grad(input, weight, upstream=None, stride=1, padding=0, dilation=1, flip=False):
    return _grad_mistakes(grads.conv1d_input_grad, dict(input=input, weight=weight, upstream=upstream, stride=stride,
                                                         padding=padding, dilation=dilation, flip=flip),
                          "the kernel was not flipped when passing the gradient back to the input")


def conv2d_weight_grad(input, weight, upstream=None, bias=None, stride=1, padding=0, dilation=1, flip=False):
    return _grad_mistakes(grads.conv2d_weight_grad, dict(input=input, weight=weight, upstream=upstream, bias=bias,
                                                          stride=stride, padding=padding, dilation=dilation, flip=flip),
                          "the weight gradient is rotated by 180°: the input was convolved with the upstream "
                          "gradient instead of correlated with it")


def conv2d_input_grad(input, weight, upstream=None, bias=None, stride=1, padding=0, dilation=1, flip=False):
    return _grad_mistakes(grads.conv2d_input_grad, dict(input=input, weight=weight, upstream=upstream, bias=bias,
                                                         stride=stride, padding=padding, dilation=dilation, flip=flip),
                          "the kernel was not rotated by 180° when passing the gradient back to the input")


def _overwritten_max_grad(input, kernel_size, stride, upstream, padding):
    """Max-pool gradient where a later window overwrites an earlier one instead of adding."""
    x = tensor(input, "input", dims=(2, 3))
    x3 = x.reshape(1, *x.shape) if x.dim() == 2 else x
    k = pair(kernel_size, "kernel_size", minimum=1)
    s = k if stride is None else pair(stride, "stride", minimum=1)
    y, idx = F.max_pool2d(x3.unsqueeze(0), k, s, pair(padding, "padding"), return_indices=True)
    y, idx = y[0], idx[0]
    g = torch.ones_like(y) if upstream is None else tensor(upstream, "upstream").reshape(y.shape)
    out = torch.zeros_like(x3)
    for c in range(x3.shape[0]):
        flat = out[c].view(-1)
        for i, v in zip(idx[c].reshape(-1).tolist(), g[c].reshape(-1).tolist()):
            flat[i] = v
    return out.reshape(x.shape)


def max_pool2d_grad(input, kernel_size, stride=None, upstream=None, padding=0):
    args = dict(input=input, kernel_size=kernel_size, stride=stride, upstream=upstream, padding=padding)
    c = [("the gradient was spread evenly over each window (average pooling's gradient) instead of going "
          "only to the maximum", lambda: grads.avg_pool2d_grad(**args))]
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None else pair(stride, "stride")
    if s[0] < k[0] or s[1] < k[1]:
        c.append(("where windows overlap, one window's gradient replaced another's instead of adding up",
                  lambda: _overwritten_max_grad(**args)))
    if upstream is not None:
        c.append(("the upstream gradient was ignored (1 at every maximum)",
                  lambda: grads.max_pool2d_grad(**{**args, "upstream": None})))
    return collect(c)


def avg_pool2d_grad(input, kernel_size, stride=None, upstream=None, padding=0):
    args = dict(input=input, kernel_size=kernel_size, stride=stride, upstream=upstream, padding=padding)
    c = [("the whole gradient went to each window's maximum (max pooling's gradient)",
          lambda: grads.max_pool2d_grad(**args))]
    if upstream is not None:
        c.append(("the upstream gradient was ignored", lambda: grads.avg_pool2d_grad(**{**args, "upstream": None})))
    return collect(c)
