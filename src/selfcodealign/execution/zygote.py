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
import importlib
import os
import secrets
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from typing import Any

import orjson

from selfcodealign.execution import harness, landlock, seccomp
from selfcodealign.execution.isolation import (
    ChildLimits,
    PidNamespaces,
    apply_in_child,
    detect,
    die_with_parent,
    own_user_namespace,
    read_only_paths,
    redirect_fds,
)

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
        self.layers, self.missing = detect(base_uid + slot, user_namespace, disabled)
        self.uid = base_uid + slot if self.layers.uid_drop else None
        self.spaces = PidNamespaces() if self.layers.pid_namespace else None
        abi = self.layers.landlock_abi
        self.read_only = landlock.open_paths(read_only_paths()) if abi else []
        self.devnull = landlock.open_paths([os.devnull]) if abi else []
        # The program is PID 1 of its namespace, so its seccomp filter can be built once.
        self.filters = {fork: seccomp.build_filter(1, allow_fork=fork) for fork in (False, True)
                        } if self.layers.seccomp and self.spaces else None

    def hello(self) -> dict[str, Any]:
        return {"layers": self.layers.describe(), "level": self.layers.level(),
                "missing": self.missing, "pid": os.getpid(), "python": sys.version.split()[0]}

    def _ruleset(self, tmp: str) -> int | None:
        if not self.layers.landlock_abi:
            return None
        own = landlock.open_paths([tmp])
        try:
            return landlock.build_ruleset(self.read_only, own + self.devnull,
                                          self.layers.landlock_abi)
        finally:
            for fd, _ in own:
                os.close(fd)

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        tmp = tempfile.mkdtemp(prefix="p", dir=self.workdir)
        if self.uid is not None:
            os.chown(tmp, self.uid, self.uid)
        out_r, out_w = os.pipe()
        ver_r, ver_w = os.pipe()
        ruleset = self._ruleset(tmp)
        nonce = secrets.token_hex(16)
        start = time.monotonic()
        if self.spaces:
            self.spaces.before_fork()
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the sandboxed program
                self._child(job, tmp, out_w, ver_w, ruleset, nonce)
        finally:
            if self.spaces:
                self.spaces.after_fork()
        for fd in (out_w, ver_w, *([ruleset] if ruleset is not None else [])):
            os.close(fd)
        try:
            verdict_max = min(int(job.get("verdict_max", VERDICT_MAX)), VERDICT_CEILING)
            result = self._watch(pid, out_r, ver_r, start + float(job["timeout_s"]),
                                 int(job.get("output_limit", 65536)), nonce, verdict_max)
        finally:
            os.close(out_r)
            os.close(ver_r)
            shutil.rmtree(tmp, ignore_errors=True)
        result["duration_s"] = round(time.monotonic() - start, 4)
        return result

    def _child(self, job: dict[str, Any], tmp: str, out_w: int, ver_w: int,
               ruleset: int | None, nonce: str) -> None:
        try:
            os.setsid()
            die_with_parent()
            redirect_fds(out_w, ver_w, ruleset)
            os.chdir(tmp)
            os.environ.clear()
            os.environ.update(HOME=tmp, TMPDIR=tmp, PATH="/usr/local/bin:/usr/bin:/bin",
                              LANG="C.UTF-8")
            tempfile.tempdir = tmp
            timeout = float(job["timeout_s"])
            limits = ChildLimits(memory_mb=int(job["memory_mb"]), cpu_s=int(timeout) + 1)
            fork = job.get("profile") == "fork"
            program_filter = None
            if self.filters is not None:
                program_filter = self.filters[fork]
            elif self.layers.seccomp:
                program_filter = seccomp.build_filter(os.getpid(), allow_fork=fork)
            apply_in_child(self.layers, limits, self.uid, has_ruleset=ruleset is not None,
                           seccomp_filter=program_filter)
        except BaseException:
            os._exit(SETUP_FAILED)
        harness.run_and_report(job, nonce)

    def _watch(self, pid: int, out_r: int, ver_r: int, deadline: float, limit: int,
               nonce: str, verdict_max: int) -> dict[str, Any]:
        pidfd = os.pidfd_open(pid)
        output, verdict = bytearray(), bytearray()
        pipes, exited, killed = {out_r, ver_r}, False, None
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
                        output += chunk
                    else:
                        verdict += chunk
                if len(output) > limit:
                    killed = "output_limit"
                elif len(verdict) > verdict_max:
                    killed = "tamper"
                if killed:
                    break
        finally:
            if killed:
                _kill(pid)
            # PID 1's exit completes only after the kernel has killed and reaped every other
            # process of its namespace, so once this returns nothing of the program is left.
            _, status = os.waitpid(pid, 0)
            os.close(pidfd)
        return _classify(killed, bytes(verdict), nonce, _exit_code(status), output, limit)


def _kill(pid: int) -> None:
    """Kill the program (PID 1 of its namespace, taking the namespace with it) and its group."""
    for kill in (os.kill, os.killpg):
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)


def _classify(killed: str | None, verdict: bytes, nonce: str, exit_code: int,
              output: bytearray, limit: int) -> dict[str, Any]:
    tail = bytes(output[-4000:]).decode("utf-8", "replace")
    result: dict[str, Any] = {"exit_code": exit_code, "output": tail,
                              "output_bytes": len(output)}
    if killed:
        detail = {"timeout": "wall-clock deadline reached",
                  "output_limit": f"output passed {limit} bytes",
                  "tamper": "oversized verdict"}[killed]
        return {**result, "status": killed, "detail": detail}
    if not verdict:
        if exit_code == SETUP_FAILED:
            return {**result, "status": "infra_error", "detail": "sandbox setup failed"}
        if exit_code == 128 + signal.SIGXCPU:
            return {**result, "status": "timeout", "detail": "CPU time limit reached"}
        return {**result, "status": "error",
                "detail": f"exited before the verdict (exit code {exit_code})"}
    try:
        data = orjson.loads(verdict)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or data.pop("nonce", None) != nonce:
        return {**result, "status": "tamper", "detail": "forged or damaged verdict"}
    return {**result, **data}


def main() -> None:
    slot, base_uid, workdir, run_as = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                       int(sys.argv[4]))
    extra = tuple(name for name in sys.argv[5].split(",") if name)
    disabled = tuple(name for name in sys.argv[6].split(",") if name)
    harness.install_hooks()
    for name in PRELOAD + extra:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
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
