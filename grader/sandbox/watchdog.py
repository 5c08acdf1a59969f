"""A thread in grader's process that watches one sandboxed process tree.

rlimits are per process and RLIMIT_RSS does nothing on Linux, so the resident
memory of the whole tree, the disk the run has written and the wall time are
checked here, every ``interval`` seconds, and the whole tree is SIGKILLed when
one is over its limit. ``reason`` then says which limit, in words a student can
read ("memory limit of 2.0 GiB exceeded").

Resident memory is summed as: private resident pages of every process, plus the
file-backed/shared resident pages of the largest process once (forked workers
share the same mapped libraries; counting torch's 200 MB of code once per
DataLoader worker would kill honest notebooks).
"""
from __future__ import annotations

import collections
import os
import signal
import threading
import time
from pathlib import Path

import psutil


def human(n: float) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.0f} MiB"


def descendants(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.Error:
        return []


def kill_tree(pid: int, rounds: int = 6) -> None:
    """SIGKILL ``pid`` and everything below it, until nothing is left."""
    for _ in range(rounds):
        procs = descendants(pid)
        alive = [p for p in procs if _alive(p)]
        if not alive:
            return
        for p in alive:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        psutil.wait_procs([p for p in alive if p.pid != pid], timeout=0.5)
        time.sleep(0.02)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def tree_memory(procs: list[psutil.Process]) -> int:
    private = 0
    shared = 0
    for p in procs:
        try:
            mi = p.memory_info()
        except psutil.Error:
            continue
        sh = getattr(mi, "shared", 0)
        private += max(0, mi.rss - sh)
        shared = max(shared, sh)
    return private + shared


def tree_tasks(procs: list[psutil.Process], uid: int | None) -> int:
    n = 0
    for p in procs:
        try:
            if uid is not None and p.uids().real != uid:
                continue
            n += p.num_threads()
        except psutil.Error:
            continue
    return n


def disk_usage(paths: list[Path]) -> int:
    total = 0
    stack = [str(p) for p in paths]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += getattr(st, "st_blocks", 0) * 512 or st.st_size
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
        except OSError:
            continue
    return total


class Watchdog(threading.Thread):
    def __init__(self, pid: int, *, memory_bytes: int | None, wall_seconds: float | None,
                 disk_bytes: int | None = None, disk_paths: tuple[Path, ...] = (),
                 processes: int | None = None, uid: int | None = None, interval: float = 0.1):
        super().__init__(name=f"sandbox-watchdog-{pid}", daemon=True)
        self.pid = pid
        self.memory_bytes = memory_bytes
        self.wall_seconds = wall_seconds
        self.disk_bytes = disk_bytes
        self.disk_paths = list(disk_paths)
        self.processes = processes
        self.uid = uid
        self.interval = interval
        self.reason: str | None = None
        self.peak_memory = 0
        self.peak_tasks = 0
        self._stop_event = threading.Event()
        self._start = time.monotonic()
        self._disk_base = disk_usage(self.disk_paths) if disk_bytes and self.disk_paths else 0

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)

    def _trip(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        kill_tree(self.pid)

    def run(self) -> None:
        next_disk = 0.0
        disk_every = 0.25
        near_limit: collections.deque[bool] = collections.deque(maxlen=10)
        while not self._stop_event.is_set():
            now = time.monotonic()
            procs = [p for p in descendants(self.pid) if _alive(p)]
            if not procs:
                return
            if self.memory_bytes:
                mem = tree_memory(procs)
                self.peak_memory = max(self.peak_memory, mem)
                if mem > self.memory_bytes:
                    self._trip(f"memory limit of {human(self.memory_bytes)} exceeded")
                    return
            if self.processes:
                tasks = tree_tasks(procs, self.uid)
                self.peak_tasks = max(self.peak_tasks, tasks)
                # at the limit for a while: a fork bomb retrying, not a burst. "At"
                # leaves a margin: RLIMIT_NPROC also counts zombies and tasks that
                # are being created, which this sample does not see, so a tree
                # whose forks already fail can look a few tasks short of the limit
                near = self.processes - max(2, self.processes // 10)
                # most of the last second, not strictly every sample: a bomb whose
                # children fork and exit (sh loops running sleep) dips below now and then
                near_limit.append(tasks >= near)
                if sum(near_limit) >= 5:
                    self._trip(f"process limit of {self.processes} reached (too many processes or threads)")
                    return
            if self.wall_seconds and now - self._start > self.wall_seconds:
                self._trip(f"time limit of {self.wall_seconds:g} s exceeded")
                return
            if self.disk_bytes and self.disk_paths and now >= next_disk:
                t0 = time.monotonic()
                used = disk_usage(self.disk_paths) - self._disk_base
                # a huge scratch folder must not turn the watchdog into a disk scanner
                next_disk = now + max(disk_every, 20 * (time.monotonic() - t0))
                if used > self.disk_bytes:
                    self._trip(f"disk limit of {human(self.disk_bytes)} exceeded (wrote {human(used)})")
                    return
            self._stop_event.wait(self.interval)
