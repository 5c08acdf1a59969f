"""Running untrusted student code.

The interface the rest of grader uses (keep it small and stable):

- ``SandboxSpec``      what a run may see and use (scratch folder, read-only paths, limits)
- ``probe()``          is the strong sandbox available here, and if not, how to install it
- ``kernel_launcher(spec)``  an object nbclient's kernel is started through
- ``run_command(argv, spec)``  run one command (model probe, retraining) under the same rules

Two modes behind the same functions:

``bwrap``        (default where bubblewrap works) no network, a filesystem view of
                 only the scratch copy, the Python environment, system dirs and the
                 staged data; own pid namespace; an unprivileged uid per sandbox
                 when grader runs as root. See ``bwrap.py``.
``unsandboxed``  (bwrap missing or unusable) same user, same filesystem; only
                 the limits. ``require_isolation=True`` refuses this mode.

In both: rlimits (data segment, file size, processes, no core files) set by the
exec shim ``launch.py``, a minimal explicit environment, and a watchdog thread
(``watchdog.py``) summing the resident memory of the whole process tree,
measuring what was written to disk and killing the tree over a limit, with the
limit named in the reason ``stop()`` / ``RunResult.killed_reason`` return.
"""
from __future__ import annotations

import base64
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from . import bwrap as _bw
from . import slots as _slots
from .watchdog import Watchdog, human, kill_tree

LAUNCH = str(Path(__file__).with_name("launch.py"))
INSTALL_HINT = ("install bubblewrap: `sudo apt install bubblewrap` (Debian/Ubuntu; as root `apt-get install "
                "bubblewrap`), `sudo dnf install bubblewrap` (Fedora); not available on macOS or Windows")


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float | None = 900
    memory_bytes: int = 4 * 2**30          # resident memory of the whole process tree
    processes: int = 256                   # processes + threads of the sandbox uid
    file_size_bytes: int = 2**30           # one file
    output_bytes: int = 2 * 2**20          # run_command: kept per stream
    disk_bytes: int | None = 4 * 2**30     # written to scratch + private /tmp, all files together
    threads: int = 1                       # OMP/MKL/OpenBLAS threads


@dataclass(frozen=True)
class SandboxSpec:
    scratch: Path                                   # writable; the run's working directory
    readonly: tuple[Path, ...] = ()                 # extra read-only paths (staged data sets)
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    require_isolation: bool = False                 # refuse to run without the strong sandbox
    env: Mapping[str, str] | None = None            # extra environment (GRADER_* names are refused)


@dataclass(frozen=True)
class SandboxStatus:
    available: bool
    mode: str          # "bwrap" or "unsandboxed"
    reason: str = ""
    install_hint: str = ""
    flavour: str = ""  # "root" (setpriv to a slot uid) or "user" (user namespace), when available


class SandboxUnavailable(RuntimeError):
    """The strong sandbox was required (``require_isolation``) but cannot run here."""


# ---------------------------------------------------------------- probe

_probe_lock = threading.Lock()
_probe_cache: SandboxStatus | None = None


def probe(refresh: bool = False) -> SandboxStatus:
    """Whether the bwrap mode works here; tried for real once, then cached."""
    global _probe_cache
    with _probe_lock:
        if _probe_cache is None or refresh:
            _probe_cache = _probe()
        return _probe_cache


def _probe() -> SandboxStatus:
    if not sys.platform.startswith("linux"):
        return SandboxStatus(False, "unsandboxed", f"bubblewrap needs Linux (this is {sys.platform}); "
                             "student code runs with time and memory limits only", INSTALL_HINT)
    if not _bw.bwrap_path():
        return SandboxStatus(False, "unsandboxed", "bubblewrap (bwrap) is not installed, so student code "
                             "runs with time and memory limits only, without isolation", INSTALL_HINT)
    flavour = "root" if os.geteuid() == 0 else "user"
    if flavour == "root" and not _bw.setpriv_path():
        return SandboxStatus(False, "unsandboxed", "setpriv (util-linux) is missing under /usr, needed to "
                             "drop root inside the sandbox", "apt-get install util-linux")
    base = Path(tempfile.mkdtemp(prefix="gsbp-"))
    try:
        scratch = base / "s"
        scratch.mkdir()
        spec = SandboxSpec(scratch, limits=SandboxLimits(wall_seconds=30, memory_bytes=2**30, disk_bytes=None))
        status = SandboxStatus(True, "bwrap", flavour=flavour)
        code = "import os, socket; print(os.getuid(), len(socket.if_nameindex()))"
        res = _run(status, [sys.executable, "-I", "-S", "-c", code], spec, None)
    except (OSError, _slots.NoSlot) as exc:
        return SandboxStatus(False, "unsandboxed", f"bubblewrap is installed but could not be started: {exc}",
                             INSTALL_HINT)
    finally:
        _rmtree(base)
    if res.returncode != 0:
        err = (res.stderr or res.stdout).decode(errors="replace").strip().splitlines()
        why = err[-1] if err else f"exit status {res.returncode}"
        hint = ("user namespaces are probably disabled: enable them (sysctl kernel.unprivileged_userns_clone=1; "
                "Ubuntu 24.04: an AppArmor profile for bwrap or kernel.apparmor_restrict_unprivileged_userns=0) "
                "or, in a container, allow namespaces (e.g. docker --security-opt seccomp=unconfined "
                "--cap-add SYS_ADMIN)" if flavour == "user" else
                "in a container, bwrap needs CAP_SYS_ADMIN and an unconfined seccomp profile")
        return SandboxStatus(False, "unsandboxed", f"bubblewrap is installed but cannot create its sandbox here "
                             f"({why}); student code runs with limits only, without isolation", hint)
    return status


