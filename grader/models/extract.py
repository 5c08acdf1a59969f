"""Take the *definitions* out of a student's notebook, never the work.

``definitions_source(notebook)`` returns ``(source, warnings)``: a Python module
built from the notebook's code cells in notebook order, keeping only

- imports (``import torch``, ``from torchvision import datasets``; a failing
  import is tolerated later by the probe, statement by statement),
- ``def`` / ``class`` (decorated too); a name defined twice keeps both
  statements in order, so the last one wins exactly as in a top-to-bottom run,
- assignments whose value is a *simple expression*: literals, names, attribute
  chains, containers, arithmetic/comparison/boolean/conditional operators and
  calls of a few harmless builtins and constructors (``int``, ``len``,
  ``range``, ``torch.device``, ``torch.cuda.is_available`` ...) — e.g.
  ``hidden = 128``, ``train_mean = 0.1307``, ``sizes = [784, 100, 10]``,
  ``device = torch.device("cuda" if torch.cuda.is_available() else "cpu")``,
- assignments to the names in ``keep`` (the rubric's ``model: {variable: …}``)
  when the value builds a model: a call of ``nn.*`` / ``torch.nn.*``, of a class
  or function the notebook defines (not one whose name looks like training:
  ``train``, ``fit``, ``run``, ``evaluate`` …), optionally followed by
  ``.to(...)``, ``.cpu()``, ``.cuda()``, ``.float()``, ``.double()``,
  ``.eval()``, ``.train()``,
- ``try:`` blocks whose body only imports (``try: import x / except: ...``).

Everything else — training loops, data loading, prints, top-level calls,
``with``/``for``/``if`` blocks, ``!pip`` and ``%magic`` lines — is dropped.
Nothing of the notebook is executed here: this module only parses.

A cell that does not parse is retried with IPython syntax neutralised
(``!cmd``, ``%magic``, ``var = !cmd``, ``obj?`` lines become ``pass``; a leading
``%%time`` / ``%%capture`` line is removed, other ``%%cell`` magics skip the
cell). If it still does not parse, the cell is skipped with a warning naming
the cell and the syntax error. Cells tagged with one of ``skip_tags`` are
skipped, as the grader's notebook run skips them; a warning names what they
would have defined.
"""
from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path
from typing import Iterable

import nbformat

