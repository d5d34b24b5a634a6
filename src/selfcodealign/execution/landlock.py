"""Landlock (Linux >= 5.13) through raw system calls: filesystem, TCP and scope rules.

A ruleset handles every access right the running kernel knows (its ABI version) and grants:
read and execute beneath the Python installation and the system library and zoneinfo folders;
everything beneath the program's private temp dir; nothing else. From ABI 4, TCP bind and
connect are handled and never granted; from ABI 6, abstract unix sockets and signals are scoped
to the sandbox. Once restricted, a process and its children can never regain access.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446  # same on every architecture
_CREATE_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1 = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE | _IOCTL_DEV
_NET_TCP = (1 << 0) | (1 << 1)  # BIND_TCP | CONNECT_TCP
_SCOPE_ALL = (1 << 0) | (1 << 1)  # ABSTRACT_UNIX_SOCKET | SIGNAL

READ_ONLY = EXECUTE | READ_FILE | READ_DIR

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl  # noqa: B018 - resolved in the zygote, not in each child


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    version = _libc.syscall(_SYS_CREATE, None, ctypes.c_size_t(0), _CREATE_VERSION)
    return max(int(version), 0)


def _handled_fs(abi: int) -> int:
    fs = _FS_ABI1
    if abi >= 2:
        fs |= _REFER
    if abi >= 3:
        fs |= _TRUNCATE
    if abi >= 5:
        fs |= _IOCTL_DEV
    return fs


def open_paths(paths: Iterable[str]) -> list[tuple[int, bool]]:
    """Open each existing path once (O_PATH), for rules built many times: [(fd, is_dir)]."""
    opened = []
    for path in paths:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # a path that does not exist needs no rule
        opened.append((fd, os.path.isdir(path)))
    return opened


def build_ruleset(read_only: list[tuple[int, bool]], read_write: list[tuple[int, bool]],
                  abi: int) -> int:
    """A ruleset fd granting read+execute on `read_only` and everything on `read_write`."""
    if abi < 1:
        raise OSError("Landlock is not available")
    fs = _handled_fs(abi)
    attr = _RulesetAttr(fs, _NET_TCP if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = int(_libc.syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), 0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        _add(ruleset, read_only, READ_ONLY & fs)
        _add(ruleset, read_write, fs)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def _add(ruleset: int, paths: list[tuple[int, bool]], access: int) -> None:
    for fd, is_dir in paths:
        rule = _PathBeneath(access if is_dir else access & _FILE_ONLY, fd)
        if _libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_add_rule failed")


def restrict_self(ruleset: int) -> None:
    """Enforce `ruleset` on the calling process (and its future children), for good."""
    if _libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, required by Landlock
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if _libc.syscall(_SYS_RESTRICT, ctypes.c_int(ruleset), 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")


def restrict(read_only: Iterable[str], read_write: Iterable[str], abi: int) -> None:
    """Build and enforce a ruleset from paths in one go (used by the start-up probe)."""
    ro, rw = open_paths(read_only), open_paths(read_write)
    try:
        ruleset = build_ruleset(ro, rw, abi)
        try:
            restrict_self(ruleset)
        finally:
            os.close(ruleset)
    finally:
        for fd, _ in ro + rw:
            os.close(fd)
