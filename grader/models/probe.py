"""The probe: builds the student's model (or calls their function) in a fresh process.

Run as ``python -m grader.models.probe REQUEST.json`` — in practice by
``grader.models.runner`` under ``grader.sandbox.run_command``, from a copy of
this package in the scratch folder (only this file, ``inspect.py`` and
``fromscratch.py``; they import nothing else of grader).

Order matters, because the student's code runs in this process:

1. ``import torch`` first, then ``inspect`` / ``fromscratch``, which capture the
   genuine functions they use (``Tensor.numel``, ``register_forward_hook`` …);
2. snapshot ``builtins`` and the class dicts of ``nn.Module``, ``Tensor``,
   ``Parameter`` and the optimizers; move the real stdout to a private file
   descriptor and point fd 1 at stderr, so nothing the student prints can be
   mistaken for the result;
3. execute the definitions statement by statement in a fresh namespace (a
   failing import or statement is a warning, as a notebook cell error would be)
   and restore the snapshot afterwards — and again after the constructor, the
   forward pass and each call of a student function;
4. build the model (class + args/kwargs, builder function, or variable), count
   its parameters from ``_parameters`` dicts, trace one forward pass on a batch
   of 2 random inputs with hooks, and write one JSON object to the private fd,
   then ``os._exit``.

Request (JSON): ``{"mode": "model", "source": str, "model": {"class"|"builder"|"variable": name,
"args": [...], "kwargs": {...}}, "input_shape": [...], "batch": 2, "seed": 0}`` or
``{"mode": "function", "source": str, "function": name, "reference": name, "params": {...},
"tolerance": {"abs": x, "rel": y}}``.

Result: ``{"ok": bool, "stage": "definitions"|"build"|"forward"|"call"|"done", "error": str|null,
"traceback": [str], "warnings": [str], ...}`` plus, for a model, ``model_type``, ``total_params``,
``trainable_params``, ``rows``, ``layer_counts``, ``hidden_units``, ``hidden_layers``,
``output_shape``, ``forward_error``; for a function, ``checks``.

This defends against a notebook that patches torch or builtins (naively or
on purpose, before grading); code written to attack this very process could
still forge a result — the sandbox bounds what it can do beyond that.
"""
import torch  # noqa: I001 - first, before anything the student can touch

import ast
import builtins
import json
import linecache
import os
import re
import sys
import traceback

if __package__:
    from . import fromscratch as _fs
    from . import inspect as _insp
else:  # pragma: no cover - run as a plain script
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fromscratch as _fs  # type: ignore
    import inspect as _insp  # type: ignore  # noqa: F811

_dumps = json.dumps
_os_write = os.write
_os_exit = os._exit
_format_exception = traceback.format_exception
_type_setattr = type.__setattr__
_type_delattr = type.__delattr__
_compile = compile
_exec = exec
_isinstance = isinstance
_issubclass = issubclass
_callable = callable
_type = type
_str = str
_len = len
_list = list
_Module = torch.nn.Module
_BUILTINS = builtins.__dict__
_GUARDED_CLASSES = (torch.nn.Module, torch.Tensor, torch.nn.Parameter, torch.optim.Optimizer, torch.optim.SGD,
                    torch.optim.RMSprop)
_GUARDED_MODULES = (torch, torch.nn, torch.nn.functional, json, os, sys)

NOTEBOOK = "<notebook>"
_HEADER = re.compile(r"^# --- cell (\d+), line (\d+)$")


class _Guard:
    """Undo what student code did to builtins, torch classes and a few modules."""

    def __init__(self):
        self.builtins = dict(_BUILTINS)
        self.classes = [(c, dict(c.__dict__)) for c in _GUARDED_CLASSES]
        self.modules = [(m.__dict__, dict(m.__dict__)) for m in _GUARDED_MODULES]

    def restore(self) -> None:
        for k, v in self.builtins.items():
            if _BUILTINS.get(k, self) is not v:
                _BUILTINS[k] = v
        for cls, snap in self.classes:
            cur = cls.__dict__
            for k, v in snap.items():
                if k in ("__dict__", "__weakref__", "__doc__"):
                    continue
                if cur.get(k, self) is not v:
                    try:
                        _type_setattr(cls, k, v)
                    except (TypeError, AttributeError):
                        pass
        for d, snap in self.modules:
            for k, v in snap.items():
                if d.get(k, self) is not v:
                    d[k] = v
            if d is sys.__dict__:
                pass
        sys.stdout = sys.stderr


def _locations(source: str):
    """extracted line number -> 'cell C, line L'"""
    marks = []
    for n, line in enumerate(source.split("\n"), start=1):
        m = _HEADER.match(line)
        if m:
            marks.append((n, int(m.group(1)), int(m.group(2))))

    def where(lineno: int) -> str:
        best = None
        for n, cell, line in marks:
            if n < lineno:
                best = (n, cell, line)
        if best is None:
            return f"line {lineno}"
        n, cell, line = best
        return f"cell {cell}, line {line + (lineno - n - 1)}"

    return where


def _tb(exc: BaseException, where) -> list[str]:
    lines = "".join(_format_exception(_type(exc), exc, exc.__traceback__)).rstrip().split("\n")
    first = next((i for i, l in enumerate(lines) if NOTEBOOK in l), None)
    if first is not None:
        lines = lines[first:]
    out = [re.sub(r'File "<notebook>", line (\d+)', lambda m: where(int(m.group(1))), l) for l in lines]
    return out[-12:]


def _describe(exc: BaseException) -> str:
    msg = _str(exc).strip().split("\n")[0][:500]
    return f"{_type(exc).__name__}: {msg}" if msg else _type(exc).__name__


