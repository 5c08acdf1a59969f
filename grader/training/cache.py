"""Result cache: identical (model source, protocol, data, seed) are trained once per batch."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ..fsutil import write_atomic
from .harness import HARNESS_VERSION


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        d = dataclasses.asdict(obj)
        d.pop("root", None)  # StagedDataset: where it lives does not change results
        return d
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def cache_key(model_source: str, protocol: Any, manifest: Any, seed: int, extra: Any = None) -> str:
    """sha256 over the model source, protocol, data-set manifest, seed, harness and torch versions.

    ``extra`` is for anything else that changes the result (builder name and
    arguments, device kind). Whitespace in the source counts: the key is meant
    for byte-identical template code, not for "equivalent" models.
    """
    payload = {
        "model_source": model_source,
        "protocol": _plain(protocol),
        "manifest": _plain(manifest),
        "seed": int(seed),
        "extra": _plain(extra),
        "harness": HARNESS_VERSION,
        "torch": torch.__version__,
    }
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class ResultCache:
    """One JSON file per key under ``folder``; writes are atomic (tmp + ``os.replace``)."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        if not key or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self.path(key).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, key: str, value: dict) -> Path:
        return write_atomic(self.path(key), json.dumps(value))

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()
