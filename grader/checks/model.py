"""``model`` and ``function`` items: what the student built, counted by grader.

Nothing is read from the student's kernel: the notebook's definitions are
extracted (``grader.models.extract``), the model is built and measured by the
probe in a fresh sandboxed process (``grader.models.runner``), and the numbers
are checked here.

Scoring a ``model`` item: each constraint the rubric sets is one check —
``max_params`` (inclusive: ≤), ``min_params`` (≥), ``exact_params``,
``max_hidden_units`` (≤), ``min_hidden_layers`` (≥), ``allowed_layers`` (one
check), each ``required_layers`` entry (one check each), ``architecture`` (one
check; every difference listed in the details), ``output_shape``,
``claimed_params`` (the student's stated count equals the real one). A forward
pass that raises adds one failed check. Score = points × met / checked;
a model that cannot be built scores 0 with status "error". The per-layer
summary goes to ``table``, the totals to ``details``.

``claimed_params`` is read with ``ctx.answers.lookup(source, item_id)``, which
returns ``grader.answers.Answer(value, source)`` or ``Missing(reason, source)``;
a plain ``(value, source_text)`` tuple, ``None`` or a raised ``LookupError`` are
understood too.

``function`` items (``function_measure_key`` / ``function_measure`` /
``function_score``) call the student's from-scratch function against a
reference of ``grader.models.fromscratch``; see its docstring for the calling
conventions.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .. import answers as ans
from ..models import inspect as insp
from ..models.extract import definitions_source, prune
from ..models.runner import probe_function, probe_model, probe_version
from ..results import ItemResult
from ..rubric import FunctionCheck, Item, ModelCheck
from .. import sandbox as sb
from ..sandbox import SandboxSpec
from .base import Context, result, stable_hash

_SOURCES: dict[tuple, tuple[str, list[str]]] = {}


def definitions(ctx: Context, check: Any) -> tuple[str, list[str]] | None:
    """The student's definitions this check needs (the model or function and what it uses)."""
    got = _definitions(ctx, _keep(check))
    if got is None:
        return None
    model = getattr(check, "model", None)
    root = getattr(check, "function", None) or (model and (model.class_name or model.builder or model.variable))
    return (prune(got[0], [root]) if root else got[0]), got[1]


def _definitions(ctx: Context, keep: tuple[str, ...] = ()) -> tuple[str, list[str]] | None:
    nb = ctx.notebook
    if nb is None or not Path(nb).exists():
        return None
    st = Path(nb).stat()
    skip = tuple(ctx.rubric.execution.skip_tags)
    key = (str(nb), st.st_mtime_ns, st.st_size, skip, keep)
    if key not in _SOURCES:
        if len(_SOURCES) > 64:
            _SOURCES.clear()
        _SOURCES[key] = definitions_source(Path(nb), skip_tags=skip, keep=keep)
    return _SOURCES[key]


def _keep(check: Any) -> tuple[str, ...]:
    model = getattr(check, "model", None)
    return (model.variable,) if model is not None and model.variable else ()


class _Scratch:
    """A scratch folder for one probe (world-traversable: bwrap's root flavour enters it)."""

    def __enter__(self) -> Path:
        self.base = sb.private_tempdir("gr-", dir="/tmp")
        scratch = self.base / "s"
        scratch.mkdir()
        return scratch

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def _spec(ctx: Context, scratch: Path) -> SandboxSpec:
    return ctx.sandbox(scratch) if ctx.sandbox is not None else SandboxSpec(scratch)


def _transient(out: dict) -> bool:
    return not out.get("ok") and out.get("stage") == "sandbox" and "stopped" not in (out.get("error") or "")


# ---------------------------------------------------------------- model: measure

def measure_key(item: Item, ctx: Context) -> str:
    check: ModelCheck = item.check  # type: ignore[assignment]
    got = definitions(ctx, check)
    return stable_hash("model", probe_version(), got[0] if got else None,
                       check.model.model_dump(mode="json", by_alias=True), list(check.input_shape))


def measure(item: Item, ctx: Context) -> dict:
    check: ModelCheck = item.check  # type: ignore[assignment]
    got = definitions(ctx, check)
    if got is None:
        return {"missing": "no notebook to take the model from"}
    source, warnings = got
    with _Scratch() as scratch:
        out = probe_model(source, check.model, check.input_shape, _spec(ctx, scratch))
    out["extract_warnings"] = warnings
    if _transient(out):
        out["transient"] = True
    return out


# ---------------------------------------------------------------- model: score

def _n(x: int) -> str:
    return f"{x:,}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _claim(item: Item, ctx: Context, source: Any) -> tuple[Any, str] | str:
    """(value, where) or a reason why there is none."""
    try:
        got = ctx.answers.lookup(source, item.id)
    except LookupError as exc:
        return str(exc) or "no claimed parameter count"
    if got is None:
        return "no claimed parameter count"
    if isinstance(got, ans.Missing) or (hasattr(got, "reason") and not hasattr(got, "value")):
        return got.reason
    if isinstance(got, tuple):
        return got[0], str(got[1])
    return got.value, got.source


