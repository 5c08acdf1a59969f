"""The handout notation for networks, parsed into :class:`LayerSpec` lists.

Accepted forms::

    "Conv(32,128,3,1,1) - ReLU - Conv(128,128,4,4,1)"
    "(Conv(3,3,5,2,2) - ReLU) * 6"          # also "x 6", "× 6", "6 * (...)"
    "MaxPool(2,2)", "MaxPool(4,3,0)", "AvgPool(2,2)", "Linear(25088,4096)", "FC(4096,1000)",
    "Flatten", "Tanh", "LeakyReLU", "BatchNorm2d(64)", "Dropout(0.5)",
    "Conv2d(3, 64, kernel_size=3, padding=1)"   # keywords
    ["Conv(3,64,3,1,1)", "ReLU", {type: MaxPool, kernel: 2}]      # a list (YAML)
    [{type: Conv2d, in: 3, out: 64, kernel: 3, stride: 1, padding: 1}]

Conv(C_in, C_out, K, S=1, P=0, D=1); MaxPool/AvgPool(K, S=K, P=0); separators
are "-", "->", "→" and the dashes PDFs turn them into ("–", "—").
"""
from __future__ import annotations

import re
from typing import Any

from .errors import ReferenceError_
from .layers import DISPLAY, KINDS, LayerSpec

NAMES = {
    "conv": "conv", "conv2d": "conv", "convolution": "conv",
    "maxpool": "maxpool", "maxpool2d": "maxpool", "maxpooling": "maxpool", "pool": "maxpool", "mp": "maxpool",
    "avgpool": "avgpool", "avgpool2d": "avgpool", "averagepool": "avgpool", "avgpooling": "avgpool",
    "averagepooling": "avgpool", "meanpool": "avgpool",
    "linear": "linear", "fc": "linear", "dense": "linear", "fullyconnected": "linear",
    "flatten": "flatten",
    "relu": "relu", "leakyrelu": "leakyrelu", "lrelu": "leakyrelu", "tanh": "tanh", "sigmoid": "sigmoid",
    "softmax": "softmax", "gelu": "gelu", "elu": "elu",
    "batchnorm": "batchnorm2d", "batchnorm2d": "batchnorm2d", "bn": "batchnorm2d", "bn2d": "batchnorm2d",
    "batchnorm1d": "batchnorm1d", "bn1d": "batchnorm1d",
    "dropout": "dropout", "dropout2d": "dropout",
}

# keyword spellings -> parameter name (the kind's own names are always accepted)
KEYWORDS = {
    "in_channels": ("in", "c_in", "cin", "in_ch", "in_features", "channels_in"),
    "out_channels": ("out", "c_out", "cout", "out_ch", "out_features", "filters", "channels_out"),
    "in_features": ("in", "in_channels", "c_in", "inputs"),
    "out_features": ("out", "out_channels", "c_out", "outputs", "units"),
    "kernel_size": ("k", "kernel", "size"),
    "stride": ("s",),
    "padding": ("p", "pad"),
    "dilation": ("d",),
    "num_features": ("c", "channels", "features", "in", "in_channels", "n"),
    "negative_slope": ("slope", "alpha"),
    "p": ("rate", "prob", "probability"),
}

DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "negative_slope": 0.01, "p": 0.5}

MAX_LAYERS = 10_000

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<sep>->|→|⟶|–|—|-)
  | (?P<times>[*×])
  | (?P<op>[(),=])
