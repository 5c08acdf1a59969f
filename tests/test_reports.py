"""Report renderers: Gradescope JSON, student HTML, gradebook, summary, files."""
from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from grader.reports import (gradebook, render_class_html, render_student_html, summary, to_gradescope,
                            write_atomic, write_class_reports, write_gradebook, write_student_reports)
from grader.results import ExecutionSummary, ItemResult, SubmissionResult

TITLE = "Assignment 2: Backpropagation"
HOSTILE = "<script>alert(1)</script>"


def items(**overrides) -> list[ItemResult]:
    """The rubric: 1.1 pen-and-paper matrix, 1.2 scalar, 2 model, 3 retrain,
    4 free text (manual), 5 hidden, 6 extra credit."""
    base = [
        ItemResult(id="1.1", title="Gradient of W1", kind="penpaper", max_score=2, score=2, status="passed",
                   expected=[[0.5, -1.0], [0.25, 2.0]], given=[[0.5, -1.0], [0.25, 2.0]], source="variable dW1"),
        ItemResult(id="1.2", title="L1 loss", kind="penpaper", max_score=1, score=1, status="passed",
                   expected=0.12345, given=0.12345),
        ItemResult(id="2", title="MLP architecture", kind="model", max_score=3, score=3, status="passed",
                   table=[{"layer": "Linear", "out": 128, "params": 100480},
                          {"layer": "Linear", "out": 10, "params": 1290}]),
        ItemResult(id="3", title="Retrained accuracy", kind="retrain", max_score=4, score=4, status="passed",
                   grading="unverified", unverified_score=4,
                   table=[{"seed": 0, "accuracy": 0.9731}, {"seed": 1, "accuracy": 0.9702}]),
        ItemResult(id="4", title="Explain vanishing gradients", kind="freetext", max_score=2, score=0,
                   status="pending", grading="pending", given="Because sigmoid saturates."),
        ItemResult(id="5", title="Hidden test set", kind="penpaper", max_score=2, score=2, status="passed",
                   hidden=True, expected=[1, 2, 3], given=[1, 2, 3], details=["secret reference: 42"]),
        ItemResult(id="6", title="Bonus: momentum", kind="penpaper", max_score=1, score=1, status="passed",
                   extra_credit=True, expected=0.9, given=0.9),
    ]
    for iid, changes in overrides.items():
        idx = next(k for k, i in enumerate(base) if i.id == iid.replace("_", "."))
        base[idx] = base[idx].model_copy(update=changes)
    return base


EXEC_OK = ExecutionSummary(status="ok", duration=12.34, sandbox="bwrap", notebook="a2.ipynb")


def make_full() -> SubmissionResult:
    return SubmissionResult(student="alice", assignment="a2", items=items(), execution=EXEC_OK,
                            graded_at="2025-11-24T14:00:00", grader_version="0.1.0")


def make_partial() -> SubmissionResult:
    its = items(
        **{"1_1": dict(score=1, status="partial", given=[[0.5, 1.0], [0.25, 2.0]],
                       message="one entry has the wrong sign", details=["entry (0, 1): expected -1, given 1"]),
           "1_2": dict(score=0, status="failed", given=0.12349, message="off by more than the tolerance"),
           "2": dict(score=1.5, status="partial", message=HOSTILE, given=HOSTILE, source=HOSTILE,
                     table=[{"layer": HOSTILE, "out": 10}], figures=["figs/loss.png", "javascript:alert(1)"]),
           "3": dict(score=0, status="failed", unverified_score=2, message="accuracy 0.91 < 0.95"),
           "5": dict(score=0, status="failed", given=[1, 2, 4]),
           "6": dict(score=0, status="failed", given=0.5)})
    ex = ExecutionSummary(status="errors", duration=30.0, sandbox="bwrap", cell_errors=["ZeroDivisionError: x"],
                          locked_cells_modified=["cell-7"])
    return SubmissionResult(student="bob", assignment="a2", items=its, execution=ex)


def make_failed() -> SubmissionResult:
    return SubmissionResult(student="carol", assignment="a2", graded=False, reason="no notebook found",
                            execution=ExecutionSummary(status="invalid", message="no *.ipynb"))


@pytest.fixture
def full() -> SubmissionResult:
    return make_full()


@pytest.fixture
def partial() -> SubmissionResult:
    return make_partial()


@pytest.fixture
def failed() -> SubmissionResult:
    return make_failed()


