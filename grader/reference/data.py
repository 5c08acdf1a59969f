"""Reference values computed from a data set itself (normalisation constants).

They read the staged copy that student notebooks see (``GRADER_DATA``), so the
expected value is the one the student's own code can reproduce on this machine:
the full set where the user provided it, the offline subset otherwise.
"""
from __future__ import annotations

from typing import Any


def _mean_std(dataset: str, resize: int | None, train: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from .. import datasets as ds

    staged = ds.stage(dataset, ds.default_data_root())
    if not staged.available:
        from .errors import ReferenceError_
        raise ReferenceError_(f"data set {dataset!r} is not available: {staged.message}")
    return ds.mean_std(dataset, ds.default_data_root(), train=train, resize=resize)


def _one(values: tuple[float, ...]) -> Any:
    return values[0] if len(values) == 1 else list(values)


def dataset_mean(dataset: str, resize: int | None = None, train: bool = True) -> Any:
    """Mean of the pixel values scaled to [0, 1] (one per channel)."""
    return _one(_mean_std(dataset, resize, train)[0])


def dataset_std(dataset: str, resize: int | None = None, train: bool = True) -> Any:
    """Population standard deviation of the pixel values scaled to [0, 1]."""
    return _one(_mean_std(dataset, resize, train)[1])


def _scaled(values: Any) -> Any:
    return [v * 255 for v in values] if isinstance(values, list) else values * 255


def dataset_mean_mistakes(dataset: str, resize: int | None = None, train: bool = True) -> dict[str, Any]:
    return {"the pixels were not scaled to [0, 1] (raw 0–255 values)": _scaled(dataset_mean(dataset, resize, train))}


def dataset_std_mistakes(dataset: str, resize: int | None = None, train: bool = True) -> dict[str, Any]:
    return {"the pixels were not scaled to [0, 1] (raw 0–255 values)": _scaled(dataset_std(dataset, resize, train)),
            "the variance was given instead of the standard deviation": _one(tuple(
                v * v for v in _mean_std(dataset, resize, train)[1]))}