""", re.VERBOSE)


def _known() -> str:
    return ", ".join(DISPLAY.values())


# ------------------------------------------------------------------ parameter values

def _value(kind: str, name: str, v: Any, where: str) -> Any:
    def bad(expected: str) -> ReferenceError_:
        return ReferenceError_(f"{where}: {name} must be {expected}, got {v!r}")

    if name == "bias":
        if not isinstance(v, bool):
            raise bad("true or false")
        return v
    if name in ("negative_slope", "p"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad("a number")
        if name == "p" and not 0 <= v < 1:
            raise bad("a probability in [0, 1)")
        return float(v)
    if isinstance(v, (list, tuple)) and len(v) == 2 and v[0] == v[1]:
        v = v[0]  # a square [3, 3] kernel / stride / padding
    elif isinstance(v, (list, tuple)):
        raise bad("a single integer (only square kernels, equal strides and paddings are supported)")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise bad("an integer")
    v = int(v)
    minimum = 0 if name == "padding" else 1
    if v < minimum:
        raise bad(f"at least {minimum}")
    return v


def make_layer(kind_name: Any, args: list[Any], kwargs: dict[str, Any], text: str) -> LayerSpec:
    """Bind positional and keyword arguments of one layer, apply defaults, validate."""
    where = f"layer {text!r}"
    key = re.sub(r"[\s_]", "", str(kind_name)).lower()
    if key not in NAMES:
        raise ReferenceError_(f"{where}: unknown layer type {kind_name!r}; expected one of {_known()}")
    kind = NAMES[key]
    _, names, required = KINDS[kind]
    allowed = names + (("bias",) if kind in ("conv", "linear") else ())
    usage = f"{DISPLAY[kind]}"
    if len(args) > len(names):
        raise ReferenceError_(f"{where}: too many arguments ({len(args)}); expected {usage}")
    params: dict[str, Any] = dict(zip(names, args))
    for k, v in kwargs.items():
        kl = k.lower()
        target = kl if kl in allowed else next((n for n in allowed if kl in KEYWORDS.get(n, ())), None)
        if target is None:
            raise ReferenceError_(f"{where}: unknown argument {k!r}; {DISPLAY[kind].split('(')[0]} takes "
                                  f"{', '.join(allowed) or 'no arguments'}")
        if target in params:
            raise ReferenceError_(f"{where}: {target} given twice")
        params[target] = v
    missing = [n for n in names[:required] if n not in params]
    if missing:
        raise ReferenceError_(f"{where}: missing {', '.join(missing)}; expected {usage}")
    params = {k: _value(kind, k, v, where) for k, v in params.items()}
    if kind in ("maxpool", "avgpool"):
        params.setdefault("stride", params["kernel_size"])
    for n in names:
        if n not in params and n in DEFAULTS:
            params[n] = DEFAULTS[n]
    return LayerSpec(kind, params, text)


# ------------------------------------------------------------------------ the parser

class _Parser:
    def __init__(self, source: str):
        self.src = source
        self.toks: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(source):
            m = _TOKEN.match(source, pos)
            if not m:
                self.fail(pos, f"unexpected character {source[pos]!r}")
            if m.lastgroup != "space":
                self.toks.append((m.lastgroup, m.group(), pos))
            pos = m.end()
        self.i = 0

    def fail(self, pos: int, msg: str) -> None:
        raise ReferenceError_(f"layers: at character {pos} of {self.src!r}: {msg}")

    def peek(self, k: int = 0) -> tuple[str, str, int]:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("end", "", len(self.src))

    def take(self) -> tuple[str, str, int]:
        t = self.peek()
        self.i += 1
        return t

    def describe(self, tok: tuple[str, str, int]) -> str:
        return "the end of the text" if tok[0] == "end" else repr(tok[1])

    def parse(self) -> list[LayerSpec]:
        if not self.toks:
            raise ReferenceError_("layers: empty notation; expected layers like 'Conv(3,64,3,1,1) - ReLU'")
        layers = self.sequence()
        if self.peek()[0] != "end":
            tok = self.peek()
            self.fail(tok[2], f"expected a separator '-' between layers, got {self.describe(tok)}")
        return layers

    def sequence(self) -> list[LayerSpec]:
        layers = self.term()
        while self.peek()[0] == "sep":
            self.take()
            layers += self.term()
            if len(layers) > MAX_LAYERS:
                self.fail(self.peek()[2], f"more than {MAX_LAYERS} layers")
        return layers

    def _times(self) -> bool:
        kind, text, _ = self.peek()
        return kind == "times" or (kind == "name" and text in ("x", "X"))

    def count(self) -> int:
        kind, text, pos = self.take()
        if kind != "num" or not text.isdigit() or int(text) < 1:
            self.fail(pos, f"expected a repeat count (a positive integer), got {self.describe((kind, text, pos))}")
        return int(text)

    def term(self) -> list[LayerSpec]:
        kind, text, pos = self.peek()
        if kind == "num":  # 6 * (...)
            n = self.count()
            if not self._times():
                self.fail(self.peek()[2], f"expected '*' after the repeat count {n}, got {self.describe(self.peek())}")
            self.take()
            layers = self.factor()
        else:
            layers = self.factor()
            n = 1
            kind, text, pos = self.peek()
            if self._times():
                self.take()
                n = self.count()
            elif kind == "name" and re.fullmatch(r"[xX]\d+", text):  # "x6"
                self.take()
                n = int(text[1:])
        if n * len(layers) > MAX_LAYERS:
            self.fail(pos, f"more than {MAX_LAYERS} layers")
        return layers * n

    def factor(self) -> list[LayerSpec]:
        kind, text, pos = self.peek()
        if kind == "op" and text == "(":
            self.take()
            layers = self.sequence()
            close = self.take()
            if close[:2] != ("op", ")"):
                self.fail(close[2], f"expected ')' to close the group opened at character {pos}, "
                                    f"got {self.describe(close)}")
            return layers
        if kind != "name":
            self.fail(pos, f"expected a layer such as Conv(...), ReLU or MaxPool(...), got {self.describe((kind, text, pos))}")
        self.take()
        key = re.sub(r"_", "", text).lower()
        if key not in NAMES:
            self.fail(pos, f"unknown layer {text!r}; expected one of {_known()}")
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        end = pos + len(text)
        if self.peek()[:2] == ("op", "("):
            self.take()
            if self.peek()[:2] == ("op", ")"):
                end = self.take()[2] + 1
            else:
                while True:
                    kw = None
                    if self.peek()[0] == "name" and self.peek(1)[:2] == ("op", "="):
                        kw = self.take()[1]
                        self.take()
                    v = self.number()
                    if kw is None:
                        if kwargs:
                            self.fail(self.peek()[2], f"positional argument after keyword arguments in {text}(...)")
                        args.append(v)
                    elif kw in kwargs:
                        self.fail(self.peek()[2], f"argument {kw!r} given twice in {text}(...)")
                    else:
                        kwargs[kw] = v
                    sep = self.take()
                    if sep[:2] == ("op", ")"):
                        end = sep[2] + 1
                        break
                    if sep[:2] != ("op", ","):
                        self.fail(sep[2], f"expected ',' or ')' in the arguments of {text}, got {self.describe(sep)}")
        return [make_layer(text, args, kwargs, self.src[pos:end])]

    def number(self) -> Any:
        sign = 1
        if self.peek()[:2] == ("sep", "-"):
            self.take()
            sign = -1
        kind, text, pos = self.take()
        if kind == "name" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind != "num":
            self.fail(pos, f"expected a number, got {self.describe((kind, text, pos))}")
        v = float(text)
        return sign * (int(v) if v.is_integer() and re.fullmatch(r"\d+", text) else v)


def parse_layers(layers: Any) -> list[LayerSpec]:
    """Layer notation (a string, a list of strings / dicts, or a dict) -> LayerSpecs."""
    if isinstance(layers, LayerSpec):
        return [layers]
    if isinstance(layers, str):
        return _Parser(layers).parse()
    if isinstance(layers, dict):
        d = dict(layers)
        kind = next((d.pop(k) for k in ("type", "layer", "kind") if k in d), None)
        if kind is None:
            raise ReferenceError_(f"layers: the layer {layers!r} has no 'type' (e.g. type: Conv2d)")
        return [make_layer(kind, [], d, f"{kind}({', '.join(f'{k}={v}' for k, v in d.items())})")]
    if isinstance(layers, (list, tuple)):
        if not layers:
            raise ReferenceError_("layers: empty list; expected layers like 'Conv(3,64,3,1,1) - ReLU'")
        out: list[LayerSpec] = []
        for item in layers:
            out += parse_layers(item)
        return out
    raise ReferenceError_(f"layers: expected notation like 'Conv(3,64,3,1,1) - ReLU', a list of such "
                          f"strings or of dicts, got {type(layers).__name__}")