SIMPLE_CALLS = {
    "int", "float", "bool", "str", "len", "range", "tuple", "list", "dict", "set", "min", "max", "abs",
    "round", "sum", "pow", "divmod",
    "torch.device", "torch.cuda.is_available", "torch.backends.mps.is_available", "math.sqrt", "math.ceil",
    "math.floor", "math.prod", "np.prod", "numpy.prod",
}
MODEL_METHODS = {"to", "cpu", "cuda", "float", "double", "half", "eval", "train", "requires_grad_"}
TRAINING_NAME = re.compile(r"train|fit|run|loop|epoch|evaluat|test|optimi|learn", re.I)
SILENT_CELL_MAGICS = {"time", "timeit", "capture", "prun", "memit"}
_MAGIC_LINE = re.compile(r"^(\s*)(?:[!%].*|[A-Za-z_][\w.,\s]*=\s*[!%].*|[\w.]+\?\??\s*)$")


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _simple(node: ast.AST) -> bool:
    """A constant-like expression: nothing in it can load data or train."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, ast.Attribute):
        return _dotted(node) is not None
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_simple(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _simple(k) for k in node.keys) and all(_simple(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _simple(node.left) and _simple(node.right)
    if isinstance(node, ast.UnaryOp):
        return _simple(node.operand)
    if isinstance(node, ast.BoolOp):
        return all(_simple(v) for v in node.values)
    if isinstance(node, ast.Compare):
        return _simple(node.left) and all(_simple(c) for c in node.comparators)
    if isinstance(node, ast.IfExp):
        return _simple(node.test) and _simple(node.body) and _simple(node.orelse)
    if isinstance(node, ast.Subscript):
        return _simple(node.value) and _simple(node.slice)
    if isinstance(node, ast.Slice):
        return all(x is None or _simple(x) for x in (node.lower, node.upper, node.step))
    if isinstance(node, ast.Starred):
        return _simple(node.value)
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        return (name in SIMPLE_CALLS and all(_simple(a) for a in node.args)
                and all(_simple(k.value) for k in node.keywords))
    return False


def _model_expr(node: ast.AST, defined: set[str]) -> bool:
    """``nn.Sequential(...)``, ``Net(...)``, ``build()``, optionally ``.to(device)`` etc."""
    while (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
           and node.func.attr in MODEL_METHODS and isinstance(node.func.value, (ast.Call, ast.Name))):
        node = node.func.value
    if isinstance(node, ast.Name):
        return True  # model = net
    if not isinstance(node, ast.Call):
        return False
    name = _dotted(node.func)
    if name is None:
        return False
    ok = (name.startswith(("nn.", "torch.nn.")) or name in defined) and not (
        name in defined and TRAINING_NAME.search(name))
    if not ok:
        return False
    args = list(node.args) + [k.value for k in node.keywords]
    return all(_simple(a) or _model_expr(a, defined) for a in args)


def _targets(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets
    return [stmt.target]  # AnnAssign / AugAssign


def _bound_names(stmt: ast.stmt) -> set[str]:
    out: set[str] = set()
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for a in stmt.names:
            out.add((a.asname or a.name).split(".")[0])
        return out
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
    return out


def _assign_names(stmt: ast.stmt) -> set[str] | None:
    """Names an assignment binds, or None when a target is not a plain name (x.attr = …, x[0] = …)."""
    names: set[str] = set()
    for t in _targets(stmt):
        elts = t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]
        for e in elts:
            if not isinstance(e, ast.Name):
                return None
            names.add(e.id)
    return names


def _keep(stmt: ast.stmt, keep: set[str], defined: set[str]) -> bool:
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(stmt, ast.Try):
        return bool(stmt.body) and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in stmt.body)
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        if stmt.value is None:
            return False
        names = _assign_names(stmt)
        if names is None:
            return False
        if _simple(stmt.value):
            return True
        return bool(names & keep) and _model_expr(stmt.value, defined)
    return False


def neutralise_magics(src: str) -> str | None:
    """IPython syntax to plain Python (``pass``); None when a cell magic makes the cell not Python."""
    lines = src.split("\n")
    first = next((i for i, l in enumerate(lines) if l.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split()[0] if lines[first].strip() != "%%" else ""
        if magic not in SILENT_CELL_MAGICS:
            return None
        lines[first] = ""
    out = []
    for line in lines:
        m = _MAGIC_LINE.match(line)
        out.append(f"{m.group(1)}pass" if m and line.strip() else line)
    return "\n".join(out)


def _load(notebook: nbformat.NotebookNode | Path | str) -> nbformat.NotebookNode:
    if isinstance(notebook, (str, Path)):
        return nbformat.read(str(notebook), as_version=4)
    return notebook


def _used_names(stmts: Iterable[ast.stmt]) -> set[str]:
    return {n.id for s in stmts for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def definitions_source(notebook: nbformat.NotebookNode | Path | str, skip_tags: Iterable[str] = ("long-running",),
                       keep: Iterable[str] = ()) -> tuple[str, list[str]]:
    """The notebook's definitions as one module, and warnings (see the module docstring)."""
    nb = _load(notebook)
    skip = set(skip_tags)
    keep_names = set(keep)
    warnings: list[str] = []
    chunks: list[str] = []
    kept: list[ast.stmt] = []
    dropped_binders: dict[str, str] = {}
    defined: set[str] = set()
    code_no = 0
    for idx, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        code_no += 1
        where = f"cell {idx + 1}"
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(src)
        tags = set((cell.get("metadata") or {}).get("tags") or [])
        try:
            tree = ast.parse(src)
        except SyntaxError as first_err:
            fixed = neutralise_magics(src)
            tree = None
            if fixed is not None:
                try:
                    tree = ast.parse(fixed)
                    src = fixed
                except SyntaxError:
                    pass
            if tree is None:
                why = ("a cell magic that is not Python" if fixed is None else
                       f"syntax error line {first_err.lineno}: {first_err.msg}")
                warnings.append(f"{where} skipped: {why}")
                continue
        if tags & skip:
            lost = sorted({s.name for s in tree.body
                           if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))})
            if lost:
                warnings.append(f"{where} skipped (tag {', '.join(sorted(tags & skip))}); "
                                f"its definitions are not used: {', '.join(lost)}")
            continue
        lines = src.split("\n")
        for stmt in tree.body:
            if _keep(stmt, keep_names, defined):
                start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
                seg = "\n".join(lines[start - 1:stmt.end_lineno])
                if stmt.col_offset:  # a statement after ';' on the same line: take the exact text
                    seg = ast.get_source_segment(src, stmt) or ast.unparse(stmt)
                elif ";" in seg and not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    seg = ast.unparse(stmt)
                chunks.append(f"# --- {where}, line {start}\n{seg}\n")
                kept.append(stmt)
                defined |= _bound_names(stmt)
            else:
                for name in _bound_names(stmt) if not isinstance(stmt, (ast.Expr,)) else ():
                    dropped_binders.setdefault(name, f"{where} line {stmt.lineno}")
    source = "\n".join(chunks)
    try:
        ast.parse(source)
    except SyntaxError as exc:  # pragma: no cover - segments are whole statements
        warnings.append(f"extracted definitions do not parse ({exc.msg}); rebuilt from the syntax tree")
        source = "\n".join(ast.unparse(s) for s in kept)
    # names the kept definitions use that only dropped statements assign
    bound = set(defined) | set(dir(builtins))
    for name in sorted(_used_names(kept) - bound):
        if name in dropped_binders:
            warnings.append(f"name {name!r} is used by the definitions but assigned only by a dropped "
                            f"statement ({dropped_binders[name]}); it will be undefined")
    return source, warnings


_HEADER = re.compile(r"^# --- .*$", re.M)


def prune(source: str, roots: Iterable[str]) -> str:
    """Keep only the statements ``roots`` need (transitively), in their order.

    Two students who share the template's model but differ in unrelated cells
    then produce the same source, so the model is probed and retrained once.
    Star imports are always kept: what they bind cannot be known statically.
    """
    starts = [m.start() for m in _HEADER.finditer(source)] or [0]
    chunks = [source[a:b] for a, b in zip(starts, starts[1:] + [len(source)])]
    info = []
    for chunk in chunks:
        try:
            body = ast.parse(chunk).body
        except SyntaxError:
            return source  # not our own output: leave it whole
        star = any(isinstance(s, ast.ImportFrom) and any(a.name == "*" for a in s.names) for s in body)
        info.append((set().union(*[_bound_names(s) for s in body]) if body else set(), _used_names(body), star))
    if not any(bound & set(roots) for bound, _, _ in info):
        return source  # the root is missing: keep everything so the error can say what is there
    needed, keep = set(roots), [False] * len(chunks)
    changed = True
    while changed:
        changed = False
        for i, (bound, used, star) in enumerate(info):
            if not keep[i] and (star or bound & needed):
                keep[i] = changed = True
                needed |= used
    return "".join(c for c, k in zip(chunks, keep) if k)
