"""Accuracy targets, verified by retraining the student's model under the rubric's
seeded protocol, in a sandboxed process that never sees the test labels.

measure: extract the student's definitions (no training cells run), prepare the
data once, train once per seed in the sandbox (cached by model source, protocol,
data and seed, so a class full of template models trains once), score the
returned predictions here.
score: compare the mean accuracy with the threshold — the real one on the full
data set, the rubric's ``offline`` one (tagged *unverified*) on a subset — and
flag a claimed accuracy the retraining cannot reproduce.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from .. import answers as ans
from .. import datasets as ds
from .. import sandbox as sb
from ..results import ItemResult
from ..rubric import Item, RetrainCheck
from .base import Context, result, stable_hash

MAX_RESULT_BYTES = 8 * 2**20
CURVE_POINTS = 400


def _data_root() -> Path:
    return ds.default_data_root()


def student_source(item: Item, ctx: Context) -> tuple[str, list[str]]:
    """The student's definitions (imports, classes, functions, constants) and warnings."""
    from .model import definitions
    got = definitions(ctx, item.check)
    if got is None:
        raise FileNotFoundError("there is no notebook to take the model from")
    return got


def effective_protocol(check: RetrainCheck, staged: ds.StagedDataset) -> tuple[dict[str, Any], float, bool]:
    """(protocol, threshold, verified): the offline block applies on a subset."""
    proto = check.protocol.model_dump()
    if staged.full or check.offline is None:
        return proto, check.threshold, staged.full
    proto.update(check.offline.protocol)
    if check.offline.dataset:
        proto["dataset"] = check.offline.dataset
    return proto, check.offline.threshold, False


def _builder(item: Item, source: str) -> tuple[str, str]:
    """(source, name of a zero-argument-callable to build the model)."""
    model = item.check.model
    if model.class_name:
        return source, model.class_name
    if model.builder:
        return source, model.builder
    # an nn.Sequential assigned to a variable: rebuild it with fresh weights
    return source + (
        f"\n\ndef __grader_build():\n"
        f"    import copy\n"
        f"    m = copy.deepcopy({model.variable})\n"
        f"    for sub in m.modules():\n"
        f"        if hasattr(sub, 'reset_parameters'):\n"
        f"            sub.reset_parameters()\n"
        f"    return m\n"), "__grader_build"


def measure_key(item: Item, ctx: Context) -> str:
    check = item.check
    assert isinstance(check, RetrainCheck)
    staged = ds.stage(check.protocol.dataset, _data_root())
    source, _ = student_source(item, ctx)
    return stable_hash(source, check.model.model_dump(), check.protocol.model_dump(),
                       check.offline.model_dump() if check.offline else None, staged.manifest())


def measure(item: Item, ctx: Context) -> dict[str, Any]:
    from ..training import ResultCache, cache_key, prepare, score_predictions
    from ..training.worker import make_request

    check = item.check
    assert isinstance(check, RetrainCheck)
    staged = ds.stage(check.protocol.dataset, _data_root())
    if not staged.available:
        return {"error": staged.message, "transient": True}
    proto, _, verified = effective_protocol(check, staged)
    source, warnings = student_source(item, ctx)
    source, name = _builder(item, source)
    data = prepare(proto, _data_root())
    labels = data.test_y
    runs = []
    store = ResultCache(ctx.cache / "retrain")
    for seed in check.protocol.seeds:
        key = cache_key(source, {**proto, "seed": seed}, staged.manifest(), seed,
                        extra=[name, check.model.args, check.model.kwargs])
        out = store.get(key)
        if out is None:
            out = _train_in_sandbox(ctx, data, source, name, check, proto, seed, make_request)
            if not out.get("ok"):
                return {"error": out.get("error", "training failed"), "details": out.get("details", []),
                        "source_warnings": warnings}
            preds = out.get("predictions")
            if not isinstance(preds, list) or len(preds) != len(labels) or not all(type(p) is int for p in preds):
                return {"error": "the training process returned malformed predictions"}
            out = {"ok": True, "accuracy": score_predictions(preds, labels), "seconds": out.get("seconds"),
                   "device": out.get("device"), "epochs": out.get("epochs_done"),
                   "loss_curve": _thin([float(v) for v in out.get("loss_curve", []) if isinstance(v, (int, float))])}
            store.put(key, out)
        runs.append({"seed": seed, **out})
    return {"dataset": proto["dataset"], "full": staged.full, "verified": verified, "source": staged.source,
            "n_train": len(data.train_y), "n_test": len(labels), "protocol": proto,
            "runs": runs, "source_warnings": warnings}


