"""Builds a folder of hostile and malformed submissions for tests/test_hostile.py.

Every bomb is BOUNDED (a few GB at most, a few hundred forks, a few minutes of
sleep), so a sandbox that fails to stop one fails the test instead of taking
the machine down. Each running notebook carries ``MARKER`` in its source and in
the argv of every process it leaves behind, so the test can scan for leftovers.

The canary *string* never appears in any notebook: notebooks only know the
*paths* of canary files (and try to find more by globbing), so the string can
only reach a report if a notebook managed to read one.

``build`` returns {student: kind of case}; tests/test_hostile.py holds what is
expected of each (status, reason, score).
"""
from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import v4

HERE = Path(__file__).resolve().parent
RUBRIC = HERE / "rubric.yaml"

# the honest answers of rubric.yaml
HONEST = ["answer_a = 42", "answer_b = 0.25"]


@dataclass
class Env:
    """What the hostile notebooks are told about the machine (a determined
    student could guess all of it)."""
    marker: str             # in every process argv and escape file name
    port: int               # canary TCP server on 127.0.0.1
    secrets: list[Path]     # canary files that must never be read
    submissions: Path
    reports: Path
    home: Path


def nb(*cells: str, markdown: str | None = None) -> nbformat.NotebookNode:
    book = v4.new_notebook()
    if markdown:
        book.cells.append(v4.new_markdown_cell(markdown))
    for src in cells:
        book.cells.append(v4.new_code_cell(textwrap.dedent(src).strip("\n")))
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return book


def honest_notebook() -> nbformat.NotebookNode:
    return nb("import math\n" + HONEST[0], "x = math.sqrt(0.0625)\nanswer_b = x\nprint(answer_b)",
              markdown="# Homework\nAnswers below.")


def _write(path: Path, book) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, str(path))
    return path