def _mode_for(spec: SandboxSpec) -> SandboxStatus:
    st = probe()
    if not st.available and spec.require_isolation:
        raise SandboxUnavailable(f"refusing to run student code without the sandbox: {st.reason}. "
                                 f"To fix: {st.install_hint}")
    return st


# ---------------------------------------------------------------- private temporary folders

def _pid_ns() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").split("[")[-1].rstrip("]")
    except OSError:
        return "0"


def private_tempdir(prefix: str, dir: str | None = None) -> Path:
    """``mkdtemp`` named ``<prefix><pid-namespace>-<pid>-...``, first removing the folders
    of that prefix whose process is gone.

    A grader killed mid-run (SIGKILL, OOM, a lost node) never reaches its
    ``finally``: its scratch copies of student submissions and sandbox state
    stayed in /tmp for good. The next run of grader cleans them up; folders of
    live processes, of other pid namespaces or without a pid are left alone.
    """
    where = dir or tempfile.gettempdir()
    ns = _pid_ns()
    try:
        with os.scandir(where) as it:
            for e in it:
                if not e.name.startswith(prefix) or not e.is_dir(follow_symlinks=False):
                    continue
                parts = e.name[len(prefix):].split("-")
                if len(parts) < 3 or parts[0] != ns or not parts[1].isdigit():
                    continue
                pid = int(parts[1])
                if pid != os.getpid() and not _pid_alive(pid):
                    _rmtree(Path(e.path))
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{ns}-{os.getpid()}-", dir=where))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- one sandboxed run

