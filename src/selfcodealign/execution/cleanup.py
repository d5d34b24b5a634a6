"""Removing whatever tree a program left behind, whatever its shape, without ever raising.

A program may leave thousands of nested folders (deeper than PATH_MAX, deeper than Python's
recursion limit), folders without permissions, symlinks to elsewhere, fifos. `remove_tree`
walks with directory descriptors (`openat`, never a long path), iteratively, restoring the
permission to enter a folder on the way, and never follows a symlink. When the walk gets deep it
moves the deepest folder up to the top and carries on from there, so it holds at most `_DEPTH`
descriptors. Safe in a multithreaded process (no chdir).
"""

from __future__ import annotations

import contextlib
import itertools
import os

_DEPTH = 32
_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(name: str, dir_fd: int) -> int | None:
    with contextlib.suppress(OSError):
        os.chmod(name, 0o700, dir_fd=dir_fd)
    try:
        return os.open(name, _FLAGS, dir_fd=dir_fd)
    except OSError:
        return None


def _first_subdir(fd: int) -> str | None:
    """Unlink every non-folder entry of the folder at `fd`; return one subfolder, if any."""
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        return entry.name
                    os.unlink(entry.name, dir_fd=fd)
                except OSError:
                    continue
    except OSError:
        return None
    return None


def _empty(root: int) -> None:
    moved = itertools.count()
    stack: list[tuple[int, str]] = [(root, "")]  # (descriptor, name in the folder above)
    stuck: set[tuple[int, str]] = set()
    while stack:
        fd, _ = stack[-1]
        sub = _first_subdir(fd)
        if sub is not None and (len(stack), sub) in stuck:
            sub = None  # a folder that can be neither entered nor removed: leave it
        if sub is not None and len(stack) >= _DEPTH:
            try:  # too deep: carry on with this folder from the top
                os.rename(sub, f".deep-{next(moved)}", src_dir_fd=fd, dst_dir_fd=root)
                continue
            except OSError:
                pass
        child = _open_dir(sub, fd) if sub is not None else None
        if child is not None and sub is not None:
            stack.append((child, sub))
            continue
        if sub is not None:
            try:
                os.rmdir(sub, dir_fd=fd)
            except OSError:
                stuck.add((len(stack), sub))
            continue
        fd, name = stack.pop()
        if stack:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=stack[-1][0])


def empty_tree(path: str) -> None:
    """Remove everything inside the folder `path`, keeping the folder itself."""
    try:
        root = os.open(path, _FLAGS)
    except OSError:
        return
    try:
        _empty(root)
    finally:
        os.close(root)


def remove_tree(path: str) -> None:
    """Remove `path` and everything below it; a file or symlink is simply unlinked."""
    try:
        root = os.open(path, _FLAGS)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    try:
        _empty(root)
    finally:
        os.close(root)
    with contextlib.suppress(OSError):
        os.rmdir(path)
