"""Process entry point: ``python -m grader.training.worker REQUEST.json``.

Runs inside the sandbox. The request (JSON) names:

``data``          prepared-data ``.pt`` written by ``PreparedData.save_for_worker``
                  (loaded with ``weights_only=True``; refused if it holds test labels)
``model_source``  a Python file defining the student's model class / builder
``model_name``    the class or function to call; ``model_args`` / ``model_kwargs``
``protocol``      the ``TrainProtocol`` as a dict; ``seed``
``output``        where to write the JSON result
``device``, ``threads``, ``time_limit``   optional

The result is plain JSON: ``{"ok": true, "predictions": [...], "loss_curve":
[...], "epoch_losses": [...], "seconds": ..., ...}`` or ``{"ok": false,
"error": ..., "traceback": ...}`` (exit status 1). Nothing else comes back.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
import types
from pathlib import Path
from typing import Any, Callable

# cuBLAS reads this at its first use; set it before anything touches CUDA.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

REQUEST_KEYS = ("data", "model_source", "model_name", "protocol", "output")


def make_request(
    data: str | Path,
    model_source: str | Path,
    model_name: str,
    protocol: Any,
    output: str | Path,
    seed: int | None = None,
    model_args: list | None = None,
    model_kwargs: dict | None = None,
    device: str | None = None,
    threads: int | None = None,
    time_limit: float | None = None,
) -> dict[str, Any]:
    from .protocol import TrainProtocol

    p = TrainProtocol.from_any(protocol, seed=seed)
    return {
        "data": str(data),
        "model_source": str(model_source),
        "model_name": model_name,
        "model_args": list(model_args or []),
        "model_kwargs": dict(model_kwargs or {}),
        "protocol": p.to_dict(),
        "seed": p.seed,
        "output": str(output),
        "device": device,
        "threads": threads,
        "time_limit": time_limit,
    }


def load_model_factory(source_path: str | Path, name: str, args: list | None = None, kwargs: dict | None = None) -> Callable:
    """Execute the model source as module ``student_model``; return a zero-argument factory."""
    path = Path(source_path)
    module = types.ModuleType("student_model")
    module.__file__ = str(path)
    sys.modules["student_model"] = module  # lets pickling / dataclasses inside the source resolve
    code = compile(path.read_text(), str(path), "exec")
    exec(code, module.__dict__)
    if not hasattr(module, name):
        raise AttributeError(f"{path} defines no {name!r}")
    builder = getattr(module, name)
    args, kwargs = list(args or []), dict(kwargs or {})
    return lambda: builder(*args, **kwargs)


def _write_json(path: Path, obj: dict) -> None:
    from ..fsutil import write_atomic
    write_atomic(path, json.dumps(obj, allow_nan=True))


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    from .harness import PreparedData, train_and_predict
    from .protocol import TrainProtocol

    missing = [k for k in REQUEST_KEYS if k not in request]
    if missing:
        raise KeyError(f"request lacks {missing}")
    data = PreparedData.load_for_worker(request["data"])
    factory = load_model_factory(
        request["model_source"], request["model_name"], request.get("model_args"), request.get("model_kwargs")
    )
    protocol = TrainProtocol.from_any(request["protocol"], seed=request.get("seed"))
    outcome = train_and_predict(
        factory, data, protocol,
        device=request.get("device"), threads=request.get("threads"), time_limit=request.get("time_limit"),
    )
    return {"ok": True, **outcome.to_dict()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m grader.training.worker REQUEST.json", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[0]).read_text())
    output = Path(request.get("output") or Path(argv[0]).with_suffix(".result.json"))
    try:
        result = run_request(request)
    except BaseException as exc:  # report everything, including SystemExit from student code
        _write_json(output, {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        print(traceback.format_exc(), file=sys.stderr)
        return 1
    _write_json(output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
