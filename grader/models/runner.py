"""Grader side of the probe: write the request, run it sandboxed, read back checked JSON.

The probe package (``probe.py``, ``inspect.py``, ``fromscratch.py``, which
import only the standard library and torch) is copied into
``SCRATCH/.grader-probe/grader_probe/`` so that it runs the same under
bubblewrap, where the grader's own source tree is not visible, and unsandboxed.
The interpreter runs with ``-I`` (no PYTHONPATH, no user site, no script folder
on sys.path): nothing the student left in the scratch folder can shadow torch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from ..sandbox import SandboxSpec, run_command

PACKAGE = "grader_probe"
FILES = ("probe.py", "inspect.py", "fromscratch.py")
MAX_RESULT_BYTES = 1 * 2**20
MAX_ROWS = 400
MAX_TEXT = 2000
PROBE_SECONDS = 120.0
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
        "from grader_probe.probe import main; main(sys.argv[2:])")
_HERE = Path(__file__).resolve().parent


def probe_version() -> str:
    """Hash of the probe's code: part of every cache key, so a fix re-measures."""
    h = hashlib.sha256()
    for name in FILES:
        h.update((_HERE / name).read_bytes())
    return h.hexdigest()[:12]


class ProbeOutputError(ValueError):
    pass


def _stage(scratch: Path) -> Path:
    root = Path(scratch) / ".grader-probe"
    pkg = root / PACKAGE
    if pkg.exists():
        shutil.rmtree(pkg)
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in FILES:
        shutil.copyfile(_HERE / name, pkg / name)
    return root


def _limited(spec: SandboxSpec, seconds: float) -> SandboxSpec:
    lim = spec.limits
    wall = seconds if lim.wall_seconds is None else min(lim.wall_seconds, seconds)
    return dataclasses.replace(spec, limits=dataclasses.replace(
        lim, wall_seconds=wall, output_bytes=max(MAX_RESULT_BYTES + 1, min(lim.output_bytes, 4 * MAX_RESULT_BYTES))))


def _failure(stage: str, error: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "stage": stage, "error": error, "traceback": [], "warnings": [], **extra}


def run_probe(request: dict[str, Any], spec: SandboxSpec, seconds: float = PROBE_SECONDS) -> dict[str, Any]:
    """Run one probe request; always returns a dict (``ok`` False with ``error`` on any failure)."""
    root = _stage(spec.scratch)
    req = root / "request.json"
    req.write_text(json.dumps(request), encoding="utf-8")
    argv = [sys.executable, "-I", "-c", BOOT, str(root.resolve()), str(req.resolve())]
    res = run_command(argv, _limited(spec, seconds))
    err_tail = res.stderr.decode("utf-8", "replace").strip().splitlines()[-8:]
    if res.killed_reason or res.timed_out:
        return _failure("sandbox", f"the probe was stopped: {res.killed_reason or 'time limit exceeded'}",
                        stderr=err_tail)
    if len(res.stdout) > MAX_RESULT_BYTES or res.output_truncated:
        return _failure("sandbox", "the probe's answer is larger than 1 MB", stderr=err_tail)
    if res.returncode != 0 or not res.stdout.strip():
        why = err_tail[-1] if err_tail else f"exit status {res.returncode}"
        return _failure("sandbox", f"the probe exited without an answer (status {res.returncode}): {why}",
                        stderr=err_tail)
    try:
        data = json.loads(res.stdout.decode("utf-8"))
        out = validate(data, request.get("mode", "model"))
    except (ValueError, UnicodeDecodeError) as exc:
        return _failure("sandbox", f"the probe's answer is not valid: {exc}", stderr=err_tail)
    out["sandbox"] = res.mode
    out["duration"] = res.duration
    return out


# ---------------------------------------------------------------- checking the answer's types

def _int(v: Any, what: str, *, none: bool = False) -> int | None:
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProbeOutputError(f"{what} must be an integer, got {type(v).__name__}")
    return v


def _text(v: Any, what: str, *, none: bool = False) -> str | None:
    if v is None and none:
        return None
    if not isinstance(v, str):
        raise ProbeOutputError(f"{what} must be text, got {type(v).__name__}")
    return v[:MAX_TEXT]


def _texts(v: Any, what: str) -> list[str]:
    if not isinstance(v, list):
        raise ProbeOutputError(f"{what} must be a list")
    return [_text(x, what) for x in v[:100]]


def _shape(v: Any, what: str) -> list[int] | None:
    if v is None:
        return None
    if not isinstance(v, list) or len(v) > 16:
        raise ProbeOutputError(f"{what} must be a list of integers")
    return [_int(x, what) for x in v]