def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # the student chmod'ed something
        subprocess.run(["chmod", "-R", "u+rwx", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


def _chown_back(root: Path, uid: int, gid: int) -> None:
    """Give everything in ``root`` back to grader (readable afterwards, whatever modes were set)."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [""] + dirnames + filenames:
            p = os.path.join(dirpath, name) if name else dirpath
            try:
                os.lchown(p, uid, gid)
                if not os.path.islink(p):
                    mode = os.lstat(p).st_mode
                    os.chmod(p, mode | (0o700 if os.path.isdir(p) else 0o600))
            except OSError:
                pass


_INLINE = "module://matplotlib_inline.backend_inline"


def _own_tasks() -> int:
    import psutil
    me = os.getuid()
    n = 0
    for p in psutil.process_iter(["uids", "num_threads"]):
        if p.info["uids"] and p.info["uids"].real == me:
            n += p.info["num_threads"] or 1
    return n


class _Session:
    """Everything one sandboxed process tree needs, from argv to cleanup."""

    def __init__(self, spec: SandboxSpec, status: SandboxStatus, *, wall_seconds: float | None,
                 kernel: bool = False):
        self.spec = spec
        self.kernel = kernel
        self.status = status
        self.mode = status.mode
        self.scratch = Path(os.path.abspath(spec.scratch))
        if not self.scratch.is_dir():
            raise FileNotFoundError(f"scratch folder {self.scratch} does not exist")
        self.wall_seconds = wall_seconds
        self.slot: _slots.Slot | None = None
        self.uid: int | None = None
        self.gid: int | None = None
        self.pid: int | None = None
        self.watchdog: Watchdog | None = None
        self._reason: str | None = None
        self._stopped = False
        st = self.scratch.stat()
        self.owner = (st.st_uid, st.st_gid)
        self.state = private_tempdir("gsb-")
        self.tmp = self.state / "tmp"
        self.tmp.mkdir()
        try:
            if self.mode == "bwrap" and status.flavour == "root":
                self.slot = _slots.acquire()
                self.uid, self.gid = self.slot.uid, self.slot.gid
            if self.mode == "bwrap":
                _bw.write_etc(self.state, self.uid if self.uid is not None else os.getuid(),
                              self.gid if self.gid is not None else os.getgid(), str(self.scratch))
        except BaseException:
            self._cleanup()
            raise

    # -- command line
    def env(self) -> dict[str, str]:
        venv_bin = os.path.dirname(os.path.abspath(sys.executable))
        tmp = "/tmp" if self.mode == "bwrap" else str(self.tmp)
        path = "/usr/local/bin:/usr/bin:/bin" if self.mode == "bwrap" else os.environ.get("PATH", os.defpath)
        threads = str(max(1, int(self.spec.limits.threads)))
        env = {
            "PATH": f"{venv_bin}:{path}",
            "HOME": str(self.scratch),
            "USER": _bw.SANDBOX_USER, "LOGNAME": _bw.SANDBOX_USER,
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "TMPDIR": tmp,
            "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
            # kernels keep ipykernel's inline backend, so figures reach the notebook
            "MPLBACKEND": _INLINE if self.kernel else "Agg", "MPLCONFIGDIR": f"{tmp}/matplotlib",
            "IPYTHONDIR": f"{tmp}/ipython", "JUPYTER_RUNTIME_DIR": f"{tmp}/jupyter",
            "JUPYTER_PLATFORM_DIRS": "1", "XDG_CACHE_HOME": f"{tmp}/cache",
            "TORCH_HOME": str(self.scratch / ".torch"),
            "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "NUMEXPR_NUM_THREADS": threads,
        }
        if sys.prefix != sys.base_prefix:
            env["VIRTUAL_ENV"] = sys.prefix
        for k, v in (self.spec.env or {}).items():
            if k.upper().startswith("GRADER") or k in ("LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH"):
                raise ValueError(f"environment variable {k} may not be passed into the sandbox")
            env[str(k)] = str(v)
        return env

    def argv(self, cmd: list[str]) -> list[str]:
        lim = self.spec.limits
        rlimits = {"RLIMIT_FSIZE": lim.file_size_bytes, "RLIMIT_CORE": 0}
        if lim.memory_bytes:
            # per process backstop for spikes between two watchdog samples; the
            # watchdog enforces the real (tree-wide) limit first
            rlimits["RLIMIT_DATA"] = lim.memory_bytes + max(2**29, lim.memory_bytes // 2)
        if lim.processes and self.uid is not None:
            rlimits["RLIMIT_NPROC"] = lim.processes
        elif lim.processes and os.geteuid() != 0:
            # same uid as the user's other processes, which count too: allow them
            rlimits["RLIMIT_NPROC"] = _own_tasks() + lim.processes
        cfg = {"rlimits": rlimits, "env": self.env()}
        if self.mode == "bwrap":
            if self.uid is not None:
                cfg.update(uid=self.uid, gid=self.gid, chown=[str(self.scratch), str(self.tmp)])
            inner = _bw.argv(flavour=self.status.flavour, scratch=self.scratch,
                             readonly=tuple(self.spec.readonly), state=self.state, tmp=self.tmp,
                             shm_bytes=min(lim.memory_bytes // 2, 2**30), uid=self.uid, gid=self.gid)
            full = inner + list(cmd)
        else:
            cfg["pass_env"] = ["JPY_PARENT_PID"]
            exe = cmd[0] if os.path.isabs(cmd[0]) else (shutil.which(cmd[0], path=cfg["env"]["PATH"]) or cmd[0])
            full = [exe] + list(cmd[1:])
        blob = base64.urlsafe_b64encode(json.dumps(cfg).encode()).decode()
        return [sys.executable, "-I", "-S", LAUNCH, blob, "--", *full]

    # -- lifecycle
    def started(self, pid: int) -> None:
        self.pid = pid
        lim = self.spec.limits
        self.watchdog = Watchdog(pid, memory_bytes=lim.memory_bytes, wall_seconds=self.wall_seconds,
                                 disk_bytes=lim.disk_bytes, disk_paths=(self.scratch, self.tmp),
                                 processes=lim.processes, uid=self.uid)
        self.watchdog.start()

    def stop(self) -> str | None:
        if self._stopped:
            return self._reason
        self._stopped = True
        if self.watchdog is not None:
            self.watchdog.stop()
            self._reason = self.watchdog.reason
        if self.pid:
            kill_tree(self.pid)
        if self.uid is not None:
            _slots.kill_uid(self.uid)
        self._cleanup()
        return self._reason

    def _cleanup(self) -> None:
        if self.uid is not None and os.geteuid() == 0:
            _chown_back(self.scratch, *self.owner)
        _rmtree(self.state)
        if self.slot is not None:
            self.slot.release()
            self.slot = None


# ---------------------------------------------------------------- kernels

class SandboxKernelLauncher:
    """Starts an ipykernel inside the sandbox; see the module docstring for the protocol."""

    def __init__(self, spec: SandboxSpec, status: SandboxStatus):
        self.spec = spec
        self.mode = status.mode
        lim = spec.limits.wall_seconds
        # the caller enforces cell and notebook deadlines; this is the backstop
        self._session = _Session(spec, status, wall_seconds=None if lim is None else lim * 1.1 + 60, kernel=True)
        self.pid: int | None = None

    def kernel_argv(self) -> list[str]:
        return self._session.argv([sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"])

    def popen_kwargs(self) -> dict:
        return {"cwd": str(self._session.scratch)}

    def started(self, pid: int) -> None:
        self.pid = pid
        self._session.started(pid)

    def stop(self) -> str | None:
        return self._session.stop()

    def __del__(self):
        try:
            if not self._session._stopped:
                self._session.stop()
        except Exception:
            pass


LocalKernelLauncher = SandboxKernelLauncher  # the old name


def kernel_launcher(spec: SandboxSpec) -> SandboxKernelLauncher:
    return SandboxKernelLauncher(spec, _mode_for(spec))


# ---------------------------------------------------------------- one-off commands

@dataclass
class RunResult:
    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    killed_reason: str | None = None
    output_truncated: bool = False
    mode: str = ""
    duration: float = 0.0
    peak_memory: int = 0


def run_command(argv: list[str], spec: SandboxSpec, stdin: bytes | None = None) -> RunResult:
    """Run ``argv`` in the sandbox; output is capped at ``limits.output_bytes`` per stream as it streams."""
    return _run(_mode_for(spec), argv, spec, stdin)


def _run(status: SandboxStatus, argv: list[str], spec: SandboxSpec, stdin: bytes | None) -> RunResult:
    lim = spec.limits
    cap = lim.output_bytes
    session = _Session(spec, status, wall_seconds=None)
    t0 = time.monotonic()
    timed_out = False
    bufs = {1: bytearray(), 2: bytearray()}
    truncated = False
    try:
        p = subprocess.Popen(session.argv(list(argv)), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=session.scratch,
                             start_new_session=True, env={"PATH": os.defpath})
    except BaseException:
        session.stop()
        raise
    try:
        session.started(p.pid)
        if stdin is not None:
            threading.Thread(target=_feed, args=(p.stdin, stdin), daemon=True).start()
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ, 1)
        sel.register(p.stderr, selectors.EVENT_READ, 2)
        deadline = None if lim.wall_seconds is None else t0 + lim.wall_seconds
        exited_at = None
        while sel.get_map():
            now = time.monotonic()
            if deadline is not None and now > deadline and p.poll() is None:
                timed_out = True
                kill_tree(p.pid)
            if exited_at is None and p.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 2:
                break  # something outside the tree holds the pipe (weak mode); stop waiting
            for key, _ in sel.select(0.1):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                buf = bufs[key.data]
                room = cap - len(buf)
                if room > 0:
                    buf += data[:room]
                if len(data) > room:
                    truncated = True  # keep draining, store nothing more
        sel.close()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_tree(p.pid)
            p.wait()
    finally:
        reason = session.stop()
        for f in (p.stdout, p.stderr, p.stdin):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        if p.poll() is None:
            p.kill()
            p.wait()
    if timed_out:
        reason = f"time limit of {lim.wall_seconds:g} s exceeded"
    peak = session.watchdog.peak_memory if session.watchdog else 0
    return RunResult(p.returncode, bytes(bufs[1]), bytes(bufs[2]), timed_out=timed_out, killed_reason=reason,
                     output_truncated=truncated, mode=status.mode, duration=round(time.monotonic() - t0, 3),
                     peak_memory=peak)


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except (BrokenPipeError, OSError, ValueError):
            pass


__all__ = ["SandboxLimits", "SandboxSpec", "SandboxStatus", "SandboxUnavailable", "RunResult", "probe",
           "kernel_launcher", "run_command", "human"]
