"""A seccomp-bpf deny-list, assembled by hand (no libseccomp needed), for x86_64 and aarch64.

The filter returns EPERM for system calls that a model-written program never needs and that
would reach outside the sandbox: tracing other processes, mounting, namespaces, BPF, io_uring,
perf, kernel keys, module loading, clock setting, file handles (the "shocker" escape), every
`socket()` call (pairs of connected sockets from `socketpair()` still work), and signals to any
process but itself. The default profile also refuses new processes and `execve`; threads still
work (clone with CLONE_THREAD). The `fork` profile allows processes and exec for programs that
need them. A foreign architecture or the x32 ABI kills the process.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06

_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CLONE_THREAD = 0x00010000

_ARCHES = {
    "x86_64": 0xC000003E,
    "aarch64": 0xC00000B7,
}

# Syscall numbers per architecture; None where the call does not exist.
_DENIED = [
    "ptrace", "mount", "umount2", "unshare", "setns", "bpf", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "perf_event_open", "keyctl", "add_key", "request_key", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "pivot_root", "chroot", "acct", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "syslog", "userfaultfd", "open_by_handle_at", "name_to_handle_at",
    "fanotify_init", "quotactl", "process_vm_readv", "process_vm_writev", "pidfd_open",
    "pidfd_send_signal", "pidfd_getfd", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "lookup_dcookie", "vhangup", "iopl", "ioperm", "kcmp",
    "socket", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "memfd_secret",
]
_PROCESS_CALLS = ["fork", "vfork", "execve", "execveat"]

_NR: dict[str, dict[str, int | None]] = {
    "x86_64": {
        "ptrace": 101, "mount": 165, "umount2": 166, "unshare": 272, "setns": 308, "bpf": 321,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "perf_event_open": 298, "keyctl": 250, "add_key": 248, "request_key": 249,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "pivot_root": 155,
        "chroot": 161, "acct": 163, "settimeofday": 164, "clock_settime": 227,
        "clock_adjtime": 305, "adjtimex": 159, "syslog": 103, "userfaultfd": 323,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "fanotify_init": 300,
        "quotactl": 179, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_open": 434,
        "pidfd_send_signal": 424, "pidfd_getfd": 438, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
        "mount_setattr": 442, "lookup_dcookie": 212, "vhangup": 153, "iopl": 172,
        "ioperm": 173, "kcmp": 312, "socket": 41, "tkill": 200, "rt_sigqueueinfo": 129,
        "rt_tgsigqueueinfo": 297, "memfd_secret": 447, "kill": 62, "tgkill": 234, "clone": 56,
        "clone3": 435, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322,
    },
    "aarch64": {
        "ptrace": 117, "mount": 40, "umount2": 39, "unshare": 97, "setns": 268, "bpf": 280,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "perf_event_open": 241, "keyctl": 219, "add_key": 217, "request_key": 218,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "pivot_root": 41,
        "chroot": 51, "acct": 89, "settimeofday": 170, "clock_settime": 112,
        "clock_adjtime": 266, "adjtimex": 171, "syslog": 116, "userfaultfd": 282,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "fanotify_init": 262,
        "quotactl": 60, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_open": 434,
        "pidfd_send_signal": 424, "pidfd_getfd": 438, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
        "mount_setattr": 442, "lookup_dcookie": 18, "vhangup": 58, "iopl": None,
        "ioperm": None, "kcmp": 272, "socket": 198, "tkill": 130, "rt_sigqueueinfo": 138,
        "rt_tgsigqueueinfo": 240, "memfd_secret": 447, "kill": 129, "tgkill": 131,
        "clone": 220, "clone3": 435, "fork": None, "vfork": None, "execve": 221,
        "execveat": 281,
    },
}


def supported() -> str | None:
    """None when this architecture is supported, else why not."""
    machine = platform.machine()
    return None if machine in _ARCHES else f"no seccomp table for architecture {machine}"


class _Asm:
    """A tiny BPF assembler with forward labels."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def _rel(self, pc: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        offset = self.labels[target] - pc - 1
        if not 0 <= offset < 256:
            raise ValueError(f"BPF jump to {target} out of range")
        return offset

    def assemble(self) -> bytes:
        return b"".join(
            struct.pack("=HBBI", code, self._rel(pc, jt), self._rel(pc, jf), k & 0xFFFFFFFF)
            for pc, (code, jt, jf, k) in enumerate(self.code)
        )


