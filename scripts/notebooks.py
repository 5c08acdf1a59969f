"""Helpers the sample-notebook generators (scripts/build_<id>.py) share.

Cells get fixed ids, so a student's notebook built from a template keeps the
template's cell ids, as when a student starts from it (locked-cell checks match
cells by id)."""
from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output


def _id(cid: str) -> str:
    return cid.replace(".", "_")  # cell ids allow letters, digits, - and _


def md(text, tags=(), cid=None):
    c = new_markdown_cell(text)
    c.metadata["tags"] = list(tags)
    c["id"] = _id(cid)
    return c


def code(src, tags=(), cid=None):
    c = new_code_cell(src)
    c.metadata["tags"] = list(tags)
    c["id"] = _id(cid)
    return c


def cell(nb, cid):
    return next(c for c in nb.cells if c.get("id") == _id(cid))


def png(seed: int) -> str:
    """A small loss-curve PNG (base64), standing for a figure the student's run showed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 2.5))
    xs = list(range(100))
    ax.plot(xs, [2.3 * math.exp(-x / (15 + seed)) + 0.05 for x in xs])
    ax.set_xlabel("iteration" if seed == 0 else "epoch"); ax.set_ylabel("loss")
    buf = io.BytesIO(); fig.savefig(buf, format="png", dpi=60); plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def run_outputs(c, text=None, images=0):
    """Give a cell the outputs of the student's own run (what grader reads for cells it skips)."""
    c.outputs = []
    if text:
        c.outputs.append(new_output("stream", name="stdout", text=text))
    for i in range(images):
        c.outputs.append(new_output("display_data", data={"image/png": png(i), "text/plain": "<Figure>"}))
    c.execution_count = 1


def write(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, str(path))


def publish(assignment: str, template, solution, samples: dict) -> None:
    """Write assignments/<id>/{template,solution}.ipynb and rebuild submissions/<id>/.

    ``samples`` maps a path inside submissions/<id>/ to a notebook, or to text for
    other files (answers.yaml); the solution is always the ``reference`` sample."""
    import shutil
    root = Path(__file__).resolve().parents[1]
    write(template, root / "assignments" / assignment / "template.ipynb")
    write(solution, root / "assignments" / assignment / "solution.ipynb")
    subs = root / "submissions" / assignment
    if subs.exists():
        shutil.rmtree(subs)
    write(solution, subs / "reference.ipynb")
    for rel, content in samples.items():
        if isinstance(content, str):
            (subs / rel).parent.mkdir(parents=True, exist_ok=True)
            (subs / rel).write_text(content)
        else:
            write(content, subs / rel)
