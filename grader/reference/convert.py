"""Plain Python data <-> torch tensors.

Rubric arguments arrive as nested lists of numbers; results must leave as plain
floats, ints and lists so that no tensor leaks into the YAML / JSON side.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from .errors import ReferenceError_

DTYPE = torch.float64


def tensor(value: Any, name: str, *, dims: tuple[int, ...] | None = None) -> torch.Tensor:
    """A float64 tensor from nested lists (or a number / tensor / array)."""
    if isinstance(value, str):
        raise ReferenceError_(f"{name}: expected numbers, got the string {value!r}")
    try:
        t = torch.as_tensor(value, dtype=DTYPE).detach().clone()
    except (TypeError, ValueError, RuntimeError) as e:
        raise ReferenceError_(f"{name}: expected a number or nested lists of numbers of a rectangular shape ({e})") from None
    if dims is not None and t.dim() not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ReferenceError_(f"{name}: expected a {want} array, got shape {list(t.shape)}")
    if t.numel() and not torch.isfinite(t).all():
        raise ReferenceError_(f"{name}: contains inf or nan")
    return t


def integer(value: Any, name: str, *, minimum: int | None = None) -> int:
    """An int from an int (or an integral float); bools are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReferenceError_(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ReferenceError_(f"{name}: expected an integer, got {value!r}")
        value = int(value)
    if minimum is not None and value < minimum:
        raise ReferenceError_(f"{name}: must be at least {minimum}, got {value}")
    return value


def pair(value: Any, name: str, *, minimum: int = 0) -> tuple[int, int]:
    """An int or a [h, w] pair, as a (h, w) tuple."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ReferenceError_(f"{name}: expected an integer or a pair [h, w], got {value!r}")
        return integer(value[0], name, minimum=minimum), integer(value[1], name, minimum=minimum)
    v = integer(value, name, minimum=minimum)
    return v, v


def _clean(x: float) -> float:
    """Round float noise away (12 significant digits) and turn -0.0 into 0.0."""
    if not math.isfinite(x):
        return x
    return float(f"{x:.12g}") + 0.0


def plain(value: Any) -> Any:
    """Tensors, tuples and numpy scalars -> floats / ints / nested lists."""
    if isinstance(value, torch.Tensor):
        if value.dtype.is_floating_point:
            return plain(value.detach().cpu().tolist())
        return value.detach().cpu().tolist()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _clean(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return plain(value.item())
    return value