def build_filter(own_pid: int, *, allow_fork: bool = False, any_signal: bool = False,
                 machine: str | None = None) -> bytes:
    """The BPF program for this process (`own_pid` is the only pid it may signal, unless
    `any_signal`: inside its own PID namespace a program sees only its own processes, and
    multiprocessing must be able to stop its workers)."""
    machine = machine or platform.machine()
    table = _NR[machine]

    def nr(name: str) -> int:
        number = table[name]
        assert number is not None, name
        return number

    a = _Asm()
    a.op(_LD_W_ABS, 4)  # seccomp_data.arch
    a.op(_JEQ, _ARCHES[machine], 0, "kill")
    a.op(_LD_W_ABS, 0)  # seccomp_data.nr
    if machine == "x86_64":
        a.op(_JGE, 0x40000000, "kill", 0)  # x32 ABI
    a.op(_JEQ, nr("clone3"), "enosys", 0)  # glibc falls back to clone, whose flags we can see
    denied = list(_DENIED) + ([] if allow_fork else _PROCESS_CALLS)
    for name in denied:
        if table[name] is not None:  # a call this architecture lacks needs no rule
            a.op(_JEQ, nr(name), "eperm", 0)
    if not any_signal:
        a.op(_JEQ, nr("kill"), "signal", 0)
        a.op(_JEQ, nr("tgkill"), "signal", 0)
    if not allow_fork:
        a.op(_JEQ, nr("clone"), "clone", 0)
    a.op(_RET, _RET_ALLOW)
    a.label("signal")  # kill(pid, sig) / tgkill(tgid, tid, sig): only to itself
    a.op(_LD_W_ABS, 16)  # args[0], low 32 bits
    a.op(_JEQ, own_pid, "allow", "eperm")
    if not allow_fork:
        a.label("clone")  # threads only
        a.op(_LD_W_ABS, 16)
        a.op(_JSET, _CLONE_THREAD, "allow", "eperm")
    a.label("allow")
    a.op(_RET, _RET_ALLOW)
    a.label("eperm")
    a.op(_RET, _RET_ERRNO | errno.EPERM)
    a.label("enosys")
    a.op(_RET, _RET_ERRNO | errno.ENOSYS)
    a.label("kill")
    a.op(_RET, _RET_KILL_PROCESS)
    return a.assemble()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl  # noqa: B018 - resolved in the zygote, not in each child


class Prepared:
    """A built filter in the memory layout the kernel reads, made once (in the zygote): the
    child only makes two prctl calls, allocating nothing (each new object a forked child makes
    costs it page copies)."""

    def __init__(self, program: bytes) -> None:
        self.buffer = ctypes.create_string_buffer(program, len(program))
        self.prog = _SockFprog(len(program) // 8, ctypes.cast(self.buffer, ctypes.c_void_p))
        self.ref = ctypes.byref(self.prog)

    def install(self) -> None:
        """Set no_new_privs and install the filter on the calling thread (irreversible)."""
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, self.ref, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def install_program(program: bytes) -> None:
    """Set no_new_privs and install a built filter on the calling thread (irreversible)."""
    Prepared(program).install()


def install(own_pid: int, *, allow_fork: bool = False) -> None:
    """Build and install the filter for a process whose pid is `own_pid`."""
    install_program(build_filter(own_pid, allow_fork=allow_fork))
