"""Edits to the template's locked cells (given code, given data) are detected by checksum."""
from pathlib import Path

import nbformat

from grader.grade import locked_cell_changes
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[1]


def test_untouched_locked_cells_pass():
    rubric = load_rubric(ROOT / "rubrics" / "tmu-hw4.yaml")
    assert locked_cell_changes(rubric, ROOT / "submissions" / "tmu-hw4" / "reference.ipynb") == []


def test_edited_and_removed_locked_cells_are_reported(tmp_path):
    rubric = load_rubric(ROOT / "rubrics" / "tmu-hw4.yaml")
    nb = nbformat.read(ROOT / "submissions" / "tmu-hw4" / "reference.ipynb", as_version=4)
    data = next(c for c in nb.cells if c.get("id") == "data-1a")
    data.source = data.source.replace("[8, 2, 8, 7]", "[8, 2, 8, 8]")       # changes the given data
    nb.cells = [c for c in nb.cells if c.get("id") != "load"]               # removes the data loading cell
    path = tmp_path / "edited.ipynb"
    nbformat.write(nb, path)
    changes = locked_cell_changes(rubric, path)
    assert len(changes) == 2
    assert any("was edited" in c for c in changes) and any("missing or was edited" in c for c in changes)
    # whitespace-only changes are not edits
    data.source = data.source.replace("[8, 2, 8, 8]", "[8, 2, 8, 7]") + "\n\n"
    nbformat.write(nb, path)
    assert len(locked_cell_changes(rubric, path)) == 1