def _table(rows: list[dict]) -> list[dict]:
    table = []
    for n, r in enumerate(rows, start=1):
        table.append({"#": n, "layer": r["name"], "type": r["type"] + (" (functional)" if r["kind"] == "functional" else ""),
                      "output shape": "—" if r.get("output_shape") is None else str(list(r["output_shape"])),
                      "params": r["params"],
                      "note": {"unused": "never called in forward", "unreached": "not reached (forward failed)",
                               "container": "own parameters of a container"}.get(r["kind"], "reused" if r.get("reused") else "")})
    return table


def _details(m: dict) -> list[str]:
    lines = [f"model: {m.get('built') or m.get('model_type')}",
             f"total parameters: {_n(m['total_params'])} (trainable {_n(m['trainable_params'])})"]
    if m.get("hidden_units") is not None:
        lines.append(f"hidden units (out_features of all Linear layers but the last): {_n(m['hidden_units'])}")
    if m.get("hidden_layers") is not None:
        lines.append(f"hidden layers (weight layers but the output layer): {m['hidden_layers']}")
    if m.get("input"):
        shape = m.get("output_shape")
        lines.append(f"input {m['input']} -> output " + ("(forward pass failed)" if shape is None else str([m['input'][0]] + shape)))
    if m.get("layer_counts"):
        lines.append("layers: " + ", ".join(f"{t}×{c}" for t, c in m["layer_counts"].items()))
    return lines


def _unusable(item: Item, m: dict | None, what: str) -> ItemResult | None:
    """The result for a measurement that is absent, says the answer is missing, or crashed."""
    if m is None:
        return result(item, status="error", message=f"grader did not {what}")
    if m.get("missing"):
        return result(item, status="missing", message=m["missing"])
    if "ok" not in m:  # the measurement itself crashed (grade.measure's {"error": ...})
        return result(item, status="error", message=f"grader could not {what}: {m.get('error')}")
    return None


def score(item: Item, measurement: dict | None, ctx: Context) -> ItemResult:
    check: ModelCheck = item.check  # type: ignore[assignment]
    m = measurement
    problem = _unusable(item, m, "measure the model")
    if problem is not None:
        return problem
    warnings = list(m.get("extract_warnings") or []) + list(m.get("warnings") or [])
    if not m["ok"]:
        details = list(m.get("traceback") or []) + [f"note: {w}" for w in warnings] + list(m.get("stderr") or [])
        return result(item, status="error", score=0.0, message=f"the model cannot be built: {m['error']}",
                      details=details)
    checks: list[tuple[bool, str]] = []
    total = m["total_params"]
    if check.max_params is not None:
        ok = total <= check.max_params
        checks.append((ok, f"{_n(total)} parameters, limit is ≤ {_n(check.max_params)}: "
                           + ("ok" if ok else f"{_n(total - check.max_params)} too many")))
    if check.min_params is not None:
        ok = total >= check.min_params
        checks.append((ok, f"{_n(total)} parameters, required ≥ {_n(check.min_params)}: "
                           + ("ok" if ok else f"{_n(check.min_params - total)} too few")))
    if check.exact_params is not None:
        ok = total == check.exact_params
        checks.append((ok, f"{_n(total)} parameters, expected exactly {_n(check.exact_params)}: "
                           + ("ok" if ok else f"off by {total - check.exact_params:+,}")))
    if check.max_hidden_units is not None:
        h = m.get("hidden_units") or 0
        ok = h <= check.max_hidden_units
        checks.append((ok, f"{_n(h)} hidden units, limit is ≤ {_n(check.max_hidden_units)}: "
                           + ("ok" if ok else "too many")))
    if check.min_hidden_layers is not None:
        h = m.get("hidden_layers") or 0
        ok = h >= check.min_hidden_layers
        checks.append((ok, f"{_plural(h, 'hidden layer')}, required ≥ {check.min_hidden_layers}: "
                           + ("ok" if ok else "too few")))
    rows = m.get("rows") or []
    counts = m.get("layer_counts") or {}
    if check.allowed_layers is not None:
        # x.view / x.reshape are not layers a student chose: only an nn.Flatten module can be disallowed
        bad = sorted({r["type"] for r in insp.layers(rows)
                      if not (r["kind"] == "functional" and r["type"] == "Flatten")
                      and not any(insp.type_matches(a, r["type"]) for a in check.allowed_layers)})
        checks.append((not bad, "all layer types allowed: ok" if not bad else
                       f"layer type{'s' if len(bad) > 1 else ''} {', '.join(bad)} not allowed "
                       f"(allowed: {', '.join(check.allowed_layers)})"))
    for t, need in check.required_layers.items():
        have = insp.count_matching(counts, t)
        ok = have >= need
        text = (f"no {t} layer" if have == 0 else f"{_plural(have, t + ' layer')}")
        checks.append((ok, f"{text}: required at least {need}" + (": ok" if ok else "")))
    diff: list[str] = []
    if check.architecture is not None:
        diff = insp.architecture_diff(rows, check.architecture)
        checks.append((not diff, "architecture as specified: ok" if not diff else
                       f"architecture differs ({_plural(len(diff), 'difference')}): {diff[0]}"))
    if check.output_shape is not None:
        got = m.get("output_shape")
        want = list(check.output_shape)
        ok = got is not None and list(got) == want
        checks.append((ok, f"output shape {got} per example: ok" if ok else
                       ("output shape not measured: the forward pass failed" if got is None else
                        f"output shape {got} per example, expected {want}")))
    if check.claimed_params is not None:
        got = _claim(item, ctx, check.claimed_params)
        if isinstance(got, str):
            checks.append((False, f"claimed parameter count: {got}"))
        else:
            value, where = got
            try:
                claimed = ans.parse_integer(value)
            except ans.AnswerError as exc:
                checks.append((False, f"claimed parameter count ({where}) cannot be read: {exc}"))
            else:
                ok = claimed == total
                checks.append((ok, f"claimed {_n(claimed)} parameters ({where}), actual {_n(total)}: "
                                   + ("ok" if ok else "mismatch")))
    if m.get("forward_error"):
        checks.append((False, m["forward_error"]))
    met = sum(ok for ok, _ in checks)
    n = len(checks)
    frac = met / n if n else 1.0
    status = "passed" if met == n else ("failed" if met == 0 else "partial")
    message = "; ".join(text for _, text in checks) if checks else f"the model builds ({_n(total)} parameters)"
    details = _details(m) + [f"architecture: {d}" for d in diff]
    unused = [r["name"] for r in rows if r["kind"] == "unused"]
    if unused:
        details.append("defined but never called in forward: " + ", ".join(unused))
    details += list(m.get("traceback") or []) + [f"note: {w}" for w in warnings]
    return result(item, status=status, score=round(item.points * frac, 4), message=message, details=details,
                  table=_table(rows), given={"total_params": total, "trainable_params": m["trainable_params"],
                                             "hidden_units": m.get("hidden_units"),
                                             "hidden_layers": m.get("hidden_layers"),
                                             "output_shape": m.get("output_shape")},
                  expected={k: v for k, v in check.model_dump(mode="json", exclude={"type", "model", "architecture"},
                                                              exclude_none=True).items() if v not in ({}, [])} or None)


