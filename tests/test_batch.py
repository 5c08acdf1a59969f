"""A batch never loses work: resume after a kill, atomic results, re-scoring
from stored executions, exit codes, the refusal to run unsandboxed, progress.

The CLI runs as a real subprocess (``.venv/bin/grader``) so a SIGKILL is a real
crash. Without a working bubblewrap these tests skip locally (with the probe's
reason) but FAIL when the environment variable CI is set.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from conftest import grade_folder
from grader import sandbox as sb
from hostile import corpus

REPO = Path(__file__).resolve().parents[1]
GRADER = str(Path(sys.executable).with_name("grader"))
STATUS = sb.probe()

# six quick submissions: (answer_a, answer_b) -> scores differ; "close" is off by 0.05 on q2
ANSWERS = {"ada": (42, 0.25), "bob": (41, 0.25), "cyd": (42, 0.3), "dee": (42, 0.25),
           "eve": (0, 0.0), "fay": (42, 0.2501)}


def _require_sandbox() -> None:
    if not STATUS.available:
        msg = f"bubblewrap sandbox unavailable: {STATUS.reason} ({STATUS.install_hint})"
        if os.environ.get("CI"):
            pytest.fail("CI must run the strong sandbox: " + msg)
        pytest.skip(msg)


def _make_submissions(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for student, (a, b) in ANSWERS.items():
        nb = corpus.nb("import time\ntime.sleep(0.5)", f"answer_a = {a}", f"answer_b = {b}")
        corpus._write(folder / f"{student}.ipynb", nb)
    return folder


def _cli(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([GRADER, *args], capture_output=True, text=True, env=full_env, timeout=240, **kw)


def _grade_args(rubric: Path, subs: Path, reports: Path, data_root: Path) -> list[str]:
    return ["grade", str(rubric), str(subs), "--out", str(reports), "--workers", "1", "--data", str(data_root)]


def _scores(reports: Path) -> dict[str, tuple]:
    out = {}
    for f in sorted((reports / ".grader" / "results").glob("*.json")):
        r = json.loads(f.read_text())
        out[r["student"]] = (r["graded"], tuple((i["id"], i["status"], i["score"]) for i in r["items"]))
    return out


def _executions(reports: Path) -> dict[str, tuple[int, str]]:
    return {f.stem: (f.stat().st_mtime_ns, f.read_text())
            for f in (reports / ".grader" / "executions").glob("*.json")}


@pytest.fixture(scope="module")
def work(tmp_path_factory, data_root):
    _require_sandbox()
    base = tmp_path_factory.mktemp("batch")
    rubric = base / "rubric.yaml"
    shutil.copy(corpus.RUBRIC, rubric)
    subs = _make_submissions(base / "subs")
    return base, rubric, subs, data_root


@pytest.fixture(scope="module")
def uninterrupted(work):
    base, rubric, subs, data_root = work
    reports = base / "reports-full"
    proc = _cli(*_grade_args(rubric, subs, reports, data_root))
    return reports, proc


# ---------------------------------------------------------------- kill and resume

def _watch_json(reports: Path, stop: threading.Event, bad: list[str], seen: set[str]) -> None:
    """Read every results file over and over while a batch writes them: each must parse."""
    while not stop.is_set():
        for f in list(reports.rglob("results.json")) + list((reports / ".grader" / "results").glob("*.json")):
            try:
                text = f.read_text()
            except FileNotFoundError:
                continue
            try:
                json.loads(text)
                seen.add(str(f))
            except ValueError:
                bad.append(f"{f}: {text[:80]!r}")
        time.sleep(0.01)


def test_killed_batch_resumes_where_it_stopped(work, uninterrupted):
    base, rubric, subs, data_root = work
    reports = base / "reports-killed"
    stop, bad, seen = threading.Event(), [], set()
    watcher = threading.Thread(target=_watch_json, args=(reports, stop, bad, seen), daemon=True)
    watcher.start()
    proc = subprocess.Popen([GRADER, *_grade_args(rubric, subs, reports, data_root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    results = reports / ".grader" / "results"
    deadline = time.monotonic() + 120
    try:
        while not (results.is_dir() and list(results.glob("*.json"))):
            assert proc.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "no result appeared"
            time.sleep(0.05)
        temp: set[str] = set()     # the scratch copy and sandbox state of the notebook being run
        while not temp and proc.poll() is None and time.monotonic() < deadline:
            kids = psutil.Process(proc.pid).children(recursive=True)
            for k in kids:
                try:
                    temp |= set(re.findall(r"/tmp/(?:gr|gsb)-[A-Za-z0-9_-]+", " ".join(k.cmdline())))
                except psutil.Error:
                    pass
            time.sleep(0.02)
        time.sleep(0.3)                # mid-notebook
        kids = [k.pid for k in psutil.Process(proc.pid).children(recursive=True)]
        os.kill(proc.pid, signal.SIGKILL)       # a crash: no cleanup code runs
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the sandbox dies with its parent (bwrap --die-with-parent): nothing is left running
    gone, alive = psutil.wait_procs([psutil.Process(k) for k in kids if psutil.pid_exists(k)], timeout=10)
    assert alive == [], [p.cmdline() for p in alive]

    before = _executions(reports)
    done_before = set(before)
    assert 1 <= len(done_before) < len(ANSWERS), done_before

    second = _cli(*_grade_args(rubric, subs, reports, data_root))
    stop.set()
    watcher.join(5)
    assert second.returncode == 0, second.stderr
    after = _executions(reports)
    assert set(after) == set(ANSWERS)
    for student in done_before:        # not re-executed: same file, same mtime
        assert after[student] == before[student], student
    # the re-run executed exactly the missing ones
    assert {s for s in after if s not in before} == set(ANSWERS) - done_before

    # the killed run's temporary folders (its finally never ran) were removed by the next run
    assert temp and not [t for t in temp if Path(t).exists()], temp

    # complete, and the same scores as an uninterrupted run
    full_reports, _ = uninterrupted
    assert _scores(reports) == _scores(full_reports)
    assert len(_scores(reports)) == len(ANSWERS)
    for student in ANSWERS:
        mine = json.loads((reports / student / "results.json").read_text())
        theirs = json.loads((full_reports / student / "results.json").read_text())
        assert mine["score"] == theirs["score"]
        assert [t["score"] for t in mine["tests"]] == [t["score"] for t in theirs["tests"]]
    g1 = (reports / "gradebook.csv").read_text().splitlines()
    g2 = (full_reports / "gradebook.csv").read_text().splitlines()
    assert len(g1) == len(g2) == 1 + len(ANSWERS)
    # results read while the batches wrote them were always whole JSON documents
    assert bad == [] and seen


def test_results_are_written_atomically(uninterrupted):
    reports, proc = uninterrupted
    assert proc.returncode == 0, proc.stderr
    assert not [p for p in reports.rglob("*") if p.name.endswith(".tmp")]
    files = list(reports.rglob("*.json"))
    assert len(files) >= 3 * len(ANSWERS)
    for f in files:
        json.loads(f.read_text())


# ---------------------------------------------------------------- rescoring

def test_changed_points_and_tolerance_rescore_without_running(work, uninterrupted, tmp_path):
    base, rubric, subs, data_root = work
    full_reports, _ = uninterrupted
    reports = tmp_path / "reports"
    shutil.copytree(full_reports, reports)
    before = _executions(reports)
    old = {k: v for k, v in _scores(reports).items()}

    data = yaml.safe_load(rubric.read_text())
    data["items"][0]["points"] = 4                                   # q1: 2 -> 4 points
    data["items"][1]["check"]["compare"]["tolerance"] = {"abs": 0.1}  # q2: 0.001 -> 0.1
    changed = tmp_path / "rubric.yaml"
    changed.write_text(yaml.safe_dump(data))

    t0 = time.monotonic()
    results = grade_folder(changed, subs, reports, data_root, workers=1)
    elapsed = time.monotonic() - t0
    assert _executions(reports) == before, "the execution cache was rewritten: notebooks ran again"
    assert elapsed < 20, elapsed

    items = lambda s: {i.id: (i.status, i.score) for i in results[s].items}  # noqa: E731
    assert items("ada")["q1"] == ("passed", 4)
    assert results["ada"].score == 8 and results["ada"].max_score == 8
    # cyd answered 0.3 for 0.25: failed with 0.001, passes with 0.1
    old_cyd = {i: (st, sc) for i, st, sc in old["cyd"][1]}
    assert old_cyd["q2"][0] != "passed" and items("cyd")["q2"] == ("passed", 3)
    assert results["bob"].score == 4       # q1 wrong, q2 right, runs
    stored = json.loads((reports / "ada" / "results.json").read_text())
    assert stored["score"] == 8


# ---------------------------------------------------------------- exit codes and output

def test_exit_code_0_progress_and_summary_table(uninterrupted):
    _, proc = uninterrupted
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert f"{len(ANSWERS)} done, 0 failed, 0 left" in err
    assert f"hostile-test: {len(ANSWERS)} submissions in" in err
    for col in ("student", "graded", "run", "pending review", "note"):
        assert col in err
    for student in ANSWERS:
        assert student in err
    assert f"[{len(ANSWERS)}/{len(ANSWERS)}]" in err and "reports:" in err   # plain progress lines off a terminal
    # no grades in the log (they live in the reports): no "score/max" of any student appears
    import re
    assert not re.search(r"(?<!\[)\b\d+(\.\d+)?/6\b(?!\])", err)


def test_exit_code_1_when_a_submission_cannot_be_graded(work, tmp_path):
    base, rubric, _, data_root = work
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "empty.ipynb").write_bytes(b"")
    (subs / "essay.pdf").write_bytes(b"%PDF-1.4\n")
    proc = _cli(*_grade_args(rubric, subs, tmp_path / "reports", data_root))
    assert proc.returncode == 1, proc.stderr
    assert "0 done, 2 failed, 0 left" in proc.stderr
    assert "empty.ipynb is empty" in proc.stderr


def test_exit_code_2_for_an_invalid_rubric_or_a_missing_folder(work, tmp_path):
    base, rubric, subs, data_root = work
    bad = tmp_path / "bad.yaml"
    bad.write_text(rubric.read_text().replace("points: 2\n", "points: -2\n", 1))
    proc = _cli(*_grade_args(bad, subs, tmp_path / "r1", data_root))
    assert proc.returncode == 2 and "invalid rubric" in proc.stderr and "greater than 0" in proc.stderr
    proc = _cli(*_grade_args(rubric, tmp_path / "nowhere", tmp_path / "r2", data_root))
    assert proc.returncode == 2 and "is not a folder of submissions" in proc.stderr
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


def test_refuses_to_grade_unsandboxed_unless_allowed(work, tmp_path):
    base, rubric, _, data_root = work
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(base / "subs" / "ada.ipynb", subs / "ada.ipynb")
    # probe() finds bwrap on PATH: without it the sandbox is unavailable
    env = {"PATH": "/nonexistent"}
    proc = _cli(*_grade_args(rubric, subs, tmp_path / "r1", data_root), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "refusing to grade unsandboxed" in proc.stderr and "bubblewrap (bwrap) is not installed" in proc.stderr
    assert "--allow-unsandboxed" in proc.stderr
    assert not (tmp_path / "r1" / ".grader").exists(), "nothing may run before the refusal"

    proc = _cli(*_grade_args(rubric, subs, tmp_path / "r2", data_root), "--allow-unsandboxed", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: running student code WITHOUT the sandbox" in proc.stderr
    res = json.loads((tmp_path / "r2" / ".grader" / "results" / "ada.json").read_text())
    assert res["execution"]["sandbox"] == "unsandboxed" and res["graded"]
