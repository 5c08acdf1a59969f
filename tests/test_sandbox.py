"""The sandbox that runs student code: isolation, limits, cleanup, and the kernel path.

Every hostile program here is bounded (a few hundred MB, 500 forks, seconds), so
a broken sandbox fails the test instead of taking the machine down.

Without a working bubblewrap the strong-mode tests skip locally (with the probe's
reason) but FAIL when the environment variable CI is set.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from grader import sandbox as sb

STATUS = sb.probe()
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def strong():
    if not STATUS.available:
        msg = f"bubblewrap sandbox unavailable: {STATUS.reason} ({STATUS.install_hint})"
        if os.environ.get("CI"):
            pytest.fail("CI must run the strong sandbox: " + msg)
        pytest.skip(msg)
    return STATUS


@pytest.fixture
def scratch():
    base = Path(tempfile.mkdtemp(prefix="gt-", dir="/tmp"))  # short: IPC socket paths
    s = base / "s"
    s.mkdir()
    (s / "notebook.ipynb").write_text("{}")
    yield s
    sb._rmtree(base)


@pytest.fixture
def canary():
    """A TCP server on 127.0.0.1 that records every connection it accepts."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    hits: list[str] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, addr = srv.accept()
            except (socket.timeout, OSError):
                continue
            hits.append(str(addr))
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], hits
    stop.set()
    t.join(2)
    srv.close()


def spec_for(scratch: Path, **limits) -> sb.SandboxSpec:
    base = dict(wall_seconds=30, memory_bytes=2 * 2**30, processes=64, file_size_bytes=64 * 2**20,
                output_bytes=1 * 2**20, disk_bytes=256 * 2**20)
    base.update(limits)
    return sb.SandboxSpec(scratch, limits=sb.SandboxLimits(**base), require_isolation=True)


def py(code: str, spec: sb.SandboxSpec, *args: str) -> sb.RunResult:
    return sb.run_command([sys.executable, "-c", textwrap.dedent(code), *args], spec)


def out(res: sb.RunResult) -> str:
    return res.stdout.decode(errors="replace")


# ---------------------------------------------------------------- isolation

def test_no_network(strong, scratch, canary):
    port, hits = canary
    res = py(f"""
        import socket
        for host in ("127.0.0.1", "10.0.0.1", "8.8.8.8"):
            try:
                socket.create_connection((host, {port}), timeout=2).close()
                print("CONNECTED", host)
            except OSError as e:
                print("blocked", host, type(e).__name__)
        print("interfaces", [n for _, n in socket.if_nameindex()])
    """, spec_for(scratch))
    assert res.returncode == 0, res.stderr
    assert "CONNECTED" not in out(res) and out(res).count("blocked") == 3
    assert "interfaces ['lo']" in out(res)
    assert hits == []


def test_cannot_read_secrets_or_write_outside(strong, scratch, tmp_path):
    rubric = tmp_path / "rubric"
    rubric.mkdir()
    (rubric / "rubric.yaml").write_text("answer: 42\n")
    home_secret = Path.home() / f".grader-canary-{secrets.token_hex(4)}"
    home_secret.write_text("secret")
    host_tmp_marker = Path("/tmp") / f"grader-escape-{secrets.token_hex(4)}"
    try:
        paths = [rubric / "rubric.yaml", home_secret, REPO / "pyproject.toml", Path("/etc/shadow")]
        res = py(f"""
            import os, sys
            for p in {[str(p) for p in paths]!r}:
                try:
                    open(p).read(); print("READ", p)
                except OSError as e:
                    print("denied", type(e).__name__)
            for p in [{str(rubric / "new.txt")!r}, sys.prefix + "/evil.pth", "/usr/evil", "/etc/evil"]:
                try:
                    open(p, "w").write("x"); print("WROTE", p)
                except OSError as e:
                    print("denied", type(e).__name__)
            open({str(host_tmp_marker)!r}, "w").write("private tmp")   # lands in the private /tmp
            open("answer.txt", "w").write("42")
            os.chmod("answer.txt", 0)
            print(sorted(os.listdir("/")), sorted(os.listdir(os.path.dirname(sys.prefix))))
        """, spec_for(scratch))
        assert res.returncode == 0, res.stderr
        text = out(res)
        assert "READ" not in text and "WROTE" not in text and text.count("denied") == 8, text
        assert not host_tmp_marker.exists()
        assert not (rubric / "new.txt").exists() and not (Path(sys.prefix) / "evil.pth").exists()
        assert "['.venv']" in text  # the checkout shows only the environment
        # what the student wrote (even mode 000) is the grader's again
        f = scratch / "answer.txt"
        assert f.stat().st_uid == os.getuid() and f.read_text() == "42"
    finally:
        home_secret.unlink()
        host_tmp_marker.unlink(missing_ok=True)