# ---------------------------------------------------------------- function items

def function_measure_key(item: Item, ctx: Context) -> str:
    check: FunctionCheck = item.check  # type: ignore[assignment]
    got = definitions(ctx, check)
    return stable_hash("function", probe_version(), got[0] if got else None, check.function, check.reference,
                       check.params, check.tolerance.model_dump() if check.tolerance else None)


def function_measure(item: Item, ctx: Context) -> dict:
    check: FunctionCheck = item.check  # type: ignore[assignment]
    got = definitions(ctx, check)
    if got is None:
        return {"missing": "no notebook to take the function from"}
    source, warnings = got
    params = {k: v for k, v in check.params.items() if k != "partial"}
    tol = check.tolerance.model_dump() if check.tolerance else None
    with _Scratch() as scratch:
        out = probe_function(source, check.function, check.reference, _spec(ctx, scratch), params=params, tolerance=tol)
    out["extract_warnings"] = warnings
    if _transient(out):
        out["transient"] = True
    return out


def function_score(item: Item, measurement: dict | None, ctx: Context) -> ItemResult:
    check: FunctionCheck = item.check  # type: ignore[assignment]
    m = measurement
    problem = _unusable(item, m, "run the function")
    if problem is not None:
        return problem
    warnings = list(m.get("extract_warnings") or []) + list(m.get("warnings") or [])
    if not m["ok"]:
        status = "missing" if "is not defined" in (m.get("error") or "") else "error"
        return result(item, status=status, message=m["error"],
                      details=list(m.get("traceback") or []) + [f"note: {w}" for w in warnings])
    checks = m["checks"]
    met = sum(c["ok"] for c in checks)
    n = len(checks)
    if check.params.get("partial"):
        frac = met / n
    else:
        frac = 1.0 if met == n else 0.0
    status = "passed" if met == n else ("partial" if frac > 0 else "failed")
    bad = [c["message"] for c in checks if not c["ok"]]
    message = (f"{check.function} matches {check.reference} ({_plural(n, 'check')})" if not bad else
               f"{check.function} differs from {check.reference}: {bad[0]}")
    return result(item, status=status, score=round(item.points * frac, 4), message=message,
                  details=[c["message"] for c in checks] + [f"note: {w}" for w in warnings],
                  table=[{"check": c["name"], "ok": c["ok"], "max abs error": c["max_abs_err"]} for c in checks])