def _scalar(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v[:100] if isinstance(v, str) else v
    if isinstance(v, list) and len(v) <= 8 and all(isinstance(x, (bool, int, float)) for x in v):
        return v
    raise ProbeOutputError("a layer setting must be a number, text or a short list of numbers")


def _row(r: Any) -> dict[str, Any]:
    if not isinstance(r, dict):
        raise ProbeOutputError("a layer row must be an object")
    kind = _text(r.get("kind"), "row kind")
    if kind not in ("module", "functional", "unused", "unreached", "container"):
        raise ProbeOutputError(f"unknown row kind {kind!r}")
    cfg = r.get("config") or {}
    if not isinstance(cfg, dict):
        raise ProbeOutputError("row config must be an object")
    out = {"name": _text(r.get("name"), "row name")[:200], "type": _text(r.get("type"), "row type")[:100],
           "kind": kind, "params": _int(r.get("params"), "row params"),
           "trainable": _int(r.get("trainable"), "row trainable"),
           "output_shape": _shape(r.get("output_shape"), "row output_shape"),
           "config": {str(k)[:50]: _scalar(v) for k, v in list(cfg.items())[:40]}}
    for flag in ("custom", "reused"):
        if r.get(flag):
            out[flag] = True
    return out


def validate(data: Any, mode: str) -> dict[str, Any]:
    """The probe's JSON with every field type-checked (ints are ints, shapes lists of ints …)."""
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        raise ProbeOutputError("expected an object with a boolean 'ok'")
    out: dict[str, Any] = {
        "ok": data["ok"], "stage": _text(data.get("stage"), "stage"), "error": _text(data.get("error"), "error", none=True),
        "traceback": _texts(data.get("traceback") or [], "traceback"),
        "warnings": _texts(data.get("warnings") or [], "warnings"),
    }
    if not out["ok"]:
        if not out["error"]:
            raise ProbeOutputError("a failed probe must say why")
        return out
    if mode == "model":
        rows = data.get("rows")
        if not isinstance(rows, list):
            raise ProbeOutputError("rows must be a list")
        counts = data.get("layer_counts")
        if not isinstance(counts, dict):
            raise ProbeOutputError("layer_counts must be an object")
        out.update({
            "built": _text(data.get("built"), "built", none=True),
            "model_type": _text(data.get("model_type"), "model_type"),
            "total_params": _int(data.get("total_params"), "total_params"),
            "trainable_params": _int(data.get("trainable_params"), "trainable_params"),
            "rows": [_row(r) for r in rows[:MAX_ROWS]],
            "rows_truncated": len(rows) > MAX_ROWS,
            "layer_counts": {str(k)[:100]: _int(v, "layer count") for k, v in list(counts.items())[:200]},
            "hidden_units": _int(data.get("hidden_units"), "hidden_units", none=True),
            "hidden_layers": _int(data.get("hidden_layers"), "hidden_layers", none=True),
            "output_shape": _shape(data.get("output_shape"), "output_shape"),
            "input": _shape(data.get("input"), "input"),
            "forward_error": _text(data.get("forward_error"), "forward_error", none=True),
        })
        if out["total_params"] < 0 or not 0 <= out["trainable_params"] <= out["total_params"]:
            raise ProbeOutputError("parameter counts are inconsistent")
    else:
        checks = data.get("checks")
        if not isinstance(checks, list) or not checks:
            raise ProbeOutputError("checks must be a non-empty list")
        parsed = []
        for c in checks[:100]:
            if not isinstance(c, dict) or not isinstance(c.get("ok"), bool):
                raise ProbeOutputError("each check needs a boolean 'ok'")
            err = c.get("max_abs_err")
            if err is not None and (isinstance(err, bool) or not isinstance(err, (int, float))):
                raise ProbeOutputError("max_abs_err must be a number")
            parsed.append({"name": _text(c.get("name"), "check name"), "ok": c["ok"], "max_abs_err": err,
                           "message": _text(c.get("message"), "check message")})
        out["checks"] = parsed
    return out


# ---------------------------------------------------------------- the two requests

def _model_spec(model: Any) -> dict[str, Any]:
    if isinstance(model, dict):
        return {k: model.get(k) for k in ("class", "builder", "variable", "args", "kwargs")}
    return {"class": model.class_name, "builder": model.builder, "variable": model.variable,
            "args": list(model.args), "kwargs": dict(model.kwargs)}


def probe_model(source: str, model: Any, input_shape: list[int], sandbox_spec: SandboxSpec, *,
                batch: int = 2, seed: int = 0, seconds: float = PROBE_SECONDS) -> dict[str, Any]:
    """Build ``model`` (a rubric ``ModelSource`` or its dict) from ``source`` in the sandbox and measure it."""
    request = {"mode": "model", "source": source, "model": _model_spec(model),
               "input_shape": [int(s) for s in input_shape], "batch": batch, "seed": seed}
    return run_probe(request, sandbox_spec, seconds)


def probe_function(source: str, function: str, reference: str, sandbox_spec: SandboxSpec, *,
                   params: dict[str, Any] | None = None, tolerance: dict[str, float] | None = None,
                   seconds: float = PROBE_SECONDS) -> dict[str, Any]:
    """Call the student's ``function`` against ``grader.models.fromscratch`` reference ``reference``."""
    request = {"mode": "function", "source": source, "function": function, "reference": reference,
               "params": params or {}, "tolerance": tolerance}
    return run_probe(request, sandbox_spec, seconds)
