"""One unprivileged uid per concurrently running sandbox.

RLIMIT_NPROC counts every process of a real uid, so two sandboxes sharing a uid
would share one process budget (and could signal each other). Each sandbox
takes a slot ``n`` (an flock on ``<lockdir>/<n>.lock``, held until it ends) and
runs as uid/gid ``BASE_UID + n``. Locks die with the grader process, so a
crashed worker never leaks a slot; leftover processes of a freshly taken uid
are killed before it is reused.
"""
from __future__ import annotations

import fcntl
import os
import signal
import stat
import tempfile
from pathlib import Path

import psutil

BASE_UID = 60000
SLOTS = 1000


class NoSlot(RuntimeError):
    pass


def _lock_dir() -> Path:
    d = Path("/run") if os.geteuid() == 0 and Path("/run").is_dir() else Path(tempfile.gettempdir())
    d = d / f"grader-sandbox-slots-{os.geteuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    st = d.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise NoSlot(f"{d} is not a private folder of this user")
    return d


class Slot:
    def __init__(self, number: int, fd: int):
        self.number = number
        self.uid = BASE_UID + number
        self.gid = BASE_UID + number
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __del__(self):
        self.release()


def acquire() -> Slot:
    d = _lock_dir()
    start = os.getpid() % SLOTS  # spread workers out; any free slot will do
    for i in range(SLOTS):
        n = (start + i) % SLOTS
        fd = os.open(d / f"{n}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        kill_uid(BASE_UID + n)
        return Slot(n, fd)
    raise NoSlot(f"all {SLOTS} sandbox uids are in use")


def kill_uid(uid: int) -> None:
    """SIGKILL every process whose real uid is ``uid`` (leftovers of an earlier run)."""
    for _ in range(3):
        found = False
        for p in psutil.process_iter(["uids"]):
            try:
                if p.info["uids"] and p.info["uids"].real == uid:
                    p.send_signal(signal.SIGKILL)
                    found = True
            except psutil.Error:
                pass
        if not found:
            return
