"""From-scratch code (AI2100): the student's optimizer steps and backprop against torch.

A rubric item ``{type: function, function: NAME, reference: REF, params: {...}}``
calls the notebook function ``NAME`` in the sandboxed probe process (see
``grader.models.probe``) on random float64 tensors and compares it with the
reference computed by torch itself. Template notebooks must follow these
calling conventions.

Optimizer steps (``params`` and ``grads`` are lists of ``torch.float64``
tensors of the same shapes; ``state`` is a dict, empty at the first call, that
the grader passes again, the same object, on every later call: keep the
velocity / running averages in it, e.g. ``state["v"]``):

``sgd_step``       ``f(params, grads, state, lr)``
                   p ← p − lr·g                      (torch.optim.SGD)
``momentum_step``  ``f(params, grads, state, lr, momentum)``
                   v ← momentum·v + g;  p ← p − lr·v  (torch.optim.SGD(momentum=…),
                   v starts at 0, so the first step equals plain SGD)
``rmsprop_step``   ``f(params, grads, state, lr, rho, eps)``
                   s ← rho·s + (1−rho)·g²;  p ← p − lr·g / (√s + eps)
                   (torch.optim.RMSprop(alpha=rho, eps=eps), s starts at 0)

The function returns the list of updated parameters (new tensors), or ``None``
when it updated ``params`` in place. Numpy arrays are accepted in the result.
``steps`` (default 3) steps are taken with fresh random gradients, so a
momentum or RMSProp step that forgets its state fails from step 2 on.
Rubric ``params``: ``lr``, ``momentum``, ``rho``, ``eps``, ``steps``,
``shapes`` (list of parameter shapes), ``seed``.

Backprop:

``backprop``       ``f(X, Y, weights, biases) -> (grad_weights, grad_biases)``
                   a fully connected network: ``a0 = X``; for each layer
                   ``z = a @ W + b`` (``W`` of shape (n_in, n_out), ``b`` of shape
                   (n_out,)); ``a = act(z)`` on every layer but the last, which
                   stays linear. Loss ``mse``: ``((out − Y)**2).mean()``;
                   ``cross_entropy``: mean over the batch of
                   ``−log softmax(out)[Y]`` with ``Y`` integer class labels.
                   Returns the gradients of that loss, lists in layer order
                   (a dict ``{"weights": [...], "biases": [...]}`` is accepted too).
Rubric ``params``: ``sizes`` (default [4, 5, 3]), ``batch`` (default 6),
``activation`` (``relu`` | ``sigmoid`` | ``tanh``; default ``sigmoid``),
``loss`` (``mse`` | ``cross_entropy``; default ``mse``), ``layout``
(``in_out`` default, or ``out_in`` for ``W`` of shape (n_out, n_in) with
``z = a @ W.T + b`` as in nn.Linear), ``numpy: true`` to pass numpy arrays.

Every reference returns ``{"checks": [{"name", "ok", "max_abs_err", "message"}], ...}``;
``params.partial: true`` gives credit per check, else all checks must pass.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

REFERENCES = ("sgd_step", "momentum_step", "rmsprop_step", "backprop")
DEFAULT_TOLERANCE = {"abs": 1e-6, "rel": 1e-5}

_tensor = torch.as_tensor
_float64 = torch.float64


def _to_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(_float64)
    return _tensor(x, dtype=_float64)


def _compare(name: str, got: Any, want: torch.Tensor, tol: dict) -> dict:
    try:
        g = _to_tensor(got)
    except Exception as exc:  # noqa: BLE001
        return {"name": name, "ok": False, "max_abs_err": None,
                "message": f"{name}: expected a tensor of shape {list(want.shape)}, got {type(got).__name__} ({exc})"}
    if list(g.shape) != list(want.shape):
        if g.numel() == want.numel():
            g = g.reshape(want.shape)
        else:
            return {"name": name, "ok": False, "max_abs_err": None,
                    "message": f"{name}: shape {list(g.shape)}, expected {list(want.shape)}"}
    err = (g - want).abs()
    max_err = float(err.max()) if err.numel() else 0.0
    if not math.isfinite(max_err):
        return {"name": name, "ok": False, "max_abs_err": None, "message": f"{name}: contains NaN or inf"}
    ok = bool((err <= tol["abs"] + tol["rel"] * want.abs()).all())
    msg = f"{name}: ok (max error {max_err:.2e})" if ok else f"{name}: wrong, max abs error {max_err:.3g}"
    return {"name": name, "ok": ok, "max_abs_err": max_err, "message": msg}


def _optimizer_check(student: Callable, params: dict, tol: dict, make_opt: Callable, extra: tuple,
                     after: Callable[[], None], grad_floor: float = 0.0) -> dict:
    gen = torch.Generator().manual_seed(int(params.get("seed", 0)))
    shapes = [list(s) for s in (params.get("shapes") or [[3, 4], [4]])]
    steps = int(params.get("steps", 3))
    start = [torch.randn(*s, generator=gen, dtype=_float64) for s in shapes]
    all_grads = [[torch.randn(*s, generator=gen, dtype=_float64) for s in shapes] for _ in range(steps)]
    if grad_floor:
        all_grads = [[g.sign() * (g.abs() + grad_floor) for g in gs] for gs in all_grads]
    # the whole reference trajectory first: nothing the student's code does can touch it
    ref = [torch.nn.Parameter(p.clone()) for p in start]
    opt = make_opt(ref)
    trajectory = []
    for grads in all_grads:
        for p, g in zip(ref, grads):
            p.grad = g.clone()
        opt.step()
        trajectory.append([p.detach().clone() for p in ref])
    mine = [p.clone() for p in start]
    state: dict = {}
    checks = []
    for step, (grads, want) in enumerate(zip(all_grads, trajectory), start=1):
        passed = [p.clone() for p in mine]
        try:
            out = student(passed, [g.clone() for g in grads], state, *extra)
        except Exception as exc:  # noqa: BLE001
            raise StudentError(exc) from exc
        finally:
            after()
        if out is None:
            out = passed
        if not isinstance(out, (list, tuple)) or len(out) != len(shapes):
            got = type(out).__name__ + (f" of length {len(out)}" if isinstance(out, (list, tuple)) else "")
            checks.append({"name": f"step {step}", "ok": False, "max_abs_err": None,
                           "message": f"step {step}: expected a list of {len(shapes)} tensors, got {got}"})
            break
        results = [_compare(f"step {step} param {k}", o, r, tol) for k, (o, r) in enumerate(zip(out, want))]
        ok = all(r["ok"] for r in results)
        errs = [r["max_abs_err"] for r in results if r["max_abs_err"] is not None]
        bad = [r["message"] for r in results if not r["ok"]]
        checks.append({"name": f"step {step}", "ok": ok, "max_abs_err": max(errs) if errs else None,
                       "message": f"step {step}: ok" if ok else "; ".join(bad)})
        if not ok:
            break  # later steps build on a wrong state
        mine = [_to_tensor(o).clone() for o in out]
    for k in range(len(checks), steps):
        checks.append({"name": f"step {k + 1}", "ok": False, "max_abs_err": None,
                       "message": f"step {k + 1}: not checked after a wrong step"})
    return {"checks": checks, "steps": steps}


class StudentError(Exception):
    """The student's function raised; ``__cause__`` is the exception."""


