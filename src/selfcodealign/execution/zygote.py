"""The zygote: a small, warm Python process that forks one sandboxed child per program.

Started by the parent (`sandbox.py`) as `python -I` with an empty environment, it holds no
secrets or data. It pre-imports common stdlib modules and the harness, detects the isolation
layers once, then serves jobs over stdin/stdout (4-byte length + JSON). For each job it forks
one child, PID 1 of a new PID namespace, which applies the layers and runs the harness. The
zygote enforces the wall-clock deadline, caps the output it reads, kills the whole namespace,
removes the temp dir and answers with the result. Forking a warm interpreter is what makes
this faster than one `python3` per program, even with every layer on.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import importlib
import os
import select
import signal
import struct
import sys
import tempfile
import time
from typing import Any

import orjson

from selfcodealign.execution import harness, landlock, seccomp, verdict
from selfcodealign.execution.cleanup import empty_tree
from selfcodealign.execution.events import CHANNEL_FD
from selfcodealign.execution.isolation import (
    ChildLimits,
    PidNamespaces,
    Quota,
    apply_in_child,
    detect,
    die_with_parent,
    own_user_namespace,
    private_ipc,
    reachable,
    read_only_paths,
    redirect_fds,
    worker_mounts,
)
from selfcodealign.execution.prepare import Prepared, prepare

# The modules model-written programs import most. Heavy, rarely used ones (asyncio,
# unittest.mock, concurrent.futures, subprocess, logging) are left out on purpose: every
# preloaded megabyte makes each fork slower, and a program that needs them imports them itself.
PRELOAD = (
    "abc", "array", "ast", "base64", "bisect", "calendar", "collections", "collections.abc",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "enum", "fractions",
    "functools", "hashlib", "heapq", "io", "itertools", "json", "math", "numbers", "operator",
    "os", "random", "re", "statistics", "string", "struct", "textwrap", "threading", "time",
    "types", "typing", "unicodedata", "unittest", "weakref",
)
SETUP_FAILED = 125
QUOTA = Quota()
VERDICT_MAX = 1 << 20  # bytes of verdict read by default; a job may ask for more (outputs)
VERDICT_CEILING = 1 << 28


def read_msg(fd: int) -> Any:
    header = _read_exact(fd, 4)
    if header is None:
        return None
    body = _read_exact(fd, struct.unpack(">I", header)[0])
    return None if body is None else orjson.loads(body)


def write_msg(fd: int, obj: Any) -> None:
    data = orjson.dumps(obj)
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


class Zygote:
    def __init__(self, slot: int, base_uid: int, workdir: str, user_namespace: bool,
                 disabled: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.layers, self.missing = detect(base_uid + slot, user_namespace, disabled,
                                           os.path.join(workdir, f"probe-{slot}"))
        self.uid = base_uid + slot if self.layers.uid_drop else None
        self.spaces = PidNamespaces() if self.layers.pid_namespace else None
        abi = self.layers.landlock_abi
        # Each zygote has a folder of its own (with private mounts, its own tmpfs) where its
        # programs' temp dirs are made, emptied after each program. Every program gets a fresh
        # folder at the same path, so the environment is set once here: writing it in each
        # child would copy ~100 pages (~1 ms here).
        self.scratch = os.path.join(workdir, f"slot-{slot}")
        if self.layers.mount_namespace:
            worker_mounts(self.scratch, QUOTA)
        else:
            os.makedirs(self.scratch, 0o711, exist_ok=True)
        empty_tree(self.scratch)  # what a killed zygote left is not reused
        self.tmp = os.path.join(self.scratch, f"job-{slot}")
        os.environ.clear()
        os.environ.update(HOME=self.tmp, TMPDIR=self.tmp, PATH="/usr/local/bin:/usr/bin:/bin",
                          LANG="C.UTF-8")
        tempfile.tempdir = self.tmp
        shared = ["/dev/shm"] if self.layers.mount_namespace and os.path.isdir("/dev/shm") else []
        # The program's Landlock ruleset: read beneath Python's and the system's folders, write
        # in its temp dir, /dev/null and (with private mounts) /dev/shm. Built once when the
        # program runs as a uid of its own: it then cannot create anything in this zygote's
        # folder (root's, mode 0711) outside its temp dir, so writing beneath the folder is the
        # same as writing beneath the temp dir. Without that uid the rule must name the temp
        # dir itself, made anew for each program, so the ruleset is built for each program.
        self.read_only = landlock.open_paths(read_only_paths()) if abi else []
        self.writable = landlock.open_paths([os.devnull, *shared]) if abi else []
        self.ruleset = self._ruleset(self.scratch) if abi and self.uid is not None else None
        self.urandom = os.open("/dev/urandom", os.O_RDONLY | os.O_CLOEXEC)
        # The program is PID 1 of its namespace, so its seccomp filter can be built once.
        self.filters = {fork: seccomp.Prepared(seccomp.build_filter(1, allow_fork=fork,
                                                                    any_signal=fork))
                        for fork in (False, True)} if self.layers.seccomp and self.spaces else None

    def hello(self) -> dict[str, Any]:
        return {"layers": self.layers.describe(), "level": self.layers.level(),
                "missing": self.missing, "pid": os.getpid(), "python": sys.version.split()[0]}

    def _ruleset(self, folder: str) -> int | None:
        if not self.layers.landlock_abi:
            return None
        own = landlock.open_paths([folder])
        try:
            return landlock.build_ruleset(self.read_only, own + self.writable,
                                          self.layers.landlock_abi)
        finally:
            for fd, _ in own:
                os.close(fd)

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        prepared: Prepared | None = None
        tests_mode = job.get("calls") is None and job.get("inputs") is None
        if tests_mode:
            made = prepare(job["code"], job["tests"])  # parse and compile, no run
            if isinstance(made, dict):
                return verdict.without_run(made["status"], made["detail"])
            prepared = made
        tmp = self.tmp
        os.chmod(self.scratch, 0o711)  # whatever the last program did to it
        os.mkdir(tmp, 0o700)
        if self.uid is not None:
            os.chown(tmp, self.uid, self.uid)
        out_r, out_w = os.pipe()
        chan_r, chan_w = os.pipe()
        nonce_r, digest = _nonce_pipe(self.urandom)
        ruleset = self.ruleset if self.ruleset is not None else self._ruleset(tmp)
        start = time.monotonic()
        if self.spaces:
            self.spaces.before_fork()
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the sandboxed program
                self._child(job, tmp, out_w, chan_w, nonce_r, ruleset, prepared)
        finally:
            if self.spaces:
                self.spaces.after_fork()
        for fd in (out_w, chan_w, nonce_r):
            os.close(fd)
        if ruleset is not None and ruleset != self.ruleset:
            os.close(ruleset)
        del prepared
        try:
            verdict_max = min(int(job.get("verdict_max", VERDICT_MAX)), VERDICT_CEILING)
            result = self._watch(pid, out_r, chan_r, start + float(job["timeout_s"]),
                                 int(job.get("output_limit", 65536)), verdict_max)
            result.update(verdict.decide(result.pop("channel"), digest=digest,
                                         exit_code=result["exit_code"],
                                         killed=result.pop("killed"),
                                         cpu_exceeded=result.pop("cpu_exceeded"),
                                         need_checks=tests_mode))
        finally:
            os.close(out_r)
            os.close(chan_r)
            empty_tree(self.scratch)
            if self.layers.mount_namespace:
                empty_tree("/dev/shm")
        result["duration_s"] = round(time.monotonic() - start, 4)
        return result

    def _child(self, job: dict[str, Any], tmp: str, out_w: int, chan_w: int, nonce_r: int,
               ruleset: int | None, prepared: Prepared | None) -> None:
        try:
            os.setsid()
            die_with_parent()
            if self.layers.mount_namespace:
                private_ipc()
            redirect_fds(out_w, chan_w, nonce_r, ruleset)
            os.chdir(tmp)  # HOME, TMPDIR and tempfile.tempdir already point here
            timeout = float(job["timeout_s"])
            limits = ChildLimits(memory_mb=int(job["memory_mb"]), cpu_s=int(timeout) + 1)
            fork = job.get("profile") != "strict"  # "default" (and "fork") allow processes
            program_filter = None
            if self.filters is not None:
                program_filter = self.filters[fork]
            elif self.layers.seccomp:
                program_filter = seccomp.Prepared(seccomp.build_filter(os.getpid(),
                                                                       allow_fork=fork))
            apply_in_child(self.layers, limits, self.uid, has_ruleset=ruleset is not None,
                           seccomp_filter=program_filter)
            os.write(CHANNEL_FD, b"R\n")  # set up: from here on, the program is responsible
        except BaseException:
            os._exit(SETUP_FAILED)
        harness.run_and_report(job, prepared)

    def _watch(self, pid: int, out_r: int, chan_r: int, deadline: float, limit: int,
               verdict_max: int) -> dict[str, Any]:
        pidfd = os.pidfd_open(pid)
        output = _Output(limit)
        channel = bytearray()
        pipes, exited, killed = {out_r, chan_r}, False, None
        try:
            while pipes or not exited:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    killed = "timeout"
                    break
                watched = list(pipes) + ([] if exited else [pidfd])
                ready, _, _ = select.select(watched, [], [], remaining)
                for fd in ready:
                    if fd == pidfd:
                        exited = True
                        continue
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        pipes.discard(fd)
                    elif fd == out_r:
                        output.add(chunk)
                    else:
                        channel += chunk
                if len(channel) > verdict_max:
                    killed = "the channel carried more than its limit"
                    break
        finally:
            if killed:
                _kill(pid)
            # PID 1's exit completes only after the kernel has killed and reaped every other
            # process of its namespace, so once this returns nothing of the program is left.
            _, status = os.waitpid(pid, 0)
            os.close(pidfd)
        exit_code = _exit_code(status)
        return {"exit_code": exit_code, "output": output.text(),
                "output_bytes": output.total, "channel": bytes(channel), "killed": killed,
                "cpu_exceeded": exit_code == 128 + signal.SIGXCPU}


class _Output:
    """The program's output: the first `limit` bytes and the last 4 KiB are kept; what lies
    between is dropped with a marker (over-long output is not a failure)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.total = max(limit, 1024), 0
        self.head, self.tail = bytearray(), bytearray()

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail = (self.tail + chunk)[-4096:]

    def text(self) -> str:
        kept = bytes(self.head)
        if self.total > len(self.head) + len(self.tail):
            dropped = self.total - len(self.head) - len(self.tail)
            kept += f"\n[... {dropped} bytes of output dropped ...]\n".encode()
        kept += bytes(self.tail)
        return kept[-8000:].decode("utf-8", "replace")


