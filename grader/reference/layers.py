"""Layer specifications (what the notation parser produces) and their torch modules.

A :class:`LayerSpec` is a layer kind plus its hyper-parameters, e.g.
``LayerSpec("conv", {"in_channels": 3, "out_channels": 64, "kernel_size": 3,
"stride": 1, "padding": 1, "dilation": 1}, "Conv(3,64,3,1,1)")``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# kind -> (category, parameter names in positional order, how many are required)
KINDS: dict[str, tuple[str, tuple[str, ...], int]] = {
    "conv": ("conv", ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation"), 3),
    "maxpool": ("pool", ("kernel_size", "stride", "padding"), 1),
    "avgpool": ("pool", ("kernel_size", "stride", "padding"), 1),
    "linear": ("linear", ("in_features", "out_features"), 2),
    "flatten": ("flatten", (), 0),
    "relu": ("activation", (), 0),
    "leakyrelu": ("activation", ("negative_slope",), 0),
    "tanh": ("activation", (), 0),
    "sigmoid": ("activation", (), 0),
    "softmax": ("activation", (), 0),
    "gelu": ("activation", (), 0),
    "elu": ("activation", (), 0),
    "batchnorm2d": ("norm", ("num_features",), 1),
    "batchnorm1d": ("norm", ("num_features",), 1),
    "dropout": ("dropout", ("p",), 0),
}

# how each kind is written in messages
DISPLAY = {
    "conv": "Conv(C_in, C_out, K[, S=1[, P=0[, D=1]]])",
    "maxpool": "MaxPool(K[, S=K[, P=0]])",
    "avgpool": "AvgPool(K[, S=K[, P=0]])",
    "linear": "Linear(in, out) / FC(in, out)",
    "flatten": "Flatten",
    "relu": "ReLU",
    "leakyrelu": "LeakyReLU[(slope=0.01)]",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "softmax": "Softmax",
    "gelu": "GELU",
    "elu": "ELU",
    "batchnorm2d": "BatchNorm2d(C)",
    "batchnorm1d": "BatchNorm1d(C)",
    "dropout": "Dropout[(p=0.5)]",
}


@dataclass(frozen=True)
class LayerSpec:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    @property
    def category(self) -> str:
        """conv, pool, linear, flatten, activation, norm or dropout."""
        return KINDS[self.kind][0]

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    def label(self) -> str:
        return self.text or self.kind

    def replace(self, **params: Any) -> "LayerSpec":
        """A copy with some hyper-parameters changed (used to recompute mistakes)."""
        return LayerSpec(self.kind, {**self.params, **params}, self.text)

    def module(self) -> nn.Module:
        """The torch module, built on the meta device (shapes and parameter counts
        without allocating or initialising weights)."""
        p = self.params
        with torch.device("meta"):
            if self.kind == "conv":
                return nn.Conv2d(p["in_channels"], p["out_channels"], p["kernel_size"], p["stride"],
                                 p["padding"], p["dilation"], bias=p.get("bias", True))
            if self.kind == "maxpool":
                return nn.MaxPool2d(p["kernel_size"], p["stride"], p["padding"])
            if self.kind == "avgpool":
                return nn.AvgPool2d(p["kernel_size"], p["stride"], p["padding"])
            if self.kind == "linear":
                return nn.Linear(p["in_features"], p["out_features"], bias=p.get("bias", True))
            if self.kind == "flatten":
                return nn.Flatten()
            if self.kind == "batchnorm2d":
                return nn.BatchNorm2d(p["num_features"])
            if self.kind == "batchnorm1d":
                return nn.BatchNorm1d(p["num_features"])
            if self.kind == "dropout":
                return nn.Dropout(p["p"])
            if self.kind == "leakyrelu":
                return nn.LeakyReLU(p["negative_slope"])
            if self.kind == "softmax":
                return nn.Softmax(dim=-1)
            return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "elu": nn.ELU}[self.kind]()
