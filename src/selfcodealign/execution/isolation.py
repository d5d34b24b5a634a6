"""The isolation layers of each sandboxed program, and their detection at start-up.

Per program, the zygote calls `unshare(CLONE_NEWPID)` and forks: the child is PID 1 of a fresh
PID namespace (so when it exits or is killed, the kernel kills everything it started), and the
zygote returns to its own namespace with `setns`. One fork per program, no helper process. When
the zygote is not root, it first becomes the owner of a private user namespace (and PID 1 of a
PID namespace in it), which gives it the right to make PID namespaces without any privilege on
the host. In the child, in order:

1. `setsid`; stdin from /dev/null, stdout/stderr to the capped output pipe, the verdict pipe on
   fd 3, every other descriptor closed; cwd, HOME and TMPDIR in a private temp dir; an empty
   environment; death with the zygote (PR_SET_PDEATHSIG).
2. rlimits: address space, CPU seconds, file size, open files, processes, no core files.
3. As root: a per-slot unprivileged uid/gid, keeping only CAP_DAC_READ_SEARCH when Landlock is
   on (a Python installed under a private home stays importable, while Landlock confines reads
   to the Python and system library folders). In a user namespace: no capabilities.
4. Landlock (a ruleset the zygote built for this program's temp dir), then the seccomp
   deny-list (seccomp.py), built once since the program's pid is always 1.

`detect()` tries each layer in a throwaway child before any program runs, so a missing layer
(old kernel, no user namespaces, no Landlock) is reported, never silently skipped.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from selfcodealign.execution import landlock, seccomp

CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
_PR_SET_PDEATHSIG = 1
_PR_SET_KEEPCAPS = 8
_CAP_DAC_READ_SEARCH = 2
_CAP_VERSION_3 = 0x20080522
RULESET_FD = 4  # where the child finds its Landlock ruleset

_libc = ctypes.CDLL(None, use_errno=True)

SYSTEM_READ_ONLY = (
    "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo", "/etc/localtime",
    "/usr/lib/locale", "/dev/urandom", "/dev/random", "/dev/zero",
)


@dataclass(frozen=True)
class Layers:
    """Which layers a worker applies; detected once per worker at start-up."""

    pid_namespace: bool = False
    user_namespace: bool = False  # the zygote owns a private user namespace (not root)
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


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what} failed")


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def own_user_namespace() -> None:
    """Unprivileged start-up: make a user namespace and become PID 1 of a PID namespace in it.

    The calling process forks; the child returns (it is the zygote from now on) and the parent
    waits for it and exits with its status, passing on the pipes it was started with."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWPID), "unshare(user, pid)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    die_with_parent()


class PidNamespaces:
    """unshare before a fork, setns back after it: each child is PID 1 of a new namespace."""

    def __init__(self) -> None:
        self.own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def before_fork(self) -> None:
        _check(_libc.unshare(CLONE_NEWPID), "unshare(pid)")

    def after_fork(self) -> None:
        _check(_libc.setns(self.own, CLONE_NEWPID), "setns(pid)")


def die_with_parent() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def redirect_fds(stdout_fd: int, verdict_fd: int, ruleset_fd: int | None) -> None:
    """stdin <- /dev/null, stdout/stderr -> output pipe, verdict -> fd 3, ruleset -> fd 4,
    every other descriptor closed."""
    if ruleset_fd is not None:
        os.dup2(ruleset_fd, 100)  # out of the way of the dup2 calls below
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stdout_fd, 2)
    os.dup2(verdict_fd, 3)
    os.set_inheritable(3, False)
    keep = 4
    if ruleset_fd is not None:
        os.dup2(100, RULESET_FD)
        keep = 5
    os.closerange(keep, 65536)


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
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def drop_privileges(uid: int, keep_read_search: bool) -> None:
    """As root: become `uid`, keeping CAP_DAC_READ_SEARCH only if asked (Landlock on)."""
    if keep_read_search:
        _libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    set_capabilities((1 << _CAP_DAC_READ_SEARCH) if keep_read_search else 0)


def read_only_paths() -> list[str]:
    """Python's own folders (prefixes and sys.path entries) and system library folders, with
    any path beneath another one left out (one rule covers it)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(p for p in sys.path if p and os.path.exists(p))
    paths.add(str(Path(sys.executable).resolve().parent))
    paths.update(p for p in SYSTEM_READ_ONLY if os.path.exists(p))
    resolved = sorted({os.path.realpath(p) for p in paths})
    kept: list[str] = []
    for path in resolved:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def apply_in_child(layers: Layers, limits: ChildLimits, uid: int | None, *,
                   has_ruleset: bool, seccomp_filter: bytes | None) -> None:
    """Steps 2-4 in the program's own process (after its fds and cwd are set)."""
    set_rlimits(limits, processes=uid is not None)
    if uid is not None:
        drop_privileges(uid, keep_read_search=has_ruleset)
    elif layers.user_namespace:
        set_capabilities(0)
    if has_ruleset:
        landlock.restrict_self(RULESET_FD)
        os.close(RULESET_FD)
    if seccomp_filter is not None:
        seccomp.install_program(seccomp_filter)


def _try(step: Callable[[], object]) -> str | None:
    """Run `step()` in a throwaway child; None on success, else the error text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        try:
            step()
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


def _probe_pid_namespace() -> None:
    spaces = PidNamespaces()
    for _ in range(2):  # twice: proves that setns really resets the namespace for children
        spaces.before_fork()
        pid = os.fork()
        if pid == 0:
            os._exit(0 if os.getpid() == 1 else 1)
        spaces.after_fork()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise OSError("the child was not PID 1 in its namespace")


LAYER_NAMES = ("pid_namespace", "uid_drop", "landlock", "seccomp")


def detect(uid: int, user_namespace: bool,
           disabled: tuple[str, ...] = ()) -> tuple[Layers, dict[str, str]]:
    """Try every layer not `disabled`; returns what works and, for each missing layer, why."""
    missing = {name: "disabled by configuration (execute.disable_layers)" for name in disabled}

    def probe(name: str, step: Callable[[], object]) -> bool:
        if name in disabled:
            return False
        error = _try(step)
        if error:
            missing[name] = error
        return error is None

    pid_ns = probe("pid_namespace", _probe_pid_namespace)
    uid_drop = False
    if os.geteuid() == 0 and not user_namespace:
        uid_drop = probe("uid_drop", lambda: drop_privileges(uid, keep_read_search=True))
    abi = landlock.abi_version()
    if not abi and "landlock" not in disabled:
        missing["landlock"] = "the kernel has no Landlock (Linux >= 5.13 with landlock in lsm=)"
    elif abi and not probe("landlock",
                           lambda: landlock.restrict(read_only_paths(), ["/tmp"], abi)):
        abi = 0
    unsupported = seccomp.supported()
    if unsupported and "seccomp" not in disabled:
        missing["seccomp"] = unsupported
    seccomp_ok = not unsupported and probe("seccomp", lambda: seccomp.install(os.getpid()))
    layers = Layers(pid_namespace=pid_ns, user_namespace=user_namespace and pid_ns,
                    uid_drop=uid_drop, landlock_abi=abi, seccomp=seccomp_ok)
    return layers, missing
