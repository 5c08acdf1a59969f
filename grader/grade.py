"""The pipeline: submission -> isolated run -> measurements -> scores.

``grade_submission`` grades one student; ``grade_batch`` a folder of them, in
parallel and resumably. Everything slow is cached under ``<reports>/.grader``:

- ``executions/<student>.json``  the execution record, keyed by the submission's
  content and the execution settings: a re-run, or a changed point value or
  tolerance, re-scores without running the notebook again;
- ``measure/<key>.json``          model probes and retraining, keyed by what they
  depend on (so identical template models are trained once per batch);
- ``results/<student>.json``      the SubmissionResult the reports are made from.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import multiprocessing as mp
import os
import re
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from . import __version__
from . import sandbox as sb
from .answers import SIDECAR, AnswerBook
from .checks import CHECKS
from .checks.base import Context, result, stable_hash
from .execute import execute, read_notebook
from .reports.write import write_atomic
from .results import ExecutionSummary, ItemResult, SubmissionResult
from .review import load_reviews, review_path, write_queue
from .rubric import FreeTextCheck, HiddenCheck, Item, Rubric

STATE = ".grader"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path                 # as handed in: a notebook file, a folder, or something else
    notebook: Path | None      # the notebook to run, if one was found
    problem: str = ""          # why it cannot be run, if so


@dataclass
class Options:
    workers: int = 1
    timeout: float | None = None          # whole-notebook wall time; rubric default otherwise
    memory: int | None = None             # bytes; rubric default otherwise
    require_sandbox: bool = True          # TA batches refuse to run unsandboxed unless told
    public: bool = False                  # student self-check: hidden items stay hidden
    data_root: Path | None = None
    shard: tuple[int, int] | None = None  # (k, n): grade every n-th submission starting at k
    retrain: bool = True


# ---------------------------------------------------------------- discovery

def student_name(raw: str) -> str:
    name = _SAFE.sub("_", raw).strip("._") or "unnamed"
    return name[:100]


def find_notebook(folder: Path, pattern: str) -> tuple[Path | None, str]:
    found = sorted(p for p in folder.rglob(pattern)
                   if p.is_file() and ".ipynb_checkpoints" not in p.parts and not p.name.startswith("."))
    if not found:
        return None, f"no notebook matching {pattern!r} in the submission folder"
    if len(found) > 1:
        top = [p for p in found if p.parent == folder]
        found = top or found
        if len(found) > 1:
            names = ", ".join(p.name for p in found[:5])
            return found[0], f"several notebooks ({names}); grading {found[0].name}"
    return found[0], ""


def find_submissions(folder: Path, rubric: Rubric) -> list[Submission]:
    """Every entry of the folder is one student's submission, valid or not."""
    subs = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            nb, note = find_notebook(entry, rubric.execution.notebook)
            problem = note if nb is None else ""
            subs.append(Submission(student_name(entry.name), entry, nb, problem))
        elif entry.suffix == ".ipynb":
            subs.append(Submission(student_name(entry.stem), entry, entry))
        else:
            subs.append(Submission(student_name(entry.stem), entry, None,
                                   f"{entry.name} is not a notebook (.ipynb) or a submission folder"))
    return subs


def fingerprint(path: Path, *, exclude: Iterable[str] = ()) -> str:
    """Content hash of a submission (a file or a whole folder)."""
    h = hashlib.sha256()
    skip = set(exclude)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        rel = f.name if path.is_file() else f.relative_to(path).as_posix()
        if rel in skip:
            continue
        h.update(rel.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:24]


# ---------------------------------------------------------------- one student

def variables_needed(rubric: Rubric) -> list[str]:
    names = set()
    for it in rubric.items:
        if it.answer and it.answer.variable:
            names.add(it.answer.variable)
        for attr in ("claimed_params", "claim"):
            src = getattr(it.check, attr, None)
            if src is not None and getattr(src, "variable", None):
                names.add(src.variable)
    return sorted(names)


def limits_for(rubric: Rubric, options: Options) -> sb.SandboxLimits:
    lim = rubric.limits
    # the rubric's ``disk`` bounds one file; all files together may be 4 times that
    # (4 GiB for the default 1G). Without it the total stayed at the sandbox's
    # fixed 4 GiB whatever the rubric said, so many files under the per-file
    # limit could fill the disk far past what the rubric allows.
    return sb.SandboxLimits(wall_seconds=options.timeout or lim.notebook_timeout,
                            memory_bytes=options.memory or lim.memory, processes=lim.processes,
                            file_size_bytes=lim.disk, output_bytes=lim.output, disk_bytes=4 * lim.disk)


