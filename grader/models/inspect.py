"""What a model *is*: parameter counts, layers, hidden units, architecture diffs.

Pure functions over ``torch.nn.Module`` objects and over *rows* (plain dicts,
one per layer, as ``trace`` makes them and the probe sends back as JSON). The
probe imports this module **before** it executes student code, so every torch
or builtin function used on a module below is a private reference captured at
import time: a notebook that replaces ``torch.nn.Module.parameters``,
``torch.Tensor.numel`` or ``builtins.sum`` does not change what is counted.
Modules are walked through their ``_modules`` / ``_parameters`` dicts, read
with ``object.__getattribute__``.

Definitions (documented for rubric authors):

- *layers* are leaf modules (no child modules), in forward order when a forward
  pass was traced (a module called twice is two layers), else in registration
  order; ``torch.nn.functional`` calls made outside any leaf module
  (``F.relu``, ``F.max_pool2d``, ``x.view(B, -1)`` …) are layers too, of the
  matching type (``ReLU``, ``MaxPool2d``, ``Flatten`` …), marked ``functional``.
  The architecture diff matches them where the rubric lists such a layer and
  ignores them where it does not (``x.view`` is not an extra "Flatten").
- *hidden units* (CS155): the ``out_features`` of every ``Linear`` layer except
  the last one; activations, dropout, convolutions do not count.
- *hidden layers*: weight layers (Linear, Conv*, ConvTranspose*, RNN/LSTM/GRU)
  minus the last one (the output layer).
- layer type names are torch class names; in a rubric ``BatchNorm`` matches
  BatchNorm1d/2d/3d, ``Dropout`` matches Dropout/Dropout1d/2d/3d/AlphaDropout,
  ``Conv`` Conv1d/2d/3d, ``MaxPool`` / ``AvgPool`` any dimension, and any name
  matches itself followed by ``1d``/``2d``/``3d``.
"""
from __future__ import annotations

import builtins as _builtins_mod
import re
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

# ---------------------------------------------------------------- genuine references
_getattribute = object.__getattribute__
_type = type
_id = id
_len = len
_list = list
_tuple = tuple
_dict = dict
_int = int
_float = float
_bool = bool
_str = str
_isinstance = isinstance
_issubclass = issubclass
_range = range
_enumerate = enumerate
_zip = zip
_sorted = sorted
_min = min
_max = max
_all = all
_getattr = getattr
_numel = torch.Tensor.numel
_TB = torch._C.TensorBase
_shape = _TB.__dict__["shape"].__get__ if "shape" in _TB.__dict__ else (lambda t: t.shape)
_requires_grad = (_TB.__dict__["requires_grad"].__get__ if "requires_grad" in _TB.__dict__
                  else (lambda t: t.requires_grad))
_Tensor = torch.Tensor
_Module = torch.nn.Module
_register_forward_hook = torch.nn.Module.register_forward_hook
_register_forward_pre_hook = torch.nn.Module.register_forward_pre_hook
_module_train = torch.nn.Module.train
_no_grad = torch.no_grad
_randn = torch.randn
_manual_seed = torch.manual_seed

WEIGHT_LAYER = re.compile(r"^(Linear|Bilinear|LazyLinear|Conv[123]d|ConvTranspose[123]d|LazyConv[123]d|RNN|LSTM|GRU)$")
ALIASES = {
    "BatchNorm": re.compile(r"^BatchNorm[123]d$|^SyncBatchNorm$|^LazyBatchNorm[123]d$"),
    "Dropout": re.compile(r"^(Dropout[123]?d?|AlphaDropout|FeatureAlphaDropout)$"),
    "Conv": re.compile(r"^Conv[123]d$"),
    "MaxPool": re.compile(r"^MaxPool[123]d$"),
    "AvgPool": re.compile(r"^AvgPool[123]d$"),
    "Pool": re.compile(r"^(Max|Avg|AdaptiveMax|AdaptiveAvg)Pool[123]d$"),
    "Activation": re.compile(r"^(ReLU|ReLU6|LeakyReLU|PReLU|ELU|SELU|CELU|GELU|SiLU|Mish|Sigmoid|Tanh|Softplus|Hardswish)$"),
}
CONFIG_ATTRS = ("in_features", "out_features", "in_channels", "out_channels", "kernel_size", "stride", "padding",
                "dilation", "groups", "padding_mode", "output_padding", "num_features", "eps", "momentum",
                "affine", "p", "dim", "start_dim", "end_dim", "negative_slope", "inplace", "output_size",
                "ceil_mode", "num_embeddings", "embedding_dim", "input_size", "hidden_size", "num_layers",
                "bidirectional", "batch_first", "normalized_shape", "scale_factor", "mode", "alpha", "beta")