def test_runs_as_other_uid_and_cannot_signal_grader(strong, scratch, monkeypatch):
    monkeypatch.setenv("GRADER_TOKEN", "top-secret")
    res = py(f"""
        import os, signal
        for pid in ({os.getpid()}, 1):
            try:
                os.kill(pid, signal.SIGKILL); print("KILLED", pid)
            except OSError as e:
                print("refused", type(e).__name__)
        print("uid", os.getuid(), "env", sorted(os.environ))
    """, spec_for(scratch))
    assert res.returncode == 0, res.stderr
    assert "KILLED" not in out(res) and out(res).count("refused") == 2
    assert "GRADER_TOKEN" not in out(res) and "top-secret" not in out(res)
    if os.geteuid() == 0:
        assert f"uid {os.getuid()} " not in out(res)


# ---------------------------------------------------------------- limits

def test_import_torch_under_2g_and_memory_bomb_killed(strong, scratch):
    t0 = time.monotonic()
    res = py("import torch; print(float(torch.ones(1000, 1000).sum()))", spec_for(scratch, memory_bytes=2 * 2**30))
    assert res.returncode == 0, res.stderr
    assert out(res).strip() == "1000000.0"
    print(f"import torch in sandbox: {time.monotonic() - t0:.2f} s, peak {sb.human(res.peak_memory)}")

    res = py("""
        import time
        chunks = []
        for i in range(30):                      # at most 3 GiB
            chunks.append(bytearray(b"x") * (100 * 2**20))
            print(len(chunks), flush=True)
            time.sleep(0.05)
        print("SURVIVED")
    """, spec_for(scratch, memory_bytes=2**30))
    assert "SURVIVED" not in out(res)
    assert res.returncode != 0
    assert res.killed_reason and "memory limit of 1.0 GiB exceeded" in res.killed_reason
    assert int(out(res).split()[-1]) <= 16


def test_fork_bomb_stopped(strong, scratch):
    res = py("""
        import os, time
        n, err = 0, None
        for i in range(500):
            try:
                pid = os.fork()
            except OSError as e:
                err = type(e).__name__
                break
            if pid == 0:
                time.sleep(20)
                os._exit(0)
            n += 1
        print(n, err, flush=True)
        end = time.time() + 6                    # a bomb that keeps retrying
        while time.time() < end:
            try:
                if os.fork() == 0:
                    os._exit(0)
            except OSError:
                time.sleep(0.01)
        print("SURVIVED")
    """, spec_for(scratch, processes=64))
    n, err = out(res).split()[:2]
    assert int(n) < 64 and err == "BlockingIOError", out(res)
    assert "SURVIVED" not in out(res)
    assert res.killed_reason and "process limit of 64" in res.killed_reason
    assert res.duration < 5


def test_file_size_and_disk_filler_stopped(strong, scratch):
    res = py("""
        chunk = b"x" * 2**20
        try:
            with open("big.bin", "wb") as f:
                for i in range(300):              # at most 300 MB
                    f.write(chunk)
            print("WROTE ALL")
        except OSError as e:
            print("stopped", type(e).__name__, e.errno)
    """, spec_for(scratch, file_size_bytes=20 * 2**20))
    assert "stopped OSError 27" in out(res), (out(res), res.stderr)  # EFBIG
    assert (scratch / "big.bin").stat().st_size <= 20 * 2**20

    res = py("""
        import time
        chunk = b"x" * 10 * 2**20
        for i in range(60):                       # at most 600 MB, below the file size limit each
            with open(f"/tmp/f{i}.bin" if i % 2 else f"f{i}.bin", "wb") as f:
                f.write(chunk)
            time.sleep(0.03)
        print("WROTE ALL")
    """, spec_for(scratch, file_size_bytes=20 * 2**20, disk_bytes=100 * 2**20))
    assert "WROTE ALL" not in out(res)
    assert res.killed_reason and "disk limit of 100 MiB exceeded" in res.killed_reason


def test_output_flood_capped_while_streaming(strong, scratch):
    me = psutil.Process()
    before = me.memory_info().rss
    res = py("""
        import sys
        line = (b"y" * 1023 + b"\\n") * 1024
        for i in range(50):                       # 50 MB
            sys.stdout.buffer.write(line)
        sys.stderr.write("E" * 3 * 2**20)
        print("END", file=sys.stderr)
    """, spec_for(scratch, output_bytes=2**20))
    grew = me.memory_info().rss - before
    assert res.returncode == 0, res.stderr[-500:]
    assert len(res.stdout) <= 2**20 and len(res.stderr) <= 2**20 and res.output_truncated
    assert res.stdout.startswith(b"y" * 1023)
    assert grew < 30 * 2**20, f"grader grew by {grew / 2**20:.0f} MB"