def sgd_step(student: Callable, params: dict, tol: dict, after: Callable[[], None]) -> dict:
    lr = float(params.get("lr", 0.1))
    return _optimizer_check(student, params, tol, lambda ps: torch.optim.SGD(ps, lr=lr), (lr,), after)


def momentum_step(student: Callable, params: dict, tol: dict, after: Callable[[], None]) -> dict:
    lr = float(params.get("lr", 0.1))
    mom = float(params.get("momentum", 0.9))
    return _optimizer_check(student, params, tol, lambda ps: torch.optim.SGD(ps, lr=lr, momentum=mom), (lr, mom), after)


def rmsprop_step(student: Callable, params: dict, tol: dict, after: Callable[[], None]) -> dict:
    lr = float(params.get("lr", 0.01))
    rho = float(params.get("rho", 0.9))
    eps = float(params.get("eps", 1e-8))
    # gradients kept away from 0, where eps inside or outside the square root (both are
    # textbook RMSProp; torch puts it outside) would make a correct answer look wrong
    return _optimizer_check(student, params, tol, lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=rho, eps=eps),
                            (lr, rho, eps), after, grad_floor=0.1)


_ACT = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def backprop(student: Callable, params: dict, tol: dict, after: Callable[[], None]) -> dict:
    gen = torch.Generator().manual_seed(int(params.get("seed", 0)))
    sizes = [int(s) for s in params.get("sizes", [4, 5, 3])]
    batch = int(params.get("batch", 6))
    act = _ACT[params.get("activation", "sigmoid")]
    loss_kind = params.get("loss", "mse")
    out_in = params.get("layout", "in_out") == "out_in"
    X = torch.randn(batch, sizes[0], generator=gen, dtype=_float64)
    if loss_kind == "cross_entropy":
        Y = torch.randint(0, sizes[-1], (batch,), generator=gen)
    else:
        Y = torch.randn(batch, sizes[-1], generator=gen, dtype=_float64)
    Ws, bs = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        shape = (b, a) if out_in else (a, b)
        Ws.append((torch.randn(*shape, generator=gen, dtype=_float64) / math.sqrt(a)).requires_grad_())
        bs.append((0.1 * torch.randn(b, generator=gen, dtype=_float64)).requires_grad_())
    h = X
    for k, (W, b) in enumerate(zip(Ws, bs)):
        z = h @ (W.T if out_in else W) + b
        h = act(z) if k < len(Ws) - 1 else z
    loss = torch.nn.functional.cross_entropy(h, Y) if loss_kind == "cross_entropy" else ((h - Y) ** 2).mean()
    loss.backward()
    conv = (lambda t: t.detach().clone().numpy()) if params.get("numpy") else (lambda t: t.detach().clone())
    try:
        out = student(conv(X), conv(Y), [conv(W) for W in Ws], [conv(b) for b in bs])
    except Exception as exc:  # noqa: BLE001
        raise StudentError(exc) from exc
    finally:
        after()
    if isinstance(out, dict):
        out = (out.get("weights"), out.get("biases"))
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[0], (list, tuple))
            and isinstance(out[1], (list, tuple)) and len(out[0]) == len(Ws) and len(out[1]) == len(bs)):
        return {"checks": [{"name": "result", "ok": False, "max_abs_err": None,
                            "message": f"expected (grad_weights, grad_biases), two lists of {len(Ws)} tensors; "
                                       f"got {type(out).__name__}"}]}
    checks = [_compare(f"dL/dW{k + 1}", g, W.grad, tol) for k, (g, W) in enumerate(zip(out[0], Ws))]
    checks += [_compare(f"dL/db{k + 1}", g, b.grad, tol) for k, (g, b) in enumerate(zip(out[1], bs))]
    return {"checks": checks, "loss": float(loss.detach())}


def run_reference(name: str, student: Callable, params: dict | None = None, tolerance: dict | None = None,
                  after: Callable[[], None] = lambda: None) -> dict:
    """Compare the student's function with reference ``name``; raises StudentError when it raised.
    ``after`` runs after every call of the student's function (the probe restores torch there)."""
    if name not in REFERENCES:
        raise KeyError(f"unknown reference {name!r}; known: {', '.join(REFERENCES)}")
    tol = dict(DEFAULT_TOLERANCE, **(tolerance or {}))
    params = dict(params or {})
    params.pop("partial", None)
    with torch.no_grad() if name != "backprop" else _nullcontext():
        return globals()[name](student, params, tol, after)


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False