def _spec_factory(rubric: Rubric, options: Options, limits: sb.SandboxLimits) -> Callable[[Path], sb.SandboxSpec]:
    data_root = options.data_root

    def spec_for(scratch: Path) -> sb.SandboxSpec:
        readonly: tuple[Path, ...] = ()
        if data_root is not None and data_root.exists():
            readonly = (data_root,)
            link = scratch / "data"
            if not link.exists():  # student code says datasets.MNIST('data', download=True)
                link.symlink_to(data_root, target_is_directory=True)
        return sb.SandboxSpec(scratch=scratch, readonly=readonly, limits=limits,
                              require_isolation=options.require_sandbox)
    return spec_for


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_notebook(rubric: Rubric, sub: Submission, state: Path, options: Options) -> dict[str, Any]:
    """The execution record, from the cache when the submission and settings are unchanged."""
    limits = limits_for(rubric, options)
    key = stable_hash(__version__, fingerprint(sub.path, exclude=[SIDECAR]), variables_needed(rubric),
                      rubric.execution.model_dump(), limits.__dict__, bool(options.data_root))
    cache_file = state / "executions" / f"{sub.student}.json"
    cached = _load_json(cache_file)
    if isinstance(cached, dict) and cached.get("key") == key and cached.get("record", {}).get("status") != "not-run":
        return cached["record"]
    record = execute(sub.notebook, sub.path, variables=variables_needed(rubric),
                     skip_tags=rubric.execution.skip_tags,
                     spec_for=_spec_factory(rubric, options, limits), limits=limits,
                     cell_timeout=min(rubric.limits.cell_timeout, limits.wall_seconds or 1e9),
                     keep_notebook=state / "executions" / f"{sub.student}.ipynb")
    record["locked_cells_modified"] = locked_cell_changes(rubric, sub.notebook)
    write_atomic(cache_file, json.dumps({"key": key, "record": record}))
    return record


def locked_cell_changes(rubric: Rubric, notebook: Path) -> list[str]:
    """Cells the template marks as locked that the student changed or removed."""
    if not rubric.execution.template:
        return []
    template, _ = read_notebook(rubric.resolve(rubric.execution.template))
    student, _ = read_notebook(notebook)
    if template is None or student is None:
        return []
    tags = set(rubric.execution.locked_tags)
    theirs = {c.get("id"): c for c in student.cells}

    def digest(cell) -> str:
        return hashlib.sha256(" ".join(cell.source.split()).encode()).hexdigest()

    changes = []
    for n, cell in enumerate(template.cells, 1):
        if not tags & set(cell.metadata.get("tags", [])):
            continue
        other = theirs.get(cell.get("id"))
        if other is None:
            same = [c for c in student.cells if digest(c) == digest(cell)]
            if not same:
                changes.append(f"locked cell {n} of the template ({cell.source.strip().splitlines()[0][:60] if cell.source.strip() else 'empty'}) is missing or was edited")
        elif digest(other) != digest(cell):
            changes.append(f"locked cell {n} of the template was edited")
    return changes


def measure(item: Item, ctx: Context, state: Path) -> dict | None:
    impl = CHECKS.get(item.check.type)
    if impl is None or not hasattr(impl, "measure"):
        return None
    key = f"{item.check.type}-{impl.measure_key(item, ctx)}"
    path = state / "measure" / f"{key}.json"
    cached = _load_json(path)
    if isinstance(cached, dict):
        return cached
    try:
        m = impl.measure(item, ctx)
    except Exception as exc:  # a broken submission must not stop the others
        return {"error": f"{type(exc).__name__}: {exc}"}
    if not m.get("transient"):
        write_atomic(path, json.dumps(m))
    return m


def grade_submission(rubric: Rubric, sub: Submission, reports: Path, options: Options) -> SubmissionResult:
    state = reports / STATE
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    base = dict(student=sub.student, assignment=rubric.assignment.id, graded_at=now, grader_version=__version__)
    if sub.notebook is None:
        execution: dict[str, Any] = {"status": "invalid", "message": sub.problem, "variables": {}, "cells": []}
    else:
        execution = run_notebook(rubric, sub, state, options)
    artefacts = reports / sub.student
    ctx = Context(rubric=rubric, student=sub.student, submission=sub.path, notebook=sub.notebook,
                  execution=execution, answers=AnswerBook.load(sub.path, execution), artefacts=artefacts,
                  cache=state / "cache", sandbox=_spec_factory(rubric, options, limits_for(rubric, options)),
                  public=options.public)
    fp = fingerprint(sub.path)
    rpath = review_path(reports, sub.student)
    ctx.__dict__["reviews"], review_problem = load_reviews(rpath, fp)

    items: list[ItemResult] = []
    for item in rubric.items:
        items.append(_score_item(item, ctx, state, options))
        ctx.results[item.id] = items[-1]
    _queue_manual(rubric, ctx, items, rpath, fp, options)

    summary = ExecutionSummary(
        status=execution.get("status", "not-run"), message=execution.get("message", ""),
        duration=execution.get("duration", 0.0), sandbox=execution.get("sandbox", "none"),
        notebook=sub.notebook.name if sub.notebook else None,
        cell_errors=execution.get("cell_errors", [])[:20],
        locked_cells_modified=execution.get("locked_cells_modified", []))
    if review_problem:
        summary.message = (summary.message + "; " if summary.message else "") + review_problem
    graded = execution.get("status") not in ("invalid", "not-run")
    reason = "" if graded else (execution.get("message") or "the notebook could not be run")
    return SubmissionResult(items=items, execution=summary, graded=graded, reason=reason, **base)