def test_daemons_gone_and_wall_timeout(strong, scratch):
    marker = "grader-daemon-" + secrets.token_hex(6)
    res = py("""
        import os, signal, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c",
                    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
                    sys.argv[1]])
            os._exit(0)
        time.sleep(0.5)
        running = [d for d in os.listdir("/proc") if d.isdigit() and
                   sys.argv[1].encode() in open(f"/proc/{d}/cmdline", "rb").read()]
        print("daemon running" if running else "no daemon", flush=True)
        print("parent exits")
    """, spec_for(scratch), marker)
    assert "daemon running" in out(res) and "parent exits" in out(res), res.stderr

    def leftovers():
        found = []
        for p in psutil.process_iter(["cmdline"]):
            if marker in (p.info["cmdline"] or []):
                found.append(p.pid)
        return found
    assert leftovers() == []

    t0 = time.monotonic()
    res = py("import time; print('start', flush=True); time.sleep(30)", spec_for(scratch, wall_seconds=1.5))
    assert res.timed_out and "time limit of 1.5 s exceeded" in res.killed_reason
    assert "start" in out(res)
    assert time.monotonic() - t0 < 6


# ---------------------------------------------------------------- weak mode and probe

def test_weak_fallback_and_require_isolation(scratch, monkeypatch):
    monkeypatch.setattr(sb._bw, "bwrap_path", lambda: None)
    try:
        st = sb.probe(refresh=True)
        assert not st.available and st.mode == "unsandboxed"
        assert "not installed" in st.reason and "apt install bubblewrap" in st.install_hint
        with pytest.raises(sb.SandboxUnavailable, match="apt install bubblewrap"):
            sb.run_command([sys.executable, "-c", "pass"], spec_for(scratch))
        with pytest.raises(sb.SandboxUnavailable):
            sb.kernel_launcher(spec_for(scratch))
        weak = sb.SandboxSpec(scratch, limits=sb.SandboxLimits(wall_seconds=1.5, memory_bytes=2**30))
        assert sb.kernel_launcher(weak).mode == "unsandboxed"
        res = sb.run_command([sys.executable, "-c", "import os,time; print(os.environ['MPLBACKEND']); time.sleep(20)"],
                             weak)
        assert res.mode == "unsandboxed" and res.timed_out and out(res).strip() == "Agg"
    finally:
        monkeypatch.undo()
        assert sb.probe(refresh=True) == STATUS


# ---------------------------------------------------------------- the kernel path

def test_kernel_in_sandbox(strong, scratch, canary):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    port, hits = canary
    spec = spec_for(scratch, wall_seconds=120)
    launcher = sb.kernel_launcher(spec)
    assert launcher.mode == "bwrap"
    kdir = scratch.parent / "kernels" / "grader"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps(
        {"argv": launcher.kernel_argv(), "display_name": "grader sandbox", "language": "python"}))
    ksm = KernelSpecManager(kernel_dirs=[str(kdir.parent)])
    km = KernelManager(kernel_name="grader", kernel_spec_manager=ksm, transport="ipc",
                       connection_file=str(scratch / ".k.json"), ip=str(scratch / ".k"))
    t0 = time.monotonic()
    km.start_kernel(**launcher.popen_kwargs())
    launcher.started(km.provisioner.process.pid)
    kc = km.client()
    results: list[str] = []

    def hook(msg):
        c = msg["content"]
        if msg["msg_type"] == "execute_result":
            results.append(c["data"]["text/plain"])
        elif msg["msg_type"] == "stream":
            results.append(c["text"].strip())
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        started = time.monotonic() - t0
        assert kc.execute_interactive("1+1", timeout=30, output_hook=hook)["content"]["status"] == "ok"
        code = (f"import socket, os\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                f"    print('CONNECTED')\nexcept OSError as e:\n    print('blocked', type(e).__name__)\n")
        kc.execute_interactive(code, timeout=30, output_hook=hook)
        kernel_pids = [p.pid for p in psutil.Process(launcher.pid).children(recursive=True)]
    finally:
        reason = launcher.stop()
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(f"sandboxed kernel ready in {started:.2f} s")
    assert results[0] == "2"
    assert results[1].startswith("blocked") and hits == []
    assert reason is None
    assert kernel_pids and not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                   for p in kernel_pids)
