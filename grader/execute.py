"""Run one student notebook in a fresh kernel and record what grader needs.

The notebook runs in a scratch copy of the submission, through the sandbox's
kernel launcher, cell by cell with a per-cell and a whole-notebook deadline,
continuing after errors so later answers still count. Cells carrying one of the
rubric's ``skip_tags`` (long training) are not run: retraining is grader's job.

After the last cell, one extra cell serialises the variables the rubric names
to JSON *inside* the kernel, using only exact built-in types (an object whose
``__eq__`` always says yes arrives as an error, not as a value). grader parses
that JSON in its own process; nothing the notebook printed or wrote to disk is
trusted as a result.

The record (plain JSON) is what the scoring phase reads; see ``ExecutionRecord``.
"""
from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from . import sandbox as sb

MAX_NOTEBOOK_BYTES = 64 * 2**20        # larger files are refused without parsing
MAX_SOURCE_BYTES = 4 * 2**20           # code and markdown, outputs excluded
MAX_VALUE_BYTES = 256 * 2**10          # one extracted variable, as JSON
SKIP_TAG = "skip-execution"            # nbclient's own skip tag
INTERRUPT_GRACE = 5.0                  # seconds a cell gets to stop after the interrupt
EXTRACT_TIMEOUT = 15                   # reading the answers (plain data) out of the kernel

_EXTRACT = r'''
def __grader_extract(names, marker, limit, strict):
    import json as _json, math as _math
    g = globals()
    def plain(v, depth=0):
        if depth > 8:
            raise TypeError("nested too deeply")
        t = type(v)
        if v is None or t is bool or t is str or t is int:
            return v
        if t is float:
            return v if _math.isfinite(v) else repr(v)
        if t is list or t is tuple:
            return [plain(x, depth + 1) for x in v]
        if strict:
            raise TypeError("read at the end only")
        if t is dict:
            return {str(k): plain(x, depth + 1) for k, x in v.items()}
        mod = getattr(t, "__module__", "") or ""
        if mod.split(".")[0] in ("numpy", "torch"):
            if t.__name__ == "Size":
                return [int(x) for x in tuple.__iter__(v)]
            return plain(v.tolist(), depth + 1)
        raise TypeError("not plain data but a %s object" % t.__name__)
    out = {}
    for n in names:
        if n not in g:
            out[n] = {"ok": False, "error": "not defined"}
            continue
        try:
            val = plain(g[n])
            text = _json.dumps(val)
            if len(text) > limit:
                raise ValueError("value too large (%d bytes)" % len(text))
            out[n] = {"ok": True, "value": val}
        except Exception as e:
            out[n] = {"ok": False} if strict else {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    print(marker + _json.dumps(out) + marker)
__grader_extract(NAMES, MARKER, LIMIT, STRICT)
del __grader_extract
'''


