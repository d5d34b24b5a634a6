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
3. As root: a per-slot unprivileged uid/gid and no capability at all (a Python installed under
   a private home is made reachable once per zygote by `reachable`, a tmpfs over the private
   folder with only Python bound back). In a user namespace: no capabilities.
4. Landlock (a ruleset the zygote built for this program's temp dir), then the seccomp
   deny-list (seccomp.py), built once since the program's pid is always 1.

`detect()` tries each layer in a throwaway child before any program runs, so a missing layer
(old kernel, no user namespaces, no Landlock) is reported, never silently skipped.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import secrets
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from selfcodealign.execution import landlock, seccomp

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 2, 4, 8, 0x4000, 1 << 18
_PR_SET_PDEATHSIG = 1
_CAP_VERSION_3 = 0x20080522
RULESET_FD = 4  # where the child finds its Landlock ruleset

_libc = ctypes.CDLL(None, use_errno=True)
# Resolved here, in the zygote: a forked child that looked them up itself would build the
# function objects in its own copy of the heap (page copies on every program).
for _name in ("prctl", "unshare", "setns", "mount", "capset"):
    getattr(_libc, _name)

SYSTEM_READ_ONLY = (
    "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo", "/etc/localtime",
    "/usr/lib/locale", "/dev/urandom", "/dev/random", "/dev/zero",
)


@dataclass(frozen=True)
class Layers:
    """Which layers a worker applies; detected once per worker at start-up."""

    pid_namespace: bool = False
    mount_namespace: bool = False  # tmpfs temp dir and /dev/shm, an IPC namespace per program
    user_namespace: bool = False  # the zygote owns a private user namespace (not root)
    uid_drop: bool = False
    landlock_abi: int = 0
    seccomp: bool = False
    python_access: bool = True  # the program's uid can read the Python installation

    def describe(self) -> dict[str, object]:
        return asdict(self)

    def level(self) -> str:
        """A one-word summary: full, partial or minimal."""
        on = [self.pid_namespace, self.mount_namespace, self.landlock_abi > 0, self.seccomp,
              self.uid_drop or self.user_namespace, self.python_access]
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


@dataclass(frozen=True)
class Quota:
    """Sizes of a program's private tmpfs mounts."""

    tmp_mb: int = 256
    tmp_inodes: int = 20_000
    shm_mb: int = 64


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    def arg(text: str | None) -> ctypes.c_char_p:
        return ctypes.c_char_p(text.encode() if text is not None else None)

    _check(_libc.mount(arg(source), arg(target), arg(fstype), ctypes.c_ulong(flags),
                       arg(data)), f"mount({target})")


def worker_mounts(scratch: str, quota: Quota) -> None:
    """In the zygote, once: its own mount namespace, with a size- and inode-limited tmpfs on
    the folder where its programs' temp dirs are made and another on /dev/shm (so
    multiprocessing works). The zygote runs one program at a time and empties both after
    each, so every program starts with the whole quota and nothing is shared or left on disk."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(mount)")
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing propagates to the host
    flags = _MS_NOSUID | _MS_NODEV
    os.makedirs(scratch, exist_ok=True)
    _mount("tmpfs", scratch, "tmpfs", flags, f"size={quota.tmp_mb}m,"
           f"nr_inodes={quota.tmp_inodes},mode=0711,uid={os.geteuid()},gid={os.getegid()}")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", flags | _MS_NOEXEC,
               f"size={quota.shm_mb}m,nr_inodes=4096,mode=1777")


def private_ipc() -> None:
    """In the program's own process: its own IPC namespace (System V objects and POSIX message
    queues are private and die with it)."""
    _check(_libc.unshare(CLONE_NEWIPC), "unshare(ipc)")


_MS_BIND = 0x1000


def _blocked(paths: list[str]) -> dict[str, set[str]]:
    """For each path, its highest ancestor that other users cannot traverse, and the entry
    below it on the way to the path: {"/root": {".pyenv"}}."""
    found: dict[str, set[str]] = {}
    for path in paths:
        parts = Path(path).parts
        for depth in range(1, len(parts) - 1):
            ancestor = os.path.join(*parts[:depth + 1])
            try:
                mode = os.stat(ancestor).st_mode
            except OSError:
                break
            if not mode & 0o001:
                found.setdefault(ancestor, set()).add(parts[depth + 1])
                break
    return found


def reachable(paths: list[str]) -> list[str]:
    """As root, before dropping privileges: make `paths` reachable by unprivileged uids
    without any capability. In the calling process's own mount namespace, each ancestor that
    others cannot traverse (a 0700 home holding Python) is covered by a small tmpfs where only
    the entries on the way to `paths` are bound back. Returns the ancestors covered."""
    blocked = _blocked(paths)
    if not blocked:
        return []
    _check(_libc.unshare(CLONE_NEWNS), "unshare(mount)")
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)
    for ancestor, entries in sorted(blocked.items()):
        kept = [(e, os.open(os.path.join(ancestor, e), os.O_PATH | os.O_CLOEXEC))
                for e in sorted(entries)]
        _mount("tmpfs", ancestor, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
        for entry, fd in kept:
            target = os.path.join(ancestor, entry)
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.mkdir(target)
            else:
                open(target, "w").close()
            _mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC, None)
            os.close(fd)
    return sorted(blocked)


def python_readable() -> None:
    """Raise unless this process can read the Python it runs and the standard library."""
    stdlib = os.path.dirname(os.__file__)
    os.listdir(stdlib)
    if not os.access(sys.executable, os.X_OK):
        raise PermissionError(f"cannot execute {sys.executable}")
    for path in read_only_paths():
        os.stat(path)


def _as_user(uid: int) -> None:
    drop_privileges(uid)
    python_readable()


def die_with_parent() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def redirect_fds(stdout_fd: int, channel_fd: int, nonce_fd: int, ruleset_fd: int | None
                 ) -> None:
    """stdin <- /dev/null, stdout/stderr -> output pipe, channel -> fd 3, ruleset -> fd 4, the
    nonce pipe at a random descriptor between 10 and 250 (its number is kept nowhere; the
    harness finds it by looking), every other descriptor closed."""
    nonce_at = 10 + secrets.randbelow(240)
    os.dup2(nonce_fd, 2000)  # out of the way of the dup2 calls below
    if ruleset_fd is not None:
        os.dup2(ruleset_fd, 2001)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stdout_fd, 2)
    os.dup2(channel_fd, 3)
    os.set_inheritable(3, False)
    os.dup2(2000, nonce_at)
    os.set_inheritable(nonce_at, False)
    keep = 4
    if ruleset_fd is not None:
        os.dup2(2001, RULESET_FD)
        keep = 5
    os.closerange(keep, nonce_at)
    os.closerange(nonce_at + 1, 65536)


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


_NO_CAPS = (ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)),
            (_CapData * 2)(_CapData(0, 0, 0), _CapData(0, 0, 0)))


def set_capabilities(mask: int) -> None:
    """Set effective and permitted capabilities to `mask` (bits 0-31), inheritable to none.
    No capability at all (the common case) uses structures made once, at import."""
    if mask == 0:
        header, data = _NO_CAPS
    else:
        header = ctypes.byref(_CapHeader(_CAP_VERSION_3, 0))
        data = (_CapData * 2)(_CapData(mask, mask, 0), _CapData(0, 0, 0))
    _check(_libc.capset(header, data), "capset")


def drop_privileges(uid: int) -> None:
    """As root: become `uid` with no capability at all."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    set_capabilities(0)


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
                   has_ruleset: bool, seccomp_filter: seccomp.Prepared | None) -> None:
    """Steps 2-4 in the program's own process (after its fds and cwd are set)."""
    # RLIMIT_NPROC counts the processes of the uid: a per-slot uid as root, and in a private
    # user namespace the processes of that namespace (Linux >= 5.14 counts per namespace).
    set_rlimits(limits, processes=uid is not None or layers.user_namespace)
    if uid is not None:
        drop_privileges(uid)
    elif layers.user_namespace:
        set_capabilities(0)
    if has_ruleset:
        landlock.restrict_self(RULESET_FD)
        os.close(RULESET_FD)
    if seccomp_filter is not None:
        seccomp_filter.install()


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