@pytest.fixture
def results(full, partial, failed) -> list[SubmissionResult]:
    return [partial, failed, full]          # deliberately not sorted


# ---------------------------------------------------------------- gradescope

def test_gradescope_shape(full, partial):
    gs = to_gradescope(partial)
    json.dumps(gs, allow_nan=False)
    assert set(gs) == {"score", "output", "tests"}
    assert gs["score"] == partial.score == 1 + 0 + 1.5 + 0 + 0 + 0 + 0
    assert "errors" in gs["output"] and "bwrap" in gs["output"]
    assert "pending" in gs["output"] and "unverified" in gs["output"] and "cell-7" in gs["output"]
    assert len(gs["tests"]) == 7
    for t in gs["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output", "visibility", "tags"}
    by = {t["name"].split()[0]: t for t in gs["tests"]}
    assert by["1.1"]["name"] == "1.1 Gradient of W1"
    assert by["1.1"]["status"] == "failed" and by["1.1"]["score"] == 1 and by["1.1"]["max_score"] == 2
    assert "one entry has the wrong sign" in by["1.1"]["output"]
    assert "Expected:" in by["1.1"]["output"] and "Given:" in by["1.1"]["output"]
    assert "entry (0, 1)" in by["1.1"]["output"]
    # close numbers are shown with enough digits to differ
    assert "0.12345" in by["1.2"]["output"] and "0.12349" in by["1.2"]["output"]
    assert "layer" in by["2"]["output"] and HOSTILE in by["2"]["output"]   # plain text, table included
    assert by["3"]["tags"] == ["unverified", "retrain"]
    assert by["4"]["tags"] == ["pending", "freetext"] and "manual review" in by["4"]["output"]
    assert by["5"]["visibility"] == "after_published"
    assert all(t["visibility"] == "visible" for k, t in by.items() if k != "5")
    assert by["6"]["name"].endswith("(extra credit)")
    assert all(t["status"] == "passed" for t in to_gradescope(full)["tests"] if t["tags"][0] != "pending")


def test_gradescope_student_view_hides(partial):
    gs = to_gradescope(partial, student_view=True)
    hidden = next(t for t in gs["tests"] if t["name"].startswith("5 "))
    assert hidden["output"] == "hidden"
    assert hidden["visibility"] == "after_published"
    assert "[1, 2, 4]" in next(t for t in to_gradescope(partial)["tests"] if t["name"].startswith("5 "))["output"]
    assert "hidden item" in gs["output"]
    visible = next(t for t in gs["tests"] if t["name"].startswith("1.1 "))
    assert "Expected" in visible["output"]


def test_gradescope_no_nan_and_ungraded(failed):
    r = SubmissionResult(student="x", assignment="a2", items=[
        ItemResult(id="1", title="t", kind="penpaper", max_score=1, score=float("nan"), status="error",
                   expected=float("nan"), given=float("inf"))])
    gs = to_gradescope(r)
    json.dumps(gs, allow_nan=False)
    assert gs["tests"][0]["score"] == 0.0 and "nan" in gs["tests"][0]["output"]
    gs = to_gradescope(failed)
    assert gs["tests"] == [] and gs["score"] == 0 and "no notebook found" in gs["output"]


# ---------------------------------------------------------------- html

def test_html_expected_given_and_escaping(partial):
    page = render_student_html(partial, TITLE)
    assert TITLE in page and "bob" in page
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'class="matrix"' in page and 'class="diff"' in page          # matrices as tables, wrong cell flagged
    assert ">-1<" in page and "0.12349" in page and "0.12345" in page
    assert "one entry has the wrong sign" in page and "entry (0, 1)" in page
    assert "<th>layer</th>" in page                                         # item table
    assert 'src="figs/loss.png"' in page and "javascript:" not in page
    assert "cell-7" in page and "ZeroDivisionError" in page and "bwrap" in page
    assert "[1, 2, 4]" in page                                              # instructor sees hidden item
    for status in ("partial", "failed", "pending"):
        assert f'class="badge {status}"' in page


def test_html_student_view_redacts_hidden(partial, full):
    page = render_student_html(partial, TITLE, student_view=True)
    assert "[1, 2, 4]" not in page and "[1, 2, 3]" not in page
    section = re.search(r'<section class="item" id="item-6">.*?</section>', page, re.S).group(0)
    assert "Hidden test set" in section and ">hidden<" in section and "Expected" not in section
    full_page = render_student_html(full, TITLE, student_view=True)
    assert "secret reference" not in full_page
    assert "hidden item is scored after publication" in full_page