def _score_item(item: Item, ctx: Context, state: Path, options: Options) -> ItemResult:
    if ctx.public and (item.hidden or isinstance(item.check, HiddenCheck)):
        return CHECKS["hidden"].score(item, None, ctx)
    impl = CHECKS.get(item.check.type)
    if impl is None:
        return result(item, status="error", grading="pending",
                      message=f"grader cannot check '{item.check.type}' items in this installation")
    if item.check.type == "retrain" and not options.retrain:
        return result(item, status="skipped", grading="pending", message="retraining was switched off for this run")
    try:
        m = measure(item, ctx, state)
        return impl.score(item, m, ctx)
    except Exception as exc:  # one item's failure must not cost the others
        return result(item, status="error", message=f"grader could not check this item: {type(exc).__name__}: {exc}",
                      details=traceback.format_exc().splitlines()[-3:])


def _queue_manual(rubric: Rubric, ctx: Context, items: list[ItemResult], path: Path, fp: str,
                  options: Options) -> None:
    if options.public:
        return
    entries = {}
    for item, res in zip(rubric.items, items):
        if isinstance(item.check, FreeTextCheck):
            entries[item.id] = {
                "title": item.title, "points": item.points,
                "answer": str(res.given or "")[:4000],
                "choices": [f"{n}: -{d.points:g} {d.text}" for n, d in enumerate(item.check.deductions, 1)],
            }
    if entries:
        write_queue(path, ctx.student, rubric.assignment.id, fp, entries)


# ---------------------------------------------------------------- a batch

def _grade_to_disk(rubric: Rubric, sub: Submission, reports: Path, options: Options) -> SubmissionResult:
    from .reports import write_student_reports
    try:
        res = grade_submission(rubric, sub, reports, options)
    except Exception as exc:  # the batch goes on; the student's report says why
        res = SubmissionResult(student=sub.student, assignment=rubric.assignment.id, graded=False,
                               reason=f"grader failed on this submission: {type(exc).__name__}: {exc}",
                               items=[result(i, status="error", message="not graded: grader failed on this submission")
                                      for i in rubric.items], grader_version=__version__)
    write_atomic(reports / STATE / "results" / f"{sub.student}.json", res.model_dump_json())
    write_student_reports(res, reports, rubric.assignment.title, student_view=options.public)
    return res


@dataclass
class BatchOutcome:
    results: list[SubmissionResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SubmissionResult]:
        return [r for r in self.results if not r.graded]


def grade_batch(rubric: Rubric, folder: Path, reports: Path, options: Options,
                on_done: Callable[[SubmissionResult], None] | None = None,
                on_start: Callable[[int], None] | None = None) -> BatchOutcome:
    subs = find_submissions(folder, rubric)
    if options.shard:
        k, n = options.shard
        subs = subs[k::n]
    if on_start:
        on_start(len(subs))
    reports.mkdir(parents=True, exist_ok=True)
    outcome = BatchOutcome()
    if options.workers <= 1 or len(subs) <= 1:
        for sub in subs:
            res = _grade_to_disk(rubric, sub, reports, options)
            outcome.results.append(res)
            if on_done:
                on_done(res)
    else:
        # spawn, not fork: once torch ran a parallel op in this process (reference
        # values, an in-process self-check), libgomp's thread pool does not survive
        # fork and the first torch op in a forked worker hangs forever
        with ProcessPoolExecutor(max_workers=options.workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_grade_to_disk, rubric, s, reports, options): s for s in subs}
            for fut in as_completed(futures):
                sub = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # a worker died (e.g. OOM-killed)
                    res = SubmissionResult(student=sub.student, assignment=rubric.assignment.id, graded=False,
                                           reason=f"the grading worker died: {exc}", grader_version=__version__)
                    write_atomic(reports / STATE / "results" / f"{sub.student}.json", res.model_dump_json())
                outcome.results.append(res)
                if on_done:
                    on_done(res)
    outcome.results.sort(key=lambda r: r.student)
    write_class(rubric, reports)
    return outcome


def stored_results(reports: Path) -> list[SubmissionResult]:
    out = []
    for f in sorted((reports / STATE / "results").glob("*.json")):
        try:
            out.append(SubmissionResult.model_validate_json(f.read_text()))
        except (OSError, ValueError):
            continue
    return out


def write_class(rubric: Rubric, reports: Path) -> list[SubmissionResult]:
    """Class-level reports from every stored result (all shards of a cluster run)."""
    from .reports import write_class_reports
    results = stored_results(reports)
    write_class_reports(results, reports, rubric.assignment.id, rubric.assignment.title)
    return results


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2) // 2))