def _thin(curve: list[float]) -> list[float]:
    if len(curve) <= CURVE_POINTS:
        return curve
    step = len(curve) / CURVE_POINTS
    return [curve[int(i * step)] for i in range(CURVE_POINTS)]


def _train_in_sandbox(ctx: Context, data, source: str, name: str, check: RetrainCheck, proto: dict, seed: int,
                      make_request) -> dict[str, Any]:
    base = sb.private_tempdir("gr-", dir="/tmp")  # removed by the next run if grader is killed
    scratch = base / "s"
    scratch.mkdir()
    try:
        data.save_for_worker(scratch / "data.pt")
        (scratch / "model.py").write_text(source)
        req = make_request(scratch / "data.pt", scratch / "model.py", name, {**proto, "seed": seed},
                           scratch / "result.json", seed=seed, model_args=check.model.args,
                           model_kwargs=check.model.kwargs)
        (scratch / "request.json").write_text(json.dumps(req))
        spec = _spec(ctx, scratch)
        run = sb.run_command([sys.executable, "-m", "grader.training.worker", str(scratch / "request.json")], spec)
        out_path = scratch / "result.json"
        if run.killed_reason:
            return {"ok": False, "error": f"retraining stopped: {run.killed_reason}"}
        if not out_path.exists() or out_path.stat().st_size > MAX_RESULT_BYTES:
            tail = run.stderr.decode(errors="replace").strip().splitlines()[-3:]
            return {"ok": False, "error": "the training process gave no result", "details": tail}
        try:
            out = json.loads(out_path.read_text())
        except ValueError:
            return {"ok": False, "error": "the training process wrote an unreadable result"}
        if not isinstance(out, dict):
            return {"ok": False, "error": "the training process wrote an unreadable result"}
        if not out.get("ok"):
            return {"ok": False, "error": f"your model could not be trained: {str(out.get('error'))[:300]}",
                    "details": str(out.get("traceback", "")).strip().splitlines()[-4:]}
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _spec(ctx: Context, scratch: Path) -> sb.SandboxSpec:
    import grader
    pkg = Path(grader.__file__).resolve().parent
    spec = ctx.sandbox(scratch) if ctx.sandbox else sb.SandboxSpec(scratch=scratch)
    # the worker imports grader.training; the package holds no rubric or solutions
    return sb.SandboxSpec(scratch=spec.scratch, readonly=tuple(spec.readonly) + (pkg,), limits=spec.limits,
                          require_isolation=spec.require_isolation)


# ---------------------------------------------------------------- scoring

def claimed_accuracy(check: RetrainCheck, ctx: Context) -> tuple[float | None, str]:
    """The accuracy the notebook claims: a variable, or a pattern in what it printed."""
    claim = check.claim
    if claim is None:
        return None, ""
    if claim.variable:
        got = ctx.answers.lookup(ans_source(claim.variable))
        if isinstance(got, ans.Answer):
            try:
                return ans.parse_number(got.value, percent=True), f"variable {claim.variable}"
            except ans.AnswerError:
                pass
    if claim.pattern:
        texts = [("the notebook's output", ctx.execution.get("stdout", ""))]
        texts += [("the notebook as handed in (cell not re-run)", c.get("submitted_text", ""))
                  for c in ctx.execution.get("cells", []) if c.get("skipped")]
        for where, text in texts:
            found = re.findall(claim.pattern, text or "")
            if found:
                value = found[-1] if isinstance(found[-1], str) else found[-1][0]
                try:
                    return ans.parse_number(value + ("%" if claim.percent else ""), percent=True), where
                except ans.AnswerError:
                    continue
    return None, ""


