"""The ``grader`` command: a thin layer over grader.grade and friends.

Exit codes: 0 everything was graded (whatever the scores) / the self-check
passed; 1 some submission could not be graded / a self-check item failed;
2 bad usage or an invalid rubric.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .rubric import RubricError, dump_yaml, load_rubric, parse_size, publish

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Automated grading of deep-learning coursework.")
console = Console(stderr=True)
out = Console()


def _rubric(path: Path):
    try:
        return load_rubric(path)
    except RubricError as exc:
        console.print(f"[red]invalid rubric[/red] {exc.path}:")
        for p in exc.problems:
            console.print(f"  {p}", markup=False, highlight=False)
        raise typer.Exit(2)


def _size(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc))


@app.command()
def validate(rubric: Path = typer.Argument(..., help="rubric YAML")) -> None:
    """Check a rubric and say exactly what is wrong."""
    r = _rubric(rubric)
    kinds = {}
    for it in r.items:
        kinds[it.kind] = kinds.get(it.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
    out.print(f"{rubric}: ok — {r.assignment.id}, {len(r.items)} items ({summary}), {r.max_score:g} points")


@app.command("publish")
def publish_cmd(rubric: Path = typer.Argument(...),
                output: Optional[Path] = typer.Option(None, "--out", "-o", help="write here instead of stdout")) -> None:
    """Write the students' copy of a rubric: hidden items' parameters stripped."""
    text = dump_yaml(publish(_rubric(rubric)))
    if output:
        output.write_text(text)
        console.print(f"wrote {output}")
    else:
        out.print(text, markup=False, highlight=False, end="")


@app.command()
def setup(data: Optional[Path] = typer.Option(None, help="data folder (default: GRADER_DATA or ~/.cache/grader/data)"),
          datasets: str = typer.Option("mnist,fashion-mnist,cifar10", help="comma-separated")) -> None:
    """Prepare this machine for grading: stage offline data sets, check the sandbox."""
    from . import datasets as ds
    from . import sandbox as sb

    root = data or ds.default_data_root()
    missing = []
    for name in [d.strip() for d in datasets.split(",") if d.strip()]:
        staged = ds.stage(name, root)
        if staged.available:
            size = "full" if staged.full else "subset"
            out.print(f"[green]ok[/green]   {name}: {staged.n_train:,} train / {staged.n_test:,} test ({size}; {staged.source})")
        else:
            out.print(f"[yellow]--[/yellow]   {name}: {staged.message}")
            missing.append(name)
    status = sb.probe()
    if status.available:
        out.print(f"[green]ok[/green]   sandbox: {status.mode}")
    else:
        out.print(f"[red]no[/red]   sandbox: {status.reason}" + (f" — install with: {status.install_hint}" if status.install_hint else ""))
    out.print(f"data folder: {root}")
    if not status.available:
        raise typer.Exit(1)


def _options(workers, timeout, memory_limit, data, allow_unsandboxed, public, no_retrain, shard=None):
    from . import datasets as ds
    from .grade import Options

    shard_t = None
    if shard:
        try:
            k, n = (int(x) for x in shard.split("/"))
            assert 0 <= k < n
            shard_t = (k, n)
        except (ValueError, AssertionError):
            raise typer.BadParameter("--shard takes K/N with 0 <= K < N, e.g. 0/4")
    root = data or ds.default_data_root()
    os.environ["GRADER_DATA"] = str(root)  # reference values computed from data read the same copy
    return Options(workers=workers, timeout=timeout, memory=_size(memory_limit),
                   require_sandbox=not allow_unsandboxed, public=public,
                   data_root=root, shard=shard_t, retrain=not no_retrain)


def _stage(rubric, data_root: Path) -> None:
    from . import datasets as ds
    for name in rubric.datasets:
        staged = ds.stage(name, data_root)
        if not staged.available:
            console.print(f"[yellow]note[/yellow]: {staged.message}")


@app.command()
def grade(rubric: Path = typer.Argument(..., help="rubric YAML"),
          submissions: Path = typer.Argument(..., help="folder: one <student>.ipynb or <student>/ per student"),
          out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="reports folder"),
          workers: int = typer.Option(1, "--workers", "-j", min=1),
          timeout: Optional[float] = typer.Option(None, help="wall seconds for one whole notebook"),
          memory_limit: Optional[str] = typer.Option(None, help="e.g. 512M, 2G"),
          data: Optional[Path] = typer.Option(None, help="data folder (default: GRADER_DATA or ~/.cache/grader/data)"),
          allow_unsandboxed: bool = typer.Option(False, help="run without the sandbox when bubblewrap is unavailable"),
          no_retrain: bool = typer.Option(False, help="skip retraining items (they stay pending)"),
          shard: Optional[str] = typer.Option(None, help="K/N: grade only this shard (cluster array jobs)")) -> None:
    """Grade every submission in a folder and write the reports."""
    from . import sandbox as sb
    from .grade import grade_batch

    r = _rubric(rubric)
    if not submissions.is_dir():
        console.print(f"[red]error[/red]: {submissions} is not a folder of submissions")
        raise typer.Exit(2)
    opts = _options(workers, timeout, memory_limit, data, allow_unsandboxed, False, no_retrain, shard)
    status = sb.probe()
    if not status.available:
        if not allow_unsandboxed:
            console.print(f"[red]refusing to grade unsandboxed[/red]: {status.reason}. "
                          f"Install it ({status.install_hint or 'bubblewrap'}) or pass --allow-unsandboxed.")
            raise typer.Exit(2)
        console.print(f"[yellow]WARNING: running student code WITHOUT the sandbox[/yellow] ({status.reason}); "
                      "only time and memory limits apply.")
    _stage(r, opts.data_root)
    counts = {"done": 0, "failed": 0}
    t0 = time.monotonic()
    # Grades go to the reports only, never to the terminal or a CI log: progress and the
    # summary say what ran and what failed, not what anybody scored.
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  console=console, transient=False, disable=not console.is_terminal) as progress:
        task = progress.add_task(r.assignment.id, total=None, counts="")

        def started(n: int) -> None:
            counts["total"] = n
            progress.update(task, total=n, counts=f"0 done, 0 failed, {n} left")

        def done(res) -> None:
            counts["done" if res.graded else "failed"] += 1
            finished = counts["done"] + counts["failed"]
            line = f"{counts['done']} done, {counts['failed']} failed, {counts['total'] - finished} left"
            progress.update(task, advance=1, counts=line)
            if not console.is_terminal:  # logs and CI: one plain line per submission
                elapsed = time.monotonic() - t0
                eta = elapsed / finished * (counts["total"] - finished)
                console.print(f"[{finished}/{counts['total']}] {res.student}: "
                              f"{'graded' if res.graded else 'NOT graded'} — {line}, ETA {eta:.0f} s",
                              markup=False, highlight=False)

        outcome = grade_batch(r, submissions, out_dir, opts, on_done=done, on_start=started)

    table = Table(title=f"{r.assignment.id}: {len(outcome.results)} submissions in {time.monotonic() - t0:.0f} s")
    for col in ("student", "graded", "run", "items", "pending review", "unverified", "note"):
        table.add_column(col)
    for res in outcome.results:
        pending = sum(1 for i in res.items if i.grading == "pending")
        unverified = sum(1 for i in res.items if i.grading == "unverified")
        note = res.reason or res.execution.message
        table.add_row(res.student, "yes" if res.graded else "[red]NO[/red]", res.execution.status,
                      str(len(res.items)), str(pending), str(unverified), note[:70])
    console.print(table)
    console.print(f"scores and reports: {out_dir}/ (index.html, gradebook.csv, summary.json, <student>/report.html)")
    raise typer.Exit(1 if outcome.failed else 0)


@app.command()
def check(rubric: Path = typer.Argument(..., help="the rubric (the public copy students get)"),
          notebook: Path = typer.Argument(..., help="your notebook, or your submission folder"),
          timeout: Optional[float] = typer.Option(None),
          memory_limit: Optional[str] = typer.Option(None),
          data: Optional[Path] = typer.Option(None),
          out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="also write the HTML report here"),
          no_retrain: bool = typer.Option(False, help="skip retraining (faster)"),
          as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
          junit: Optional[Path] = typer.Option(None, help="also write a JUnit XML test report (for CI)")) -> None:
    """Self-check one notebook before submitting (hidden items stay hidden)."""
    import tempfile

    from . import sandbox as sb
    from .grade import Submission, find_notebook, grade_submission, student_name
    from .reports import write_student_reports

    r = _rubric(rubric)
    if not notebook.exists():
        console.print(f"[red]error[/red]: {notebook} does not exist")
        raise typer.Exit(2)
    status = sb.probe()
    if not status.available:
        console.print(f"[yellow]note: no sandbox on this machine ({status.reason}); your notebook runs with "
                      f"time and memory limits only.[/yellow]")
    opts = _options(1, timeout, memory_limit, data, True, True, no_retrain)
    _stage(r, opts.data_root)
    if notebook.is_dir():
        nb, problem = find_notebook(notebook, r.execution.notebook)
        sub = Submission(student_name(notebook.name), notebook, nb, problem)
    else:
        sub = Submission(student_name(notebook.stem), notebook, notebook)
    work = out_dir or Path(tempfile.mkdtemp(prefix="grader-check-"))
    res = grade_submission(r, sub, work, opts)
    if out_dir:
        write_student_reports(res, out_dir, r.assignment.title, student_view=True)
    if junit:
        from .fsutil import write_atomic
        from .reports.junit import to_junit
        write_atomic(junit, to_junit(res))
    if as_json:
        from .reports import to_gradescope
        out.print_json(json.dumps(to_gradescope(res, student_view=True)))
    else:
        _print_check(res)
    visible_auto = [i for i in res.items if not i.hidden and i.grading == "auto"]
    ok = res.graded and all(i.status == "passed" for i in visible_auto)
    raise typer.Exit(0 if ok else 1)


_BADGE = {"passed": "[green]pass[/green]", "partial": "[yellow]partial[/yellow]", "failed": "[red]FAIL[/red]",
          "missing": "[red]missing[/red]", "error": "[red]error[/red]", "pending": "[blue]pending[/blue]",
          "hidden": "[dim]hidden[/dim]", "skipped": "[dim]skipped[/dim]"}


def _print_check(res) -> None:
    t = Table(title=f"{res.assignment} — self-check of {res.student}")
    for col in ("item", "points", "result", "why"):
        t.add_column(col, overflow="fold")
    for i in res.items:
        pts = "hidden" if i.hidden else f"{i.score:g}/{i.max_score:g}"
        why = i.message
        if i.status not in ("passed", "hidden") and i.expected is not None and not i.hidden:
            why += f" (expected {i.expected}, got {i.given})"
        t.add_row(i.name, pts, _BADGE.get(i.status, i.status), why)
    out.print(t)
    ex = res.execution
    out.print(f"notebook: {ex.status} in {ex.duration:.1f} s ({ex.sandbox})" + (f" — {ex.message}" if ex.message else ""))
    for e in ex.cell_errors[:5]:
        out.print(f"  {e}", markup=False)
    for c in ex.locked_cells_modified:
        out.print(f"  [yellow]{c}[/yellow]")
    if not res.graded:
        out.print(f"[red]not graded[/red]: {res.reason}")


@app.command()
def report(rubric: Path = typer.Argument(...),
           out_dir: Path = typer.Option(Path("reports"), "--out", "-o")) -> None:
    """Re-render the class reports from stored results (e.g. after all cluster shards finished)."""
    from .grade import write_class
    results = write_class(_rubric(rubric), out_dir)
    console.print(f"{len(results)} results -> {out_dir}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
