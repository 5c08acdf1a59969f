"""The retraining protocol, as plain data (mirrors ``grader.rubric.Protocol``)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Normalize = list[list[float]] | Literal["auto"] | None


@dataclass
class TrainProtocol:
    """How grader retrains a student's model.

    Mirrors the rubric's ``Protocol`` with a single ``seed`` (the rubric lists
    ``seeds``; the caller runs one training per seed). ``data_seed`` fixes which
    images ``train_subset`` / ``per_class`` / ``test_subset`` pick; it is
    independent of ``seed`` so every seed and every student sees the same data.
    """

    dataset: str = "mnist"
    resize: int | None = None
    normalize: Normalize = "auto"
    train_subset: int | None = None
    per_class: int | None = None
    test_subset: int | None = None
    epochs: int = 1
    batch_size: int = 64
    optimizer: str = "adam"  # "sgd" | "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    loss: str = "auto"  # "cross_entropy" | "nll" | "auto"
    seed: int = 0
    data_seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        if self.loss not in ("cross_entropy", "nll", "auto"):
            raise ValueError(f"loss must be cross_entropy, nll or auto, not {self.loss!r}")
        if isinstance(self.normalize, str) and self.normalize != "auto":
            raise ValueError(f"normalize must be 'auto', [[mean...],[std...]] or None, not {self.normalize!r}")

    @classmethod
    def from_any(cls, obj: Any, seed: int | None = None) -> "TrainProtocol":
        """From a ``TrainProtocol``, a dict, or the rubric's pydantic ``Protocol``.

        Unknown keys are dropped; ``seeds`` supplies
        ``seed`` (its first entry) unless ``seed`` is given.
        """
        if isinstance(obj, cls):
            d = obj.to_dict()
        elif hasattr(obj, "model_dump"):
            d = obj.model_dump()
        else:
            d = dict(obj)
        names = {f.name for f in dataclasses.fields(cls)}
        if "seed" not in d and d.get("seeds"):
            d["seed"] = d["seeds"][0]
        if seed is not None:
            d["seed"] = seed
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def data_dict(self) -> dict[str, Any]:
        """Only what decides the prepared tensors (not the training settings)."""
        keys = ("dataset", "resize", "normalize", "train_subset", "per_class", "test_subset", "data_seed")
        return {k: getattr(self, k) for k in keys}
