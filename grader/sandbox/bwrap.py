"""bubblewrap command lines.

Two flavours, picked by who runs grader:

``root``  (TA batch server, CI): bwrap runs privileged *without* a user
          namespace and with every capability dropped from the bounding set
          except SETUID/SETGID/SETPCAP; inside, ``setpriv`` switches to the
          slot's unprivileged uid/gid, clears groups, empties the bounding and
          inheritable sets and sets no_new_privs before exec'ing the program.
          The program therefore runs as host uid 60000+n: RLIMIT_NPROC applies
          to it (it does not to uid 0), it cannot signal or ptrace grader, and
          bind sources such as a Python under /root (mode 0700) still work.
``user``  (anyone else): bwrap makes a user namespace mapping the caller's own
          uid; no uid change is possible without privileges.

Both: new pid, net, ipc, uts (and cgroup where possible) namespaces,
``--die-with-parent``, ``--new-session`` and a filesystem built from nothing:
/usr and the /lib*, /bin symlinks read-only, a few /etc files (a synthetic
passwd/group/hosts), the Python environment read-only, the staged read-only
data, a private /tmp (a folder of the sandbox's state dir, on disk so the disk
watchdog sees it), the scratch folder read-write at its own path, fresh /dev
(with a size-capped /dev/shm) and /proc.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "alternatives",
             "mime.types", "fonts")
SANDBOX_USER = "student"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def setpriv_path() -> str | None:
    for cand in ("/usr/bin/setpriv", "/bin/setpriv", shutil.which("setpriv")):
        if cand and os.access(cand, os.X_OK) and cand.startswith("/usr/"):
            return cand
        if cand and os.access(cand, os.X_OK) and os.path.realpath(cand).startswith("/usr/"):
            return os.path.realpath(cand)
    return None


def python_roots() -> list[str]:
    """Folders the interpreter needs: the venv and the Python it was made from."""
    roots: list[str] = []
    cands = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))]
    for p in cands:
        p = os.path.abspath(p)
        if p in ("/", "/usr") or p.startswith("/usr/"):
            continue
        if any(p == r or p.startswith(r + "/") for r in roots):
            continue
        roots = [r for r in roots if not r.startswith(p + "/")] + [p]
    return roots


def write_etc(state: Path, uid: int, gid: int, home: str) -> Path:
    etc = state / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
        f"{SANDBOX_USER}:x:{uid}:{gid}:{SANDBOX_USER}:{home}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"root:x:0:\n{SANDBOX_USER}:x:{gid}:\nnogroup:x:65534:\n")
    (etc / "hosts").write_text("127.0.0.1 localhost sandbox\n::1 localhost\n")
    (etc / "hostname").write_text("sandbox\n")
    for f in etc.iterdir():
        f.chmod(0o644)
    return etc


class _Builder:
    def __init__(self):
        self.args: list[str] = []
        self.dirs: set[str] = {"/"}

    def parents(self, dest: str) -> None:
        """Create the missing parents of ``dest`` world-traversable (bwrap makes them 0700)."""
        parts = Path(dest).parts[1:-1]
        cur = ""
        for part in parts:
            cur += "/" + part
            if cur not in self.dirs:
                self.args += ["--perms", "0755", "--dir", cur]
                self.dirs.add(cur)

    def mount(self, opt: str, src: str, dest: str) -> None:
        self.parents(dest)
        self.args += [opt, src, dest]
        self.dirs.add(dest)


def argv(*, flavour: str, scratch: Path, readonly: tuple[Path, ...], state: Path, tmp: Path,
         shm_bytes: int, uid: int | None, gid: int | None) -> list[str]:
    """The bwrap (+ setpriv) prefix; append the program's argv."""
    b = _Builder()
    a = b.args
    a += [bwrap_path() or "bwrap", "--die-with-parent", "--new-session",
          "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
          "--hostname", "sandbox"]
    if flavour == "root":
        a += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
              "--cap-add", "CAP_SETPCAP"]
    else:
        a += ["--unshare-user", "--disable-userns"]

    # /tmp first: scratch, staged data or even a venv below /tmp are mounted on top of it
    b.mount("--bind", str(tmp), "/tmp")
    b.mount("--ro-bind", "/usr", "/usr")
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            a += ["--symlink", os.readlink(link), link]
            b.dirs.add(link)
        elif os.path.isdir(link):
            b.mount("--ro-bind", link, link)
    etc = state / "etc"
    b.dirs.add("/etc")
    a += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        src = "/etc/" + name
        if os.path.exists(src):
            b.mount("--ro-bind", src, src)
    for name in ("passwd", "group", "hosts", "hostname"):
        b.mount("--ro-bind", str(etc / name), "/etc/" + name)
    for root in python_roots():
        b.mount("--ro-bind", root, root)

    for p in readonly:
        p = os.path.abspath(p)
        b.mount("--ro-bind", p, p)
    s = os.path.abspath(scratch)
    b.mount("--bind", s, s)

    a += ["--dev", "/dev", "--perms", "1777", "--size", str(int(shm_bytes)), "--tmpfs", "/dev/shm",
          "--proc", "/proc", "--chdir", s]
    b.dirs.update({"/dev", "/proc"})
    a.append("--")
    if flavour == "root":
        a += [setpriv_path() or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
              "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return a
