"""Exec shim between grader and the sandboxed program (stdlib only).

Run as ``python -I -S launch.py CONFIG -- ARGV...`` (CONFIG: base64 of JSON, so
jupyter_client's ``{name}`` substitution cannot touch it) by the grader's own
interpreter, *outside* the sandbox. It is the last code grader runs before the
student's program, in the child process, so nothing here depends on the parent
being single-threaded (no ``preexec_fn``):

1. chown the scratch folder (including the kernel connection file jupyter_client
   has just written there, mode 0600) and the private /tmp to the sandbox uid,
   when grader runs as root and a uid was given;
2. set the resource limits (inherited by bwrap, setpriv and everything after);
3. ``execve`` ARGV with exactly the environment in CONFIG (nothing inherited).

The pid stays the same across the exec, so the pid jupyter_client / Popen
reports is the root of the sandbox's process tree.
"""
import base64
import json
import os
import sys


def _chown_tree(root, uid, gid):
    try:
        os.lchown(root, uid, gid)
    except OSError:
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            try:
                os.lchown(os.path.join(dirpath, name), uid, gid)
            except OSError:
                pass


def _rlimits(limits):
    try:
        import resource
    except ImportError:  # not POSIX: nothing to apply
        return
    for name, value in limits.items():
        res = getattr(resource, name, None)
        if res is None or value is None:
            continue
        try:
            soft, hard = resource.getrlimit(res)
            value = int(value)
            if hard != resource.RLIM_INFINITY and value > hard:
                value = hard
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            # macOS refuses some (RLIMIT_DATA below current use, RLIMIT_NPROC
            # above the system cap); the watchdog still enforces memory.
            pass


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: launch.py CONFIG -- ARGV...\n")
        return 2
    cfg = json.loads(base64.urlsafe_b64decode(argv[1].encode()))
    cmd = argv[3:]
    uid, gid = cfg.get("uid"), cfg.get("gid")
    if uid is not None and os.geteuid() == 0:
        for path in cfg.get("chown", []):
            _chown_tree(path, uid, gid)
    _rlimits(cfg.get("rlimits", {}))
    env = dict(cfg.get("env", {}))
    for name in cfg.get("pass_env", []):
        if name in os.environ:
            env[name] = os.environ[name]
    try:
        os.execve(cmd[0], cmd, env)
    except OSError as exc:
        sys.stderr.write("grader sandbox: cannot run %s: %s\n" % (cmd[0], exc.strerror))
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