def ans_source(variable: str):
    from ..rubric import AnswerSource
    return AnswerSource(variable=variable)


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def score(item: Item, m: dict | None, ctx: Context) -> ItemResult:
    check = item.check
    assert isinstance(check, RetrainCheck)
    if not m or "error" in m:
        err = (m or {}).get("error", "retraining did not run")
        details = list((m or {}).get("details", [])) + list((m or {}).get("source_warnings", []))
        pending = bool((m or {}).get("transient"))
        return result(item, status="pending" if pending else "error", grading="pending" if pending else "auto",
                      message=err, details=details)
    accs = [r["accuracy"] for r in m["runs"]]
    mean = sum(accs) / len(accs)
    verified = m["verified"]
    # thresholds come from the rubric now, not from the cached measurement: editing them only rescores
    threshold = check.threshold if verified or check.offline is None else check.offline.threshold
    ok = mean >= threshold - check.margin
    n = m["n_test"]
    noise = math.sqrt(max(mean * (1 - mean), 1e-6) / max(n, 1))
    where = (f"{m['dataset']} ({m['n_train']:,} train / {n:,} test images, full data set)" if verified else
             f"{m['dataset']} offline subset ({m['n_train']:,} train / {n:,} test images; {m['source']})")
    details = [f"retrained on {where}: {m['protocol']['epochs']} epoch(s), batch {m['protocol']['batch_size']}, "
               f"{m['protocol']['optimizer']} lr {m['protocol']['lr']}, seeds {[r['seed'] for r in m['runs']]}"]
    if verified:
        details.append(f"threshold {_pct(check.threshold)} (margin {_pct(check.margin)} for seed and test-set noise)")
    else:
        details.append(f"the real target is {_pct(check.threshold)}, which cannot be verified without the full data set; "
                       f"on the subset the rubric's offline threshold {_pct(threshold)} applies (±{_pct(2 * noise)} test-set noise)")
    claim, claim_where = claimed_accuracy(check, ctx)
    flag = ""
    if claim is not None:
        if claim < check.threshold - 1e-9:
            flag = f"your notebook reports {_pct(claim)} ({claim_where}), below the {_pct(check.threshold)} target"
            ok = False
        elif verified and abs(claim - mean) > check.margin + 2 * noise:
            flag = (f"claimed {_pct(claim)} ({claim_where}) but grader reproduced {_pct(mean)}: "
                    "the claim cannot be reproduced")
        else:
            details.append(f"claimed {_pct(claim)} ({claim_where})")
    if flag:
        details.insert(0, flag)
    figures = _plot(item, m, ctx)
    table = [{"seed": r["seed"], "accuracy": _pct(r["accuracy"]), "epochs": r.get("epochs"),
              "seconds": round(r.get("seconds") or 0, 1), "device": r.get("device")} for r in m["runs"]]
    verdict = f"reproduced {_pct(mean)} (mean of {len(accs)} seed(s)) vs threshold {_pct(threshold)}"
    base = dict(expected=f">= {_pct(threshold)}", given=_pct(mean), details=details + m.get("source_warnings", []),
                table=table, figures=figures, source="grader's retraining")
    status = "passed" if ok else "failed"
    message = verdict + (f"; {flag}" if flag else "")
    if verified:
        return result(item, status=status, score=item.points if ok else 0.0, message=message, **base)
    return result(item, status=status, grading="unverified", score=0.0,
                  unverified_score=item.points if ok else 0.0,
                  message=message + " — unverified: offline subset only", **base)


def _plot(item: Item, m: dict, ctx: Context) -> list[str]:
    curves = {r["seed"]: r.get("loss_curve") or [] for r in m["runs"]}
    if not any(curves.values()):
        return []
    from ..training import loss_curve_png
    name = re.sub(r"[^A-Za-z0-9._-]", "_", item.id) + "-loss.png"
    try:
        ctx.artefacts.mkdir(parents=True, exist_ok=True)
        loss_curve_png(curves, ctx.artefacts / name, title=f"{item.id}: grader's retraining")
    except Exception:  # a plot is a nicety; never lose the verdict over it
        return []
    return [name]
