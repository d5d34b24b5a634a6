"""The isolation layers applied in each sandboxed child, and their detection at start-up.

Order inside a child, after the zygote forks it:

1. `setsid` (own session and process group), then a new PID namespace (plus a user namespace
   when not root), and a second fork: the program runs as PID 1 of its namespace, so when it
   exits or is killed, the kernel kills everything it started.
2. stdin from /dev/null, stdout/stderr to the capped output pipe, the verdict pipe on fd 3, every
   other descriptor closed; cwd, HOME and TMPDIR in a private temp dir; an empty environment.
3. rlimits: address space, CPU seconds, file size, open files, processes, no core files.
4. As root: drop to a per-slot unprivileged uid/gid, keeping only CAP_DAC_READ_SEARCH when
   Landlock is on (so a Python installed under a private home stays importable, while Landlock
   confines reads to the Python and system library folders).
5. Landlock, then the seccomp deny-list (seccomp.py).

`detect()` tries each layer in a throwaway child so that a missing one (old kernel, no user
namespaces, macOS) is known before any program runs and is reported, never silently skipped.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from selfcodealign.execution import landlock, seccomp

CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
_PR_SET_PDEATHSIG = 1
_PR_SET_KEEPCAPS = 8
_CAP_DAC_READ_SEARCH = 2
_CAP_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)

SYSTEM_READ_ONLY = (
    "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo", "/etc/localtime",
    "/usr/lib/locale", "/dev/urandom", "/dev/random", "/dev/zero",
)


@dataclass(frozen=True)
class Layers:
    """Which layers a worker applies; detected once per worker at start-up."""

    pid_namespace: bool = False
    user_namespace: bool = False  # needed for the PID namespace when not root
    uid_drop: bool = False
    landlock_abi: int = 0
    seccomp: bool = False

    def describe(self) -> dict[str, object]:
        return asdict(self)

    def level(self) -> str:
        """A one-word summary: full, partial or minimal."""
        on = [self.pid_namespace, self.landlock_abi > 0, self.seccomp,
              self.uid_drop or self.user_namespace]
        return "full" if all(on) else "partial" if any(on) else "minimal"


@dataclass(frozen=True)
class ChildLimits:
    memory_mb: int
    cpu_s: int
    file_mb: int = 16
    open_files: int = 64
    processes: int = 64


def _unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare failed")


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def enter_namespaces(layers: Layers) -> None:
    """In the first child: a new PID namespace (and user namespace when unprivileged)."""
    if not layers.pid_namespace:
        return
    if layers.user_namespace:
        uid, gid = os.getuid(), os.getgid()
        _unshare(CLONE_NEWUSER | CLONE_NEWPID)
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    else:
        _unshare(CLONE_NEWPID)


def die_with_parent() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def redirect_fds(stdout_fd: int, verdict_fd: int) -> None:
    """stdin <- /dev/null, stdout/stderr -> output pipe, verdict pipe -> fd 3, close the rest."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stdout_fd, 2)
    os.dup2(verdict_fd, 3)
    os.set_inheritable(3, False)
    os.closerange(4, 65536)


def set_rlimits(limits: ChildLimits, *, processes: bool) -> None:
    mb = 1024 * 1024
    settings = [
        (resource.RLIMIT_AS, limits.memory_mb * mb),
        (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_FSIZE, limits.file_mb * mb),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ]
    if processes:
        settings.append((resource.RLIMIT_NPROC, limits.processes))
    for which, value in settings:
        resource.setrlimit(which, (value, value))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def set_capabilities(mask: int) -> None:
    """Set effective and permitted capabilities to `mask` (bits 0-31), inheritable to none."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)(_CapData(mask, mask, 0), _CapData(0, 0, 0))
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def drop_privileges(uid: int, keep_read_search: bool) -> None:
    """As root: become `uid`, keeping CAP_DAC_READ_SEARCH only if asked (Landlock on)."""
    if keep_read_search:
        _libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    set_capabilities((1 << _CAP_DAC_READ_SEARCH) if keep_read_search else 0)


def read_only_paths() -> list[str]:
    """Python's own folders (prefixes and every sys.path entry) and system library folders."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(p for p in sys.path if p and os.path.exists(p))
    paths.add(str(Path(sys.executable).resolve().parent))
    paths.update(SYSTEM_READ_ONLY)
    return sorted(paths)


def apply_in_child(
    layers: Layers, limits: ChildLimits, tmpdir: str, uid: int | None, allow_fork: bool,
    read_only: list[str],
) -> None:
    """Steps 3-5 in the program's own process (after fds and cwd are set)."""
    set_rlimits(limits, processes=uid is not None)
    if uid is not None:
        drop_privileges(uid, keep_read_search=layers.landlock_abi > 0)
    elif layers.user_namespace:
        set_capabilities(0)
    if layers.landlock_abi > 0:
        landlock.restrict(read_only, [tmpdir, os.devnull], layers.landlock_abi)
    if layers.seccomp:
        seccomp.install(os.getpid(), allow_fork=allow_fork)


def _try(step: object) -> str | None:
    """Run `step()` in a throwaway child; None on success, else the error text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        try:
            step()  # type: ignore[operator]
            os.write(w, b"ok")
        except BaseException as exc:
            os.write(w, f"{type(exc).__name__}: {exc}".encode()[:400])
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 4096):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    return None if text == "ok" else text or "the probe child died"


def _probe_namespace(user: bool) -> None:
    enter_namespaces(Layers(pid_namespace=True, user_namespace=user))
    pid = os.fork()
    if pid == 0:
        os._exit(0 if os.getpid() == 1 else 1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError("the child was not PID 1 in its namespace")


def detect(base_uid: int) -> tuple[Layers, dict[str, str]]:
    """Try every layer; returns what works and, for each missing layer, why."""
    missing: dict[str, str] = {}
    root = os.geteuid() == 0
    user_ns = not root
    error = _try(lambda: _probe_namespace(user_ns))
    pid_ns = error is None
    if error:
        missing["pid_namespace"] = error
    uid_drop = False
    if root:
        error = _try(lambda: drop_privileges(base_uid, keep_read_search=True))
        uid_drop = error is None
        if error:
            missing["uid_drop"] = error
    abi = landlock.abi_version()
    if abi:
        error = _try(lambda: landlock.restrict(read_only_paths(), ["/tmp"], abi))
        if error:
            missing["landlock"] = error
            abi = 0
    else:
        missing["landlock"] = "the kernel has no Landlock (Linux >= 5.13 with landlock in lsm=)"
    seccomp_ok = False
    reason = seccomp.supported()
    if reason:
        missing["seccomp"] = reason
    else:
        error = _try(lambda: seccomp.install(os.getpid()))
        seccomp_ok = error is None
        if error:
            missing["seccomp"] = error
    layers = Layers(pid_namespace=pid_ns, user_namespace=pid_ns and user_ns, uid_drop=uid_drop,
                    landlock_abi=abi, seccomp=seccomp_ok)
    return layers, missing