def _nonce_pipe(urandom: int) -> tuple[int, bytes]:
    """A pipe holding 32 random bytes, and their SHA-256. The bytes go from /dev/urandom into a
    buffer, the pipe, the hash, and the buffer is zeroed: before the fork the zygote keeps only
    the hash, so a program's copy of the zygote's memory holds nothing it could send back."""
    read_end, write_end = os.pipe()
    buffer = bytearray(verdict.NONCE_BYTES)
    if os.readv(urandom, [buffer]) != len(buffer):
        raise OSError("short read from /dev/urandom")
    os.write(write_end, buffer)
    os.close(write_end)
    digest = hashlib.sha256(buffer).digest()
    buffer[:] = bytes(len(buffer))
    return read_end, digest


def _kill(pid: int) -> None:
    """Kill the program (PID 1 of its namespace, taking the namespace with it) and its group."""
    for kill in (os.kill, os.killpg):
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)


def _preload_pytest() -> None:
    """pytest and its default plugins, so pytest-style tests start in milliseconds."""
    try:
        import pytest  # noqa: F401
        from _pytest.config import default_plugins
    except ImportError:
        return
    for name in default_plugins:
        with contextlib.suppress(ImportError):
            importlib.import_module(f"_pytest.{name}")


def main() -> None:
    slot, base_uid, workdir, run_as = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                       int(sys.argv[4]))
    extra = tuple(name for name in sys.argv[5].split(",") if name)
    disabled = tuple(name for name in sys.argv[6].split(",") if name)
    for name in PRELOAD + extra:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    if "pytest" in extra:
        _preload_pytest()
    harness.install_hooks()
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):  # a failure shows as the python_access layer
            reachable([*read_only_paths(), workdir])
    if run_as >= 0:  # serve as an unprivileged user, as when the caller is not root
        os.setgroups([])
        os.setresgid(run_as, run_as, run_as)
        os.setresuid(run_as, run_as, run_as)
        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: own /proc/self again
    user_namespace = False
    if os.geteuid() != 0 and "pid_namespace" not in disabled:
        try:
            own_user_namespace()
            user_namespace = True
        except OSError:
            pass  # detect() reports the missing PID namespace
    zygote = Zygote(slot, base_uid, workdir, user_namespace, disabled)
    harness.hide_modules()  # once here rather than in every child (fewer page copies)
    gc.collect()
    gc.freeze()  # keep the preloaded heap shared with the children (fewer copy-on-write pages)
    write_msg(1, zygote.hello())
    while (job := read_msg(0)) is not None:
        try:
            answer = zygote.run_job(job)
        except Exception as exc:
            answer = {"status": "infra_error", "detail": f"zygote: {type(exc).__name__}: {exc}"}
        answer["id"] = job.get("id")
        write_msg(1, answer)


if __name__ == "__main__":
    main()