def test_html_not_graded(failed):
    page = render_student_html(failed, TITLE)
    assert "Not graded" in page and "no notebook found" in page and "invalid" in page


# ---------------------------------------------------------------- gradebook

def test_gradebook(results, tmp_path):
    df = gradebook(results)
    assert list(df.index) == ["alice", "bob", "carol"]
    assert list(df.columns) == ["1.1", "1.2", "2", "3", "4", "5", "6",
                                "total", "max", "auto", "manual", "pending", "unverified", "graded", "reason"]
    assert df.loc["bob", "1.1"] == 1 and df.loc["bob", "2"] == 1.5
    assert math.isnan(df.loc["bob", "4"])                  # pending: no grade yet
    assert df.loc["alice", "total"] == 13 and df.loc["alice", "max"] == 14   # extra credit not in max
    assert df.loc["alice", "pending"] == 2 and df.loc["alice", "unverified"] == 4
    assert df.loc["carol", "graded"] == False and df.loc["carol", "reason"] == "no notebook found"  # noqa: E712
    assert df.loc[["carol"], ["1.1", "2"]].isna().all().all()
    path = write_gradebook(results, tmp_path / "gb.csv")
    back = pd.read_csv(path, dtype={"student": str})
    assert list(back.columns) == ["student", *df.columns]
    assert list(back["student"]) == ["alice", "bob", "carol"]


# ---------------------------------------------------------------- summary

def test_summary(results):
    s = summary(results, "a2")
    json.dumps(s, allow_nan=False)
    assert s["assignment"] == "a2"
    assert s["counts"] == {"students": 3, "graded": 2, "failed": 1}
    assert s["students"]["bob"]["failed"] == ["1.1", "1.2", "2", "3", "5", "6"]
    assert s["students"]["bob"]["pending"] == ["4"]
    assert s["students"]["alice"]["failed"] == [] and s["students"]["alice"]["score"] == 13
    assert s["students"]["carol"] == {"score": 0.0, "max": 0.0, "graded": False, "reason": "no notebook found",
                                      "failed": [], "pending": []}
    assert s["items"]["1.1"]["mean"] == 1.5 and s["items"]["1.1"]["full_marks"] == 0.5
    assert s["items"]["1.1"]["max"] == 2 and s["items"]["1.1"]["n"] == 2
    assert s["items"]["4"]["full_marks"] is None and s["items"]["4"]["mean"] is None
    assert list(s["items"]) == ["1.1", "1.2", "2", "3", "4", "5", "6"]


# ---------------------------------------------------------------- files

def test_write_atomic_leaves_no_tmp(tmp_path):
    p = write_atomic(tmp_path / "sub" / "a.txt", "héllo")
    write_atomic(p, b"\x00bytes")
    assert p.read_bytes() == b"\x00bytes"
    assert [x.name for x in p.parent.iterdir()] == ["a.txt"]


def test_write_atomic_failure_cleans_up(tmp_path):
    with pytest.raises(TypeError):
        write_atomic(tmp_path / "a.txt", 123)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_write_student_and_class_reports(results, tmp_path):
    for r in results:
        write_student_reports(r, tmp_path, TITLE)
    paths = write_class_reports(results, tmp_path, "a2", TITLE)
    for name in ("gradebook.csv", "summary.json", "index.html", "score_distribution.png", "item_difficulty.png"):
        assert (tmp_path / name).is_file(), name
    assert paths["index"] == tmp_path / "index.html"
    assert (tmp_path / "score_distribution.png").read_bytes()[:4] == b"\x89PNG"
    for student in ("alice", "bob", "carol"):
        assert json.loads((tmp_path / student / "results.json").read_text())["tests"] is not None
        assert (tmp_path / student / "report.html").is_file()
    index = (tmp_path / "index.html").read_text()
    assert 'href="bob/report.html"' in index and "Gradient of W1" in index
    assert json.loads((tmp_path / "summary.json").read_text())["counts"]["failed"] == 1
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_unsafe_student_name_refused(full, tmp_path):
    with pytest.raises(ValueError):
        write_student_reports(full.model_copy(update={"student": "../evil"}), tmp_path, TITLE)


def test_class_html_empty(tmp_path):
    assert render_class_html([], TITLE, tmp_path).is_file()