def _exec_definitions(source: str, ns: dict, guard: _Guard, where) -> list[str]:
    warnings: list[str] = []
    try:
        tree = ast.parse(source, NOTEBOOK)
    except SyntaxError as exc:
        raise _ProbeError("definitions", f"the extracted definitions do not parse: {exc.msg} (line {exc.lineno})")
    linecache.cache[NOTEBOOK] = (len(source), None, source.splitlines(True), NOTEBOOK)
    for stmt in tree.body:
        code = _compile(ast.Module(body=[stmt], type_ignores=[]), NOTEBOOK, "exec")
        try:
            _exec(code, ns)
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a notebook cell error, not the end
            warnings.append(f"{where(stmt.lineno)}: {_describe(exc)}")
        finally:
            guard.restore()
    return warnings


class _ProbeError(Exception):
    def __init__(self, stage: str, message: str, tb: list[str] | None = None):
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.tb = tb or []


def _modules_in(ns: dict) -> list[str]:
    out = []
    for k, v in ns.items():
        try:
            if _isinstance(v, _type) and _issubclass(v, _Module) and v.__module__ == "__main__":
                out.append(k)
        except Exception:  # noqa: BLE001
            pass
    return out


def _build(req: dict, ns: dict, guard: _Guard, where):
    spec = req["model"]
    args, kwargs = spec.get("args") or [], spec.get("kwargs") or {}
    if spec.get("variable"):
        name = spec["variable"]
        if name not in ns:
            raise _ProbeError("build", f"variable {name!r} is not defined by the notebook's definitions "
                                       "(an assignment that trains or loads data is not run)")
        obj = ns[name]
        label = f"variable {name}"
    else:
        name = spec.get("class") or spec.get("builder")
        what = "class" if spec.get("class") else "function"
        if name not in ns:
            have = _modules_in(ns)
            hint = f" (model classes it defines: {', '.join(have)})" if have else " (it defines no nn.Module class)"
            raise _ProbeError("build", f"{what} {name!r} is not defined by the notebook{hint}")
        factory = ns[name]
        if not _callable(factory):
            raise _ProbeError("build", f"{name!r} is a {_type(factory).__name__}, not a {what}")
        shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
        label = f"{name}({shown})"
        try:
            obj = factory(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001
            raise _ProbeError("build", f"{label} raised {_describe(exc)}", _tb(exc, where))
        finally:
            guard.restore()
    if not _isinstance(obj, _Module):
        raise _ProbeError("build", f"{label} is a {_type(obj).__name__}, not a torch.nn.Module")
    return obj, label


def _model(req: dict, ns: dict, guard: _Guard, where) -> dict:
    model, label = _build(req, ns, guard, where)
    shape = [int(s) for s in req["input_shape"]]
    batch = int(req.get("batch", 2))
    try:
        summary = _insp.summarize(model, shape, batch=batch, seed=int(req.get("seed", 0)))
    finally:
        guard.restore()
    err = summary.pop("error")
    out = {"ok": True, "stage": "done", "error": None, "traceback": [], "built": label, **summary,
           "input": [batch] + shape, "forward_error": None}
    if err is not None:
        out["stage"] = "forward"
        out["forward_error"] = f"forward pass on a batch of shape {[batch] + shape} raised {_describe(err)}"
        out["traceback"] = _tb(err, where)
    return out


def _function(req: dict, ns: dict, guard: _Guard, where) -> dict:
    name = req["function"]
    if name not in ns:
        raise _ProbeError("build", f"function {name!r} is not defined by the notebook")
    fn = ns[name]
    if not _callable(fn):
        raise _ProbeError("build", f"{name!r} is a {_type(fn).__name__}, not a function")
    try:
        res = _fs.run_reference(req["reference"], fn, req.get("params") or {}, req.get("tolerance") or None,
                                after=guard.restore)
    except _fs.StudentError as exc:
        cause = exc.__cause__ or exc
        raise _ProbeError("call", f"{name}(...) raised {_describe(cause)}", _tb(cause, where))
    except KeyError as exc:
        raise _ProbeError("call", _str(exc.args[0]) if exc.args else "unknown reference")
    finally:
        guard.restore()
    return {"ok": True, "stage": "done", "error": None, "traceback": [], **res}


def run(req: dict) -> dict:
    torch.set_num_threads(1)
    if not torch.cuda.is_available():  # .cuda() in a notebook written on Colab: stay on the CPU
        torch.nn.Module.cuda = lambda self, device=None: self
        torch.Tensor.cuda = lambda self, *a, **k: self
    guard = _Guard()
    source = req.get("source") or ""
    where = _locations(source)
    ns: dict = {"__name__": "__main__", "__builtins__": builtins}
    warnings: list[str] = []
    try:
        warnings = _exec_definitions(source, ns, guard, where)
        out = _model(req, ns, guard, where) if req.get("mode", "model") == "model" else _function(req, ns, guard, where)
    except _ProbeError as exc:
        out = {"ok": False, "stage": exc.stage, "error": exc.message, "traceback": exc.tb}
    out["warnings"] = warnings
    return out


def main(argv: list[str]) -> None:
    with open(argv[0], encoding="utf-8") as f:
        req = json.load(f)
    private = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        out = run(req)
    except BaseException as exc:  # noqa: BLE001
        out = {"ok": False, "stage": "probe", "error": f"probe failed: {_describe(exc)}",
               "traceback": _format_exception(_type(exc), exc, exc.__traceback__)[-6:], "warnings": []}
    try:
        data = _dumps(out, default=_str, allow_nan=False).encode()
    except ValueError:
        data = _dumps(out, default=_str).replace("NaN", "null").replace("Infinity", "null").encode()
    view = memoryview(data)
    while view:
        n = _os_write(private, view)
        view = view[n:]
    try:
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    _os_exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