def build(folder: Path, env: Env) -> dict[str, str]:
    """Write the corpus into ``folder``; returns {student: case kind}."""
    folder.mkdir(parents=True, exist_ok=True)
    m, port = env.marker, env.port
    kinds: dict[str, str] = {}

    def add(student: str, kind: str, *cells: str) -> None:
        _write(folder / f"{student}.ipynb", nb(f"MARKER = {m!r}", *cells))
        kinds[student] = kind

    # a leftover process: /bin/sh -c 'sleep N' MARKER shows the marker in its cmdline
    sleeper = ("['/bin/sh', '-c', 'i=0; while [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done', " + repr(m) + "]")

    # ---------------------------------------------------------------- time
    add("loop_forever", "cell-timeout", HONEST[0], "while True:\n    pass", HONEST[1])
    add("sleep_forever", "cell-timeout", HONEST[0], "import time\ntime.sleep(10**6)", HONEST[1])
    add("ignores_signals", "uninterruptible", HONEST[0], """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        t0 = time.time()
        while time.time() - t0 < 300:   # bounded: 5 minutes
            pass
        """, HONEST[1])
    add("slow_cells", "notebook-timeout", HONEST[0],
        "import time\ntime.sleep(7)", "time.sleep(7)", "time.sleep(7)", "time.sleep(7)", HONEST[1])

    # ---------------------------------------------------------------- resources
    add("fork_bomb", "processes", f"""
        import os, time
        pids = []
        for i in range(300):            # bounded: 300 forks
            try:
                pid = os.fork()
            except OSError:
                time.sleep(0.05)
                continue
            if pid == 0:
                try:
                    os.execv('/bin/sh', {sleeper})
                finally:
                    os._exit(0)
            pids.append(pid)
        time.sleep(30)
        """, *HONEST)
    add("memory_bomb", "memory", """
        import time
        hog = []
        for i in range(30):             # bounded: 3 GB in 100 MB chunks
            hog.append(bytearray(b'x' * (100 * 2**20)))
            time.sleep(0.05)
        """, *HONEST)
    add("disk_filler", "disk", """
        import os
        os.makedirs('fill', exist_ok=True)
        chunk = b'y' * (50 * 2**20)
        for i in range(60):             # bounded: 3 GB in 50 MB files
            with open(f'fill/{i}.bin', 'wb') as f:
                f.write(chunk)
        """, *HONEST)
    add("big_file", "file-size", """
        with open('big.bin', 'wb') as f:   # bounded: 600 MB, over the 100 MB file size limit
            for i in range(12):
                f.write(b'z' * (50 * 2**20))
        """, *HONEST)
    add("output_flood", "output", *HONEST, """
        line = 'spam ' * 200_000 + '\\n'   # 1 MB
        for i in range(100):            # bounded: 100 MB
            print(line, end='')
        """)

    # ---------------------------------------------------------------- escape
    secret_paths = [str(p) for p in env.secrets]
    add("network", "network", *HONEST, f"""
        import socket
        tried = []
        for host in ('127.0.0.1', 'localhost', '10.0.2.2', '172.17.0.1'):
            try:
                socket.create_connection((host, {port}), timeout=1).close()
                tried.append((host, 'CONNECTED'))
            except OSError as e:
                tried.append((host, type(e).__name__))
        print(tried)
        """)
    add("secret_search", "secrets", *HONEST, f"""
        import glob, os
        found = []
        for p in {secret_paths!r} + [os.path.expanduser('~/.ssh/id_rsa'), '/etc/shadow', '/root/.bash_history']:
            try:
                found.append(open(p).read())
            except OSError as e:
                found.append(f'{{p}}: {{type(e).__name__}}')
        print(found)
        """, """
        import os, time
        t0, seen, hits = time.time(), 0, []
        for root, dirs, files in os.walk('/'):
            if root.startswith(('/proc', '/sys', '/dev')):
                dirs[:] = []
                continue
            for f in files:
                seen += 1
                if 'canary' in f or f.endswith(('.txt', '.yaml', '.json')) and 'site-packages' not in root:
                    try:
                        with open(os.path.join(root, f), errors='replace') as fh:
                            hits.append(fh.read(200))
                    except OSError:
                        pass
            if time.time() - t0 > 5 or seen > 300_000:
                break
        print(seen, hits[:50])
        """, """
        import glob
        env = open('/proc/1/environ', 'rb').read() if os.path.exists('/proc/1/environ') else b''
        print(env[:2000], glob.glob('/proc/*/cmdline')[:50])
        """)
    escapes = [str(env.submissions / f"{m}-escape.txt"), str(env.reports / f"{m}-escape.txt"),
               str(env.reports / ".grader" / "results" / "escape.json"), f"/tmp/{m}-escape.txt",
               str(env.home / f"{m}-escape.txt"), f"/var/tmp/{m}-escape.txt", f"/dev/shm/{m}-escape.txt"]
    add("write_outside", "escape-write", *HONEST, f"""
        import os
        report = []
        for p in {escapes!r}:
            try:
                with open(p, 'w') as f:
                    f.write('escaped')
                report.append((p, 'WROTE'))
            except OSError as e:
                report.append((p, type(e).__name__))
        print(report)
        """)
    add("kill_parent", "kill-parent", *HONEST, """
        import os, signal
        out = []
        for target in (os.getppid(), 1):
            try:
                os.kill(target, signal.SIGKILL)
                out.append((target, 'sent'))
            except OSError as e:
                out.append((target, type(e).__name__))
        print(out)
        """, """
        import os, signal
        me = os.getpid()
        for name in os.listdir('/proc'):   # whatever else is visible: try to kill it
            if name.isdigit() and int(name) != me:
                try:
                    os.kill(int(name), signal.SIGKILL)
                except OSError:
                    pass
        print('still here')
        """, "import os, signal\nos.kill(-1, signal.SIGKILL)  # everything this uid may signal")
    add("daemon", "daemon", *HONEST, f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv('/bin/sh', {sleeper})
            os._exit(0)
        time.sleep(1)
        print('daemon started')
        """)

    # ---------------------------------------------------------------- crashes
    add("segfault", "died", HONEST[0], "import ctypes\nctypes.string_at(0)", HONEST[1])
    add("os_exit", "died", HONEST[0], "import os\nos._exit(1)", HONEST[1])
    add("sys_exit", "sys-exit", HONEST[0], "import sys\nsys.exit(3)", HONEST[1])

    # ---------------------------------------------------------------- cheating
    add("monkeypatch", "full-marks", """
        import builtins, numpy as np, torch
        torch.nn.Module.parameters = lambda self, recurse=True: iter([])
        builtins.sum = lambda *a, **k: 42
        answer_a = torch.tensor(42)
        answer_b = np.float32(0.25)
        """)
    add("forged_results", "forged", """
        import json, os
        forged = json.dumps({'score': 1000, 'output': 'FOR' + 'GED', 'tests': []})
        for p in ['results.json', 'report.html', '../results.json', '../../results.json',
                  '../../../results.json', '../' + MARKER + '/results.json', 'results/forged.json',
                  '.grader/results/forged_results.json', '.grader/executions/forged_results.json']:
            try:
                os.makedirs(os.path.dirname(p) or '.', exist_ok=True)
                with open(p, 'w') as f:
                    f.write(forged)
            except OSError:
                pass
        """)
    add("always_equal", "always-equal", """
        class Anything:
            def __eq__(self, other):
                return True
            def __float__(self):
                return 42.0
        class Float(float):
            def __eq__(self, other):
                return True
        answer_a = Anything()
        answer_b = Float(99.0)
        """)

    add("answer_hangs", "extract-hang", HONEST[0], """
        import time
        class Stuck:
            __module__ = 'numpy'        # so grader's reader calls tolist()
            def tolist(self):
                t0 = time.time()
                while time.time() - t0 < 120:    # bounded: 2 minutes
                    try:
                        time.sleep(0.1)
                    except KeyboardInterrupt:    # swallow grader's interrupt
                        pass
                return 0.25
        answer_b = Stuck()
        """)

    # ---------------------------------------------------------------- malformed files
    (folder / "invalid_json.ipynb").write_text('{"cells": [ {"cell_type": "code", ')
    kinds["invalid_json"] = "invalid"
    (folder / "empty.ipynb").write_bytes(b"")
    kinds["empty"] = "invalid"
    (folder / "wrong_schema.ipynb").write_text(json.dumps({"student": "me", "answers": [42, 0.25]}))
    kinds["wrong_schema"] = "invalid"
    (folder / "no_cells.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                        "nbformat_minor": 5}))
    kinds["no_cells"] = "invalid"
    (folder / "binary.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    kinds["binary"] = "invalid"
    (folder / "student.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")
    kinds["student"] = "invalid"
    (folder / "no_notebook").mkdir()
    (folder / "no_notebook" / "homework.py").write_text("answer_a = 42\n")
    kinds["no_notebook"] = "invalid"

    # nbformat 3: nbformat converts it, so it runs and is graded like any notebook
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "hw"},
          "worksheets": [{"cells": [
              {"cell_type": "code", "language": "python", "input": [HONEST[0] + "\n", HONEST[1]],
               "outputs": [], "prompt_number": 1, "collapsed": False, "metadata": {}}], "metadata": {}}]}
    (folder / "nbformat3.ipynb").write_text(json.dumps(v3))
    kinds["nbformat3"] = "full-marks"

    # ~40 MB of outputs as handed in: dropped before the run, so it is graded normally
    big = honest_notebook()
    blob = "A" * (10 * 2**20)
    big.cells[1].outputs = [v4.new_output("display_data", data={"image/png": blob, "text/plain": "fig"})
                            for _ in range(4)]
    _write(folder / "huge_outputs.ipynb", big)
    kinds["huge_outputs"] = "full-marks"
    return kinds


def build_honest(folder: Path, secret: Path | None = None) -> Path:
    """The honest student: a folder (notebook + notes). ``secret`` goes into it
    as another student's file the hostile notebooks must not see."""
    sub = folder / "honest"
    _write(sub / "homework.ipynb", honest_notebook())
    if secret is not None:
        shutil.copy(secret, sub / "notes.txt")
    return sub