class CappedClient(NotebookClient):
    """nbclient that stops storing output past a byte budget, as it streams."""

    def __init__(self, nb, budget: int, **kw):
        super().__init__(nb, **kw)
        self.budget = budget
        self.used = 0
        self.truncated = False

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(json.dumps(content, default=str)) if content else 0
        if self.used + size > self.budget:
            if not self.truncated:
                self.truncated = True
                outs.append(nbformat.v4.new_output(
                    "stream", name="stderr", text="\n[grader: output limit reached, further output dropped]\n"))
            return None
        self.used += size
        return super().output(outs, msg, display_id, cell_index)


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """Parse a notebook, or explain why not. Outputs are dropped: grader re-runs it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, f"cannot read {path.name}: {exc.strerror}"
    if size == 0:
        return None, f"{path.name} is empty"
    if size > MAX_NOTEBOOK_BYTES:
        return None, f"{path.name} is {size / 2**20:.0f} MB, more than the {MAX_NOTEBOOK_BYTES / 2**20:.0f} MB grader accepts"
    try:
        # parsed here first: nbformat's own errors for these are cryptic
        text = path.read_bytes().decode("utf-8")
        raw = json.loads(text)
    except UnicodeDecodeError:
        return None, f"{path.name} is not a text file (not a Jupyter notebook)"
    except json.JSONDecodeError as exc:
        return None, f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg}); is it a Jupyter notebook?"
    if not isinstance(raw, dict) or "nbformat" not in raw or not ("cells" in raw or "worksheets" in raw):
        return None, (f"{path.name} is JSON but is not a notebook (a Jupyter notebook has 'nbformat' and "
                      f"'cells' fields); was the right file handed in?")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many kinds for wrong schemas
        return None, f"{path.name} is not a valid Jupyter notebook: {str(exc).splitlines()[0][:200]}"
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return None, f"{path.name} does not follow the notebook format: {exc.message[:200]}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code:
        return None, f"{path.name} has no code cells"
    if sum(len(c.source) for c in nb.cells) > MAX_SOURCE_BYTES:
        return None, f"{path.name} holds more than {MAX_SOURCE_BYTES // 2**20} MB of source"
    for c in code:
        # what the student's own run showed: used only for cells grader does not
        # re-run (long training), and always labelled as such in the reports
        c.metadata["grader_submitted"] = {"images": _images(c.get("outputs", [])),
                                          "text": _text(c.get("outputs", []))[-20_000:]}
        c.outputs = []
        c.execution_count = None
    return nb, ""


def _images(outputs) -> int:
    return sum(1 for o in outputs if isinstance(o.get("data"), dict)
               and ("image/png" in o["data"] or "image/svg+xml" in o["data"]))


def _text(outputs) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(str(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(str(out.get("data", {}).get("text/plain", "")) + "\n")
    return "".join(parts)


def _kernelspec_dir(parent: Path, argv: list[str]) -> Path:
    d = parent / "kernels" / "grader"
    d.mkdir(parents=True, exist_ok=True)
    # signals do not cross into the sandbox; interrupt requests sent as messages do
    (d / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "grader sandbox", "language": "python", "interrupt_mode": "message"}))
    return d.parent


def execute(nb_path: Path, submission_root: Path, *, variables: list[str], skip_tags: list[str],
            spec_for: "callable", limits: sb.SandboxLimits, cell_timeout: float,
            keep_notebook: Path | None = None) -> dict[str, Any]:
    """Run the notebook; return the execution record (plain JSON data).

    ``submission_root`` (a folder, or the notebook itself) is copied to a scratch
    folder first; ``spec_for(scratch)`` gives the SandboxSpec for that scratch.
    """
    started = time.monotonic()
    record: dict[str, Any] = {"status": "not-run", "message": "", "duration": 0.0, "sandbox": "none",
                              "cells": [], "variables": {}, "stdout": "", "output_truncated": False}
    nb, problem = read_notebook(nb_path)
    if nb is None:
        record.update(status="invalid", message=problem)
        return record
    for cell in nb.cells:
        if cell.cell_type == "code" and set(cell.metadata.get("tags", [])) & set(skip_tags):
            cell.metadata.setdefault("tags", []).append(SKIP_TAG)

    # short paths: IPC socket names must stay under ~107 bytes
    base = sb.private_tempdir("gr-", dir="/tmp")
    scratch = base / "s"
    try:
        if submission_root.is_dir():
            shutil.copytree(submission_root, scratch, symlinks=False,
                            ignore=shutil.ignore_patterns("answers.yaml", ".git"))
        else:
            scratch.mkdir()
            shutil.copy2(submission_root, scratch / submission_root.name)
        spec = spec_for(scratch)
        launcher = sb.kernel_launcher(spec)
        record["sandbox"] = launcher.mode
        asyncio.run(_run(nb, scratch, base, launcher, record, variables, limits, cell_timeout))
        if keep_notebook is not None:
            keep_notebook.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(keep_notebook))
    except getattr(sb, "SandboxUnavailable", ()) as exc:
        record.update(status="not-run", message=str(exc))
    finally:
        _remove_tree(base)
    record["duration"] = round(time.monotonic() - started, 2)
    return record


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # files the sandbox uid made read-only
        subprocess.run(["chmod", "-R", "u+rwx", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


async def _run(nb, scratch: Path, base: Path, launcher, record: dict, variables: list[str],
               limits: sb.SandboxLimits, cell_timeout: float) -> None:
    ksm = KernelSpecManager(kernel_dirs=[str(_kernelspec_dir(base, launcher.kernel_argv()))])
    km = AsyncKernelManager(kernel_name="grader", kernel_spec_manager=ksm, transport="ipc",
                            connection_file=str(scratch / ".k.json"), ip=str(scratch / ".k"))
    client = CappedClient(nb, budget=limits.output_bytes, km=km, allow_errors=True, timeout=cell_timeout,
                          kernel_name="grader", resources={"metadata": {"path": str(scratch)}},
                          startup_timeout=120, skip_cells_with_tag=SKIP_TAG,
                          interrupt_on_timeout=True)
    deadline = time.monotonic() + (limits.wall_seconds or 1e9)
    status, message = "ok", ""
    cell_timeouts: list[str] = []
    timed_out: set[int] = set()
    responsive = True
    snapshot: dict[str, Any] = {}
    try:
        await client.async_start_new_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            **launcher.popen_kwargs())
        launcher.started(km.provisioner.process.pid)
        await client.async_start_new_kernel_client()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                status, message = "timeout", f"the notebook ran out of its {limits.wall_seconds:.0f} s before cell {index + 1}"
                break
            client.timeout = max(1, int(min(cell_timeout, left)))
            t0 = time.monotonic()
            try:
                # nbclient interrupts at client.timeout and then waits for the reply
                # forever (re-interrupting every client.timeout): a cell that ignores
                # SIGINT would run until the watchdog's backstop. The hard deadline
                # here ends it; the kernel is stopped, and only the answers copied out
                # after earlier cells are kept.
                await _execute_cell(client, cell, index, client.timeout + INTERRUPT_GRACE)
            except (CellTimeoutError, _HardTimeout):
                status, message = "timeout", (f"cell {index + 1} ran longer than the {client.timeout} s allowed "
                                              f"and did not stop when interrupted; the kernel was stopped")
                responsive = False
                break
            except DeadKernelError:
                status, message = "killed", f"the kernel died in cell {index + 1}"
                break
            if time.monotonic() - t0 >= client.timeout - 0.5 and _interrupted(cell):
                if client.timeout < cell_timeout:
                    status, message = "timeout", f"the notebook ran out of its {limits.wall_seconds:.0f} s in cell {index + 1}"
                    timed_out.add(index)
                    break
                timed_out.add(index)
                cell_timeouts.append(f"cell {index + 1} ran longer than the {cell_timeout:.0f} s allowed per cell and was interrupted")
            if variables and cell.source.strip() and SKIP_TAG not in cell.metadata.get("tags", []):
                snapshot.update({n: v for n, v in (await _extract(client, variables, snapshot=True, timeout=5)).items()
                                 if v.get("ok") or "error" not in v})  # absent names come back with an error
        if status in ("ok", "timeout") and responsive:
            # the kernel is alive (interrupted at worst): later answers still count
            final = await _extract(client, variables)
            # a value whose reading hangs must not cost the answers copied out earlier
            record["variables"] = {n: snapshot[n] if "could not be read" in final[n].get("error", "")
                                   and snapshot.get(n, {}).get("ok") else final[n] for n in variables}
        else:
            record["variables"] = _from_snapshot(variables, snapshot)
    except (DeadKernelError, RuntimeError, TimeoutError, OSError) as exc:
        if status == "ok":
            status, message = "killed", f"the kernel could not be run: {exc}"
        record["variables"] = _from_snapshot(variables, snapshot)
    finally:
        reason = launcher.stop()
        try:
            await km.shutdown_kernel(now=True)
        except Exception:
            pass
        if client.kc is not None:
            client.kc.stop_channels()
    if reason:  # a limit the watchdog enforced explains the death better than nbclient
        status, message = "killed", reason
    cells = []
    errors = list(cell_timeouts)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        skipped = SKIP_TAG in cell.metadata.get("tags", [])
        info = {"index": index, "tags": list(cell.metadata.get("tags", [])), "error": None,
                "images": _images(cell.get("outputs", [])), "skipped": skipped}
        if skipped:
            info["submitted_images"] = cell.metadata.get("grader_submitted", {}).get("images", 0)
            info["submitted_text"] = cell.metadata.get("grader_submitted", {}).get("text", "")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and index not in timed_out:
                info["error"] = {"ename": out.get("ename", ""), "evalue": str(out.get("evalue", ""))[:500]}
                errors.append(f"cell {index + 1}: {info['error']['ename']}: {info['error']['evalue'][:200]}")
        cells.append(info)
    if status == "ok" and errors:
        more = f" (and {len(errors) - 2} more cell error(s))" if len(errors) > 2 else ""
        status, message = "errors", "; ".join(errors[:2]) + more
    if client.truncated:
        note = f"the output limit of {sb.human(limits.output_bytes)} was reached; later output was dropped"
        message = f"{message}; {note}" if message else note
    record.update(status=status, message=message, cells=cells, tagged_text=tagged_text(nb), stdout=_stdout_text(nb)[-200_000:],
                  output_truncated=client.truncated, cell_errors=errors)


class _HardTimeout(Exception):
    pass


async def _execute_cell(client: CappedClient, cell, index: int, hard: float) -> None:
    """``client.async_execute_cell`` with a deadline nbclient itself does not keep.

    Not ``asyncio.wait_for``: nbclient turns the cancellation into DeadKernelError,
    which would read as a crash instead of a timeout.
    """
    task = asyncio.ensure_future(client.async_execute_cell(cell, index))
    done, _ = await asyncio.wait({task}, timeout=hard)
    if task in done:
        task.result()
        return
    task.cancel()
    try:
        await task
    except (Exception, asyncio.CancelledError):
        pass
    raise _HardTimeout(f"cell {index + 1} still running after {hard:.0f} s")


async def _extract(client: CappedClient, names: list[str], snapshot: bool = False,
                   timeout: int = EXTRACT_TIMEOUT) -> dict[str, Any]:
    """Read the named answers out of the kernel as plain data.

    ``snapshot``: the copy taken after every cell, so a kernel that dies later does not
    take earlier answers with it. It reads exact built-in types only, so no student
    code (``tolist``, ``__str__``) runs and it cannot hang; a value it leaves to the
    full read at the end comes back as ``{"ok": False}`` without an error.
    """
    marker = "@@grader-" + secrets.token_hex(8) + "@@"
    source = (_EXTRACT.replace("NAMES", repr(sorted(set(names)))).replace("MARKER", repr(marker))
              .replace("LIMIT", str(MAX_VALUE_BYTES)).replace("STRICT", repr(snapshot)))
    cell = nbformat.v4.new_code_cell(source)
    budget, used, truncated = client.budget, client.used, client.truncated
    client.budget = used + 4 * MAX_VALUE_BYTES * max(1, len(names))
    client.timeout = timeout
    client.nb.cells.append(cell)
    try:
        # the hard deadline: a value whose tolist() loops and swallows the interrupt
        await _execute_cell(client, cell, len(client.nb.cells) - 1, timeout + INTERRUPT_GRACE)
    except (CellTimeoutError, DeadKernelError, _HardTimeout):
        return {n: {"ok": False, "error": f"the answers could not be read from the kernel (reading them did not "
                                          f"finish within {timeout} s)"} for n in names}
    finally:
        client.nb.cells.pop()
        # grader's own reading does not use up the student's output budget
        client.budget, client.used, client.truncated = budget, used, truncated
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    m = re.search(re.escape(marker) + r"(.*)" + re.escape(marker), text, re.S)
    if not m:
        return {n: {"ok": False, "error": "the answers could not be read from the kernel"} for n in names}
    try:
        data = json.loads(m.group(1))
    except json.JSONDecodeError:
        data = {}
    out = {}
    for n in names:
        v = data.get(n)
        out[n] = v if isinstance(v, dict) and isinstance(v.get("ok"), bool) else {"ok": False, "error": "unreadable"}
    return out


def _from_snapshot(names: list[str], snapshot: dict[str, Any]) -> dict[str, Any]:
    """The answers copied out after the last cell that completed, for a kernel that is gone."""
    unread = {"ok": False, "error": "the kernel stopped before the end, and from earlier cells only plain "
                                    "numbers, strings and lists are kept"}
    return {n: (snapshot[n] if snapshot[n].get("ok") else unread) if n in snapshot else
            {"ok": False, "error": "not defined"} for n in names}


def tagged_text(nb) -> dict[str, list[str]]:
    """Source of every tagged cell (markdown answers for manual review), by tag."""
    out: dict[str, list[str]] = {}
    for cell in nb.cells:
        for tag in cell.metadata.get("tags", []):
            if tag != SKIP_TAG:
                out.setdefault(tag, []).append(cell.source[:20_000])
    return out


def _interrupted(cell) -> bool:
    return any(o.get("output_type") == "error" and o.get("ename") == "KeyboardInterrupt"
               for o in cell.get("outputs", []))


def _stdout_text(nb) -> str:
    return "".join(_text(c.get("outputs", [])) for c in nb.cells if c.cell_type == "code")