SHOWN = {  # config shown in a diff when the rubric names no params
    "Linear": ("in_features", "out_features"),
    "Conv": ("in_channels", "out_channels", "kernel_size", "stride", "padding"),
    "Pool": ("kernel_size", "stride"),
    "Dropout": ("p",),
    "BatchNorm": ("num_features",),
    "Softmax": ("dim",), "LogSoftmax": ("dim",),
}


def type_matches(spec_type: str, actual: str) -> bool:
    """Does a rubric layer type (possibly an alias) name this torch class name?"""
    if spec_type == actual:
        return True
    alias = ALIASES.get(spec_type)
    if alias is not None and alias.match(actual):
        return True
    return re.fullmatch(re.escape(spec_type) + r"[123]d", actual) is not None


# ---------------------------------------------------------------- walking modules

def _mdict(m: Any) -> dict:
    return _getattribute(m, "__dict__")


def named_modules(module: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(qualified name, module) pairs in registration order, each module once."""
    out: list[tuple[str, Any]] = []
    seen: set[int] = set()

    def walk(m: Any, name: str) -> None:
        if _id(m) in seen:
            return
        seen.add(_id(m))
        out.append((name, m))
        children = _mdict(m).get("_modules") or {}
        for key in _list(_dict.keys(children)):
            child = children[key]
            if child is not None:
                walk(child, f"{name}.{key}" if name else _str(key))

    walk(module, prefix)
    return out


def _children(m: Any) -> list:
    children = _mdict(m).get("_modules") or {}
    return [c for c in _dict.values(children) if c is not None]


def _own_params(m: Any) -> list:
    params = _mdict(m).get("_parameters") or {}
    return [p for p in _dict.values(params) if p is not None]


def count_params(module: Any) -> tuple[int, int]:
    """(total, trainable) parameters; a parameter shared by two layers counts once."""
    seen: set[int] = set()
    total = trainable = 0
    for _, m in named_modules(module):
        t, tr = _own_counts(m, seen)
        total, trainable = total + t, trainable + tr
    return total, trainable


def _plain(v: Any) -> Any:
    if _isinstance(v, _bool) or v is None or _isinstance(v, (_int, _float, _str)):
        return v
    if _isinstance(v, (_tuple, _list)) and _len(v) <= 8 and _all(_isinstance(x, (_int, _float, _bool)) for x in v):
        return [x for x in v]
    return None


def module_config(m: Any) -> dict[str, Any]:
    """The constructor arguments a rubric may constrain, read from the module's attributes."""
    d = _mdict(m)
    cfg: dict[str, Any] = {}
    for k in CONFIG_ATTRS:
        if k in d:
            v = _plain(d[k])
            if v is not None or d[k] is None:
                cfg[k] = v
    params = d.get("_parameters") or {}
    if "bias" in params and ("in_features" in cfg or "in_channels" in cfg):
        cfg["bias"] = params["bias"] is not None
    if "kernel_size" in cfg and "stride" in cfg and cfg["stride"] is None:
        cfg["stride"] = cfg["kernel_size"]
    return cfg


def _type_name(m: Any) -> str:
    return _type(m).__name__


def _is_custom(m: Any) -> bool:
    return not _str(_type(m).__module__).startswith("torch.")


def _row(name: str, m: Any, kind: str, params: int, trainable: int, shape: list[int] | None) -> dict[str, Any]:
    row = {"name": name or "(model)", "type": _type_name(m), "kind": kind, "params": params,
           "trainable": trainable, "output_shape": shape, "config": module_config(m)}
    if _is_custom(m):
        row["custom"] = True
    return row


def _own_counts(m: Any, seen: set[int]) -> tuple[int, int]:
    total = trainable = 0
    for p in _own_params(m):
        if _id(p) in seen:
            continue
        seen.add(_id(p))
        n = _int(_numel(p))
        total += n
        trainable += n if _requires_grad(p) else 0
    return total, trainable


def layer_rows(module: Any) -> list[dict[str, Any]]:
    """Rows in registration order, without a forward pass: leaves ("unused" kind, no shapes)
    and containers holding parameters of their own ("container")."""
    seen: set[int] = set()
    rows = []
    for name, m in named_modules(module):
        leaf = not _children(m)
        total, trainable = _own_counts(m, seen)
        if leaf:
            rows.append(_row(name, m, "module", total, trainable, None))
        elif total:
            rows.append(_row(name, m, "container", total, trainable, None))
    return rows


# ---------------------------------------------------------------- tracing a forward pass

_FUNCTIONAL = {
    "relu": "ReLU", "relu_": "ReLU", "leaky_relu": "LeakyReLU", "leaky_relu_": "LeakyReLU", "elu": "ELU",
    "gelu": "GELU", "silu": "SiLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus",
    "softmax": "Softmax", "_softmax": "Softmax", "log_softmax": "LogSoftmax",
    "max_pool1d": "MaxPool1d", "max_pool2d": "MaxPool2d", "_max_pool2d": "MaxPool2d",
    "max_pool2d_with_indices": "MaxPool2d", "max_pool3d": "MaxPool3d", "avg_pool1d": "AvgPool1d",
    "avg_pool2d": "AvgPool2d", "avg_pool3d": "AvgPool3d", "adaptive_avg_pool2d": "AdaptiveAvgPool2d",
    "adaptive_max_pool2d": "AdaptiveMaxPool2d", "dropout": "Dropout", "dropout2d": "Dropout2d",
    "flatten": "Flatten", "view": "Flatten", "reshape": "Flatten",
}
_POOL_ARGS = ("kernel_size", "stride", "padding")


def _shape_list(t: Any) -> list[int] | None:
    if _isinstance(t, _Tensor):
        return [_int(s) for s in _shape(t)]
    if _isinstance(t, (_tuple, _list)) and t:
        return _shape_list(t[0])
    return None


def _functional_config(kind: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    if "Pool" in kind and "Adaptive" not in kind:
        for i, k in _enumerate(_POOL_ARGS):
            v = kwargs.get(k, args[i + 1] if _len(args) > i + 1 else None)
            cfg[k] = _plain(v)
        if cfg.get("stride") in (None, []):
            cfg["stride"] = cfg.get("kernel_size")
        if cfg.get("padding") is None:
            cfg["padding"] = 0
    elif kind in ("Softmax", "LogSoftmax"):
        cfg["dim"] = _plain(kwargs.get("dim", args[1] if _len(args) > 1 else None))
    elif kind.startswith("Dropout"):
        cfg["p"] = _plain(kwargs.get("p", args[1] if _len(args) > 1 else 0.5))
    return cfg


class _Tracer(TorchFunctionMode):
    def __init__(self, state: dict):
        super().__init__()
        self.state = state

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        st = self.state
        if st["depth"] == 0 and st["active"]:
            name = _getattr(func, "__name__", "")
            kind = _FUNCTIONAL.get(name)
            if kind is not None:
                inp = _shape_list(args[0]) if args else None
                shape = _shape_list(out)
                if kind == "Flatten" and not (inp and shape and _len(inp) > 2 and _len(shape) == 2
                                              and shape[0] == inp[0]):
                    return out
                st["rows"].append({"name": f"F.{name}" if kind != "Flatten" else f"Tensor.{name}",
                                   "type": kind, "kind": "functional", "params": 0, "trainable": 0,
                                   "output_shape": _strip_batch(shape, st["batch"]),
                                   "config": _functional_config(kind, args, kwargs)})
        return out


def _strip_batch(shape: list[int] | None, batch: int) -> list[int] | None:
    if shape is None:
        return None
    if shape and shape[0] == batch:
        return shape[1:]
    return [-1] + shape  # the batch dimension was lost or changed: keep everything, flagged with -1


def trace(module: Any, example: Any, batch: int | None = None) -> dict[str, Any]:
    """Run one forward pass (eval mode, no grad) recording every leaf call and functional layer.

    Returns ``{"rows", "output_shape", "error"}``; ``error`` is the exception (not raised) when the
    forward pass failed, rows then hold what ran before the failure plus the leaves not reached.
    """
    batch = _int(_shape(example)[0]) if batch is None else batch
    mods = named_modules(module)
    names = {_id(m): n for n, m in mods}
    leaf = {_id(m): not _children(m) for _, m in mods}
    state = {"depth": 0, "rows": [], "active": True, "batch": batch}
    seen_params: set[int] = set()
    called: set[int] = set()
    handles = []

    def pre(m, inputs):
        if leaf.get(_id(m)):
            state["depth"] += 1

    def post(m, inputs, output):
        if not leaf.get(_id(m)):
            return
        state["depth"] -= 1
        if state["depth"] != 0:
            return
        total, trainable = _own_counts(m, seen_params)
        row = _row(names.get(_id(m), "?"), m, "module", total, trainable,
                   _strip_batch(_shape_list(output), batch))
        if _id(m) in called:
            row["reused"] = True
        called.add(_id(m))
        state["rows"].append(row)

    for _, m in mods:
        handles.append(_register_forward_pre_hook(m, pre))
        handles.append(_register_forward_hook(m, post))
    error = None
    out_shape = None
    try:
        _module_train(module, False)
        with _no_grad(), _Tracer(state):
            out = module(example)
        state["active"] = False
        out_shape = _strip_batch(_shape_list(out), batch)
        if out_shape is None:
            error = TypeError(f"forward returned {_type(out).__name__}, not a tensor")
    except Exception as exc:  # noqa: BLE001 - the student's forward
        error = exc
    finally:
        state["active"] = False
        for h in handles:
            try:
                h.remove()
            except Exception:  # noqa: BLE001
                pass
    rows = state["rows"]
    for name, m in mods:  # leaves never called, containers with their own parameters
        if leaf[_id(m)] and _id(m) not in called:
            total, trainable = _own_counts(m, seen_params)
            rows.append(_row(name, m, "unused" if error is None else "unreached", total, trainable, None))
        elif not leaf[_id(m)]:
            total, trainable = _own_counts(m, seen_params)
            if total:
                rows.append(_row(name, m, "container", total, trainable, None))
    return {"rows": rows, "output_shape": out_shape, "error": error}


# ---------------------------------------------------------------- measures over rows

def layers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The layer sequence: called leaves and functional layers in forward order, then the leaves a
    failed forward pass did not reach ("unreached"); leaves a successful forward pass never called
    ("unused") are not part of the architecture. Rows from ``layer_rows`` are in registration order."""
    return [r for r in rows if r.get("kind") in ("module", "functional", "unreached")]


def _as_rows(x: Any) -> list[dict[str, Any]]:
    return x if _isinstance(x, _list) else layer_rows(x)


def layer_types(x: Any) -> list[str]:
    """Layer type names in order (a module: registration order; rows: forward order)."""
    return [r["type"] for r in layers(_as_rows(x))]


def layer_counts(x: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in layer_types(x):
        counts[t] = counts.get(t, 0) + 1
    return counts


def count_matching(counts: dict[str, int], spec_type: str) -> int:
    return sum(n for t, n in counts.items() if type_matches(spec_type, t))


def _linears(x: Any) -> list[dict[str, Any]]:
    return [r for r in layers(_as_rows(x)) if r["type"] in ("Linear", "LazyLinear") and r.get("kind") != "functional"]


def hidden_units(x: Any) -> int:
    """CS155: out_features of every Linear layer except the last one."""
    lin = _linears(x)
    return sum(int(r["config"].get("out_features") or 0) for r in lin[:-1])


def hidden_layers(x: Any) -> int:
    """Weight layers (Linear, Conv*, RNN…) minus the output layer."""
    n = sum(1 for r in layers(_as_rows(x)) if WEIGHT_LAYER.match(r["type"]) and r.get("kind") != "functional")
    return max(0, n - 1)


# ---------------------------------------------------------------- architecture diff

def _spec_dict(s: Any) -> dict[str, Any]:
    if isinstance(s, dict):
        return {"type": s["type"], "params": dict(s.get("params") or {}), "output_shape": s.get("output_shape")}
    return {"type": s.type, "params": dict(s.params), "output_shape": s.output_shape}


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)) and v and all(x == v[0] for x in v) and not isinstance(v[0], (list, tuple)):
        return v[0]
    return list(v) if isinstance(v, tuple) else v


def value_matches(expected: Any, actual: Any) -> bool:
    e, a = _norm(expected), _norm(actual)
    if isinstance(e, (int, float)) and not isinstance(e, bool) and isinstance(a, (int, float)) and not isinstance(a, bool):
        return abs(e - a) <= 1e-9 * max(1.0, abs(e))
    if isinstance(e, list) and isinstance(a, list):
        return len(e) == len(a) and all(value_matches(x, y) for x, y in zip(e, a))
    return e == a


def _fmt(v: Any) -> str:
    v = _norm(v)
    if isinstance(v, list):
        return "(" + ", ".join(str(x) for x in v) + ")"
    return repr(v) if isinstance(v, str) else str(v)


def _family(t: str) -> str:
    for fam in ("Conv", "Pool", "Dropout", "BatchNorm"):
        if fam in t:
            return fam
    return t


def describe_spec(s: dict[str, Any]) -> str:
    p = s["params"]
    return s["type"] + ("(" + ", ".join(f"{k}={_fmt(v)}" for k, v in p.items()) + ")" if p else "")


def describe_row(r: dict[str, Any], keys: Any = None) -> str:
    cfg = r.get("config") or {}
    keys = [k for k in (keys or SHOWN.get(r["type"]) or SHOWN.get(_family(r["type"])) or ()) if k in cfg]
    inner = ", ".join(f"{k}={_fmt(cfg[k])}" for k in keys)
    return f"{r['type']}({inner})" if inner else r["type"]


def _where(r: dict[str, Any]) -> str:
    return f" [{r['name']}]" if r.get("name") else ""


def architecture_diff(actual_rows: list[dict[str, Any]], spec: list[Any]) -> list[str]:
    """Human-readable differences between the traced layers and the rubric's list; [] when they match.

    Layers are aligned by type (edit distance); unmatched functional layers (``x.view``,
    ``F.relu`` the rubric does not list) are ignored. Then, for each aligned pair, the params
    and output shape the rubric gives are compared.
    """
    specs = [_spec_dict(s) for s in spec]
    acts = layers(actual_rows)
    n, m = len(specs), len(acts)
    INF = float("inf")
    # cost[i][j]: aligning specs[i:] with acts[j:]
    cost = [[INF] * (m + 1) for _ in range(n + 1)]
    cost[n][m] = 0.0
    free = [a.get("kind") == "functional" for a in acts]
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i == n and j == m:
                continue
            best = INF
            if i < n and j < m:
                same = type_matches(specs[i]["type"], acts[j]["type"])
                best = min(best, cost[i + 1][j + 1] + (0.0 if same else (1.0 if not free[j] else INF)))
            if i < n:  # spec layer missing
                best = min(best, cost[i + 1][j] + 1.0)
            if j < m:  # extra actual layer (free when functional)
                best = min(best, cost[i][j + 1] + (0.0 if free[j] else 1.0) + 1e-6)
            cost[i][j] = best
    ops: list[tuple[str, int | None, int | None]] = []
    i = j = 0
    while i < n or j < m:
        if i < n and j < m:
            same = type_matches(specs[i]["type"], acts[j]["type"])
            step = 0.0 if same else (1.0 if not free[j] else INF)
            if abs(cost[i][j] - (cost[i + 1][j + 1] + step)) < 1e-9:
                ops.append(("match" if same else "sub", i, j))
                i, j = i + 1, j + 1
                continue
        if j < m and abs(cost[i][j] - (cost[i][j + 1] + (0.0 if free[j] else 1.0) + 1e-6)) < 1e-9:
            ops.append(("extra", None, j))
            j += 1
            continue
        ops.append(("missing", i, None))
        i += 1
    counted = sum(1 for op, _, j in ops if j is not None and not (op == "extra" and free[j]))
    out: list[str] = []
    structural = []
    for op, i, j in ops:
        if op == "extra" and not free[j]:
            after = f" (after {acts[j - 1]['type']})" if j else " (first)"
            structural.append(f"extra {describe_row(acts[j])}{_where(acts[j])} at position {j + 1}{after}")
        elif op == "missing":
            structural.append(f"missing {describe_spec(specs[i])} at position {i + 1}")
    if counted != n:
        out.append(f"expected {n} layers, found {counted}" + (": " + "; ".join(structural) if structural else ""))
    elif structural:
        out.extend(structural)
    for op, i, j in ops:
        if op == "sub":
            s, a = specs[i], acts[j]
            out.append(f"layer {i + 1}: expected {describe_spec(s)}, found "
                       f"{describe_row(a, list(s['params']) or None)}{_where(a)}")
        elif op == "match":
            s, a = specs[i], acts[j]
            cfg = a.get("config") or {}
            for k, v in s["params"].items():
                if k not in cfg:
                    out.append(f"layer {i + 1} ({a['type']}{_where(a)}): {k} expected {_fmt(v)}, "
                               f"not a setting of this layer")
                elif not value_matches(v, cfg[k]):
                    out.append(f"layer {i + 1} ({a['type']}{_where(a)}): {k} expected {_fmt(v)}, found {_fmt(cfg[k])}")
            if s["output_shape"] is not None:
                got = a.get("output_shape")
                if got is None:
                    out.append(f"layer {i + 1} ({a['type']}{_where(a)}): output shape expected "
                               f"{list(s['output_shape'])}, not measured (forward pass did not reach it)")
                elif list(got) != list(s["output_shape"]):
                    out.append(f"layer {i + 1} ({a['type']}{_where(a)}): output shape expected "
                               f"{list(s['output_shape'])}, found {list(got)}")
    return out


def summarize(module: Any, input_shape: list[int], batch: int = 2, seed: int = 0) -> dict[str, Any]:
    """Everything the probe reports about a built module (counts, rows, shapes), as plain data."""
    total, trainable = count_params(module)
    _manual_seed(seed)
    example = _randn(batch, *input_shape)
    tr = trace(module, example, batch)
    rows = tr["rows"]
    return {
        "total_params": total, "trainable_params": trainable, "rows": rows,
        "layer_counts": layer_counts(rows), "hidden_units": hidden_units(rows),
        "hidden_layers": hidden_layers(rows), "output_shape": tr["output_shape"], "error": tr["error"],
        "model_type": _type_name(module),
    }


__all__ = ["count_params", "named_modules", "module_config", "layer_rows", "trace", "layers", "layer_types",
           "layer_counts", "count_matching", "hidden_units", "hidden_layers", "architecture_diff", "type_matches",
           "value_matches", "summarize"]
del _builtins_mod