def _probe_mounts(scratch: str) -> None:
    worker_mounts(scratch, Quota(tmp_mb=1, tmp_inodes=16, shm_mb=1))
    with open(os.path.join(scratch, "probe"), "w") as fh:
        fh.write("ok")
    private_ipc()


LAYER_NAMES = ("pid_namespace", "mount_namespace", "uid_drop", "landlock", "seccomp")


def detect(uid: int, user_namespace: bool, disabled: tuple[str, ...] = (),
           scratch: str = "") -> tuple[Layers, dict[str, str]]:
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
    mounts = bool(scratch) and probe("mount_namespace", lambda: _probe_mounts(scratch))
    if scratch:
        with contextlib.suppress(OSError):
            os.rmdir(scratch)
    uid_drop = False
    if os.geteuid() == 0 and not user_namespace:
        uid_drop = probe("uid_drop", lambda: drop_privileges(uid))
        if uid_drop and "python_access" not in disabled:
            python = _try(lambda: _as_user(uid))
            if python:
                missing["python_access"] = f"uid {uid} cannot read the Python installation " \
                    f"({python}); programs can import only what the workers preloaded"
    elif "python_access" not in disabled:
        python = _try(python_readable)
        if python:
            missing["python_access"] = f"uid {os.getuid()} cannot read the Python installation" \
                f" ({python}); programs can import only what the workers preloaded"
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
    layers = Layers(pid_namespace=pid_ns, mount_namespace=mounts,
                    python_access="python_access" not in missing,
                    user_namespace=user_namespace and pid_ns,
                    uid_drop=uid_drop, landlock_abi=abi, seccomp=seccomp_ok)
    return layers, missing
