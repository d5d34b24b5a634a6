"""The local sandbox: a pool of zygote workers, a result cache, and retries of infra errors.

`LocalSandbox(workers=N)` starts N zygotes (one per core by default), each a separate Python
process with an empty environment. `run(program)` checks the tests' syntax in the parent
(parsing is safe), looks up the cache, then hands the job to a free zygote. Only `infra_error`
(the sandbox failed, not the program) is retried, on a fresh zygote. `run_many` runs a batch on
all workers at once. The isolation layers the zygotes found are logged once at start-up and
available from `describe()` for the run manifest.
"""

from __future__ import annotations

import ast
import logging
import os
import queue
import select
import stat
import subprocess
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from selfcodealign.codeblocks import parse_python
from selfcodealign.errors import SelfCodeAlignError
from selfcodealign.execution import verdict
from selfcodealign.execution.base import ExecResult, Limits, Program, Status
from selfcodealign.execution.cleanup import remove_tree
from selfcodealign.execution.oracle import extract_calls
from selfcodealign.execution.pytest_plugin import uses_pytest
from selfcodealign.execution.zygote import read_msg, write_msg
from selfcodealign.processes import alive

log = logging.getLogger(__name__)

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
_BOOT = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
         "from selfcodealign.execution.zygote import main; main()")
_START_TIMEOUT_S = 60.0
_SLACK_S = 10.0  # the zygote enforces the deadline; this only catches a stuck zygote


class SandboxError(SelfCodeAlignError):
    """The sandbox could not start."""


class _WorkerDied(Exception):
    pass


class _Worker:
    """One zygote process and the pipes to it."""

    def __init__(self, slot: int, base_uid: int, workdir: str, run_as: int | None,
                 preload: tuple[str, ...], disabled: tuple[str, ...]) -> None:
        self.slot = slot
        self.pytest = "pytest" in preload
        env = {k: v for k, v in os.environ.items() if k == "LD_LIBRARY_PATH"}
        # The zygote's own errors (not its programs' output) go to a file, so that a zygote
        # that dies at start (an import it cannot make under `python -I`, say) is explained.
        with tempfile.TemporaryFile() as errors:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, _PACKAGE_PARENT, str(slot), str(base_uid),
                 workdir, str(run_as if run_as is not None else -1), ",".join(preload),
                 ",".join(disabled)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                env=env, cwd=workdir, close_fds=True,
            )
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self._in, self._out = self.proc.stdin.fileno(), self.proc.stdout.fileno()
            try:
                self.hello = self._receive(_START_TIMEOUT_S)
            except _WorkerDied as exc:
                errors.seek(0)
                lines = [line for line in errors.read()[-4000:].decode(errors="replace")
                         .splitlines() if line.strip()]
                raise _WorkerDied(f"{exc}: {lines[-1].strip()}" if lines else str(exc)) from None

    def _receive(self, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self._out], [], [], timeout)
        message = read_msg(self._out) if ready else None
        if not isinstance(message, dict):
            self.close()
            raise _WorkerDied("the zygote stopped answering")
        return message

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        try:
            write_msg(self._in, job)
        except OSError as exc:
            raise _WorkerDied(str(exc)) from None
        return self._receive(float(job["timeout_s"]) + _SLACK_S)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


WORKDIR_PREFIX = "selfcodealign-sandbox-"
OWNER_FILE = ".owner-pid"


def sweep_stale_workdirs(tmp: str | None = None, *, unmarked_age_s: float = 3600.0) -> int:
    """Remove the work folders of sandboxes whose process is gone (a SIGKILL leaves its folder
    behind): ours only, marked with a dead owner pid, or unmarked and older than an hour (made
    by an older version). Returns how many were removed; never raises."""
    removed = 0
    root = tmp or tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(WORKDIR_PREFIX)]
    except OSError:
        return 0
    for name in names:
        path = os.path.join(root, name)
        try:
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            try:
                with open(os.path.join(path, OWNER_FILE)) as fh:
                    owner: int | None = int(fh.read().strip() or "0")
            except FileNotFoundError:
                owner = None
            if owner is not None and owner > 0 and alive(owner):
                continue
            if owner is None and time.time() - info.st_mtime < unmarked_age_s:
                continue
        except (OSError, ValueError):
            continue
        remove_tree(path)
        removed += 1
    return removed


class SandboxFront(ABC):
    """What every sandbox does around running a job: parse the tests, oracle mode,
    the result cache keyed by program hash (identical programs run once), retries of
    infrastructure errors only, benchmark-mode calls, and batches on a thread pool. Where a job
    runs is `_dispatch`: local zygotes (LocalSandbox) or sandbox actors on a Ray cluster
    (distributed.sandbox.RaySandbox)."""

    def __init__(self, limits: Limits | None, *, oracle: bool, retries: int,
                 cache_size: int) -> None:
        self.limits = limits or Limits()
        self.oracle = oracle
        self.retries = retries
        self._cache: OrderedDict[str, ExecResult] = OrderedDict()
        self._running: dict[str, Future[ExecResult]] = {}
        self._lock = threading.Lock()
        self._cache_size = cache_size
        self._pool: ThreadPoolExecutor | None = None

    @property
    @abstractmethod
    def workers(self) -> int:
        """How many programs run at once."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """For the run manifest: isolation level, layers, workers."""

    @abstractmethod
    def _dispatch(self, job: dict[str, Any]) -> ExecResult:
        """Run one job somewhere; a failure of the machinery is an INFRA_ERROR result."""

    @staticmethod
    def _precheck(program: Program) -> ExecResult | ast.Module:
        """A result decided without running (the tests do not parse), or the tests' AST."""
        # The implementation's syntax is checked where it is compiled, in the sandbox; the
        # tests are parsed here because oracle mode needs their AST anyway.
        try:
            return parse_python(program.tests)
        except (SyntaxError, ValueError) as exc:
            return verdict.unparsable_tests(exc)

    def run(self, program: Program, limits: Limits | None = None) -> ExecResult:
        limits = limits or self.limits
        tests_tree = self._precheck(program)
        if isinstance(tests_tree, ExecResult):
            return tests_tree
        calls = extract_calls(tests_tree) if self.oracle else None
        key = program.key(limits, oracle=calls is not None)
        with self._lock:  # identical programs run once, even when they arrive together
            cached = self._cache.get(key)
            running = self._running.get(key)
            if cached is None and running is None:
                running = self._running[key] = Future()
                owner = True
            else:
                owner = False
        if cached is not None:
            return replace(cached, cached=True)
        assert running is not None
        if not owner:
            return replace(running.result(), cached=True)
        try:
            result = self._execute(program, limits, calls, tests_tree)
        except BaseException as exc:
            with self._lock:
                self._running.pop(key, None)
            running.set_exception(exc)
            raise
        with self._lock:
            self._running.pop(key, None)
            self._remember(key, result)
        running.set_result(result)
        return result

    def _remember(self, key: str, result: ExecResult) -> None:
        if result.status is not Status.INFRA_ERROR:
            self._cache[key] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _execute(self, program: Program, limits: Limits, calls: list[tuple[str, Any]] | None,
                 tree: ast.Module) -> ExecResult:
        job = {"code": program.code, "tests": program.tests, "timeout_s": limits.timeout_s,
               "memory_mb": limits.memory_mb, "output_limit": limits.output_limit,
               "profile": limits.profile, "pytest": uses_pytest(tree)}
        if calls is not None:  # the expected values stay here; the imports go along
            imports = [ast.unparse(s) for s in tree.body if isinstance(s, ast.Import |
                                                                        ast.ImportFrom)]
            job.update(tests="\n".join(imports), calls=[call for call, _ in calls])
        result = ExecResult(Status.INFRA_ERROR)
        for _ in range(self.retries + 1):
            result = self._dispatch(job)
            if result.status is not Status.INFRA_ERROR:
                break
        return verdict.oracle(result, calls) if calls is not None else result

    def call(self, code: str, entry_point: str, inputs: list[Any], time_limits: list[float],
             *, timeout_s: float, limits: Limits | None = None,
             verdict_max: int = 1 << 26, output_budget: int | None = None,
             keep_floats: bool = True) -> ExecResult:
        """Benchmark mode: run `code`, call `entry_point` on each input (`oracle.encode`d
        argument lists), each under its own time limit. `extra["returns"]` holds the encoded
        outputs (or `{"raised": ...}` / `{"timeout": ...}` for the call that ended the run) and
        `extra["times"]` the seconds per call; comparing them is the caller's business, so
        expected values never enter the sandbox. An output over `output_budget` parts comes
        back as its digest (`oracle.encode_output`; `keep_floats`: floats always whole).
        Not cached; infrastructure errors retried."""
        limits = limits or self.limits
        job = {"code": code, "tests": "", "entry_point": entry_point, "inputs": inputs,
               "time_limits": time_limits, "timeout_s": timeout_s,
               "memory_mb": limits.memory_mb, "output_limit": limits.output_limit,
               "profile": limits.profile, "verdict_max": verdict_max,
               "keep_floats": keep_floats}
        if output_budget is not None:
            job["output_budget"] = output_budget
        result = ExecResult(Status.INFRA_ERROR)
        for _ in range(self.retries + 1):
            result = self._dispatch(job)
            if result.status is not Status.INFRA_ERROR:
                break
        result.mode = "inputs"
        return result

    def run_many(self, programs: Iterable[Program],
                 limits: Limits | None = None) -> Iterator[ExecResult]:
        """Run programs on all workers; results come back in input order."""
        assert self._pool is not None, "the sandbox is closed"
        return self._pool.map(lambda p: self.run(p, limits), programs)

    @abstractmethod
    def close(self) -> None:
        """Stop the workers."""

    def __enter__(self) -> SandboxFront:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_pool(self) -> None:
        # Twice as many threads as workers: a job is parsed and encoded while its worker is
        # still busy with the previous one, so no worker waits for the parent.
        self._pool = ThreadPoolExecutor(max_workers=2 * max(1, self.workers),
                                        thread_name_prefix="sandbox")

class LocalSandbox(SandboxFront):
    """Hardened local execution on a pool of zygotes (see zygote.py and isolation.py)."""

    def __init__(self, workers: int = 0, limits: Limits | None = None, *,
                 oracle: bool = True, base_uid: int = 61000, run_as: int | None = None,
                 preload: tuple[str, ...] = (), disable_layers: tuple[str, ...] = (),
                 cache_size: int = 200_000, retries: int = 2) -> None:
        """`oracle`: use oracle-outside mode for tests that fit it. `base_uid`: as root,
        programs run as uid base_uid + worker slot. `run_as`: start the workers as this
        unprivileged uid (root only), as if the caller were not root. `preload`: modules the
        workers import once, on top of the common stdlib ones (e.g. numpy). `disable_layers`:
        layers to leave off on purpose (reported as missing, like any other)."""
        if sys.platform != "linux" or not hasattr(os, "pidfd_open"):
            raise SandboxError("the local sandbox needs Linux >= 5.3 (pidfd, namespaces); "
                               f"this is {sys.platform}")
        super().__init__(limits, oracle=oracle, retries=retries, cache_size=cache_size)
        self.base_uid = base_uid
        self.run_as = run_as
        self.preload = tuple(preload)
        self.disable_layers = tuple(disable_layers)
        sweep_stale_workdirs()
        self.workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
        with open(os.path.join(self.workdir, OWNER_FILE), "w") as fh:
            fh.write(str(os.getpid()))
        os.chmod(self.workdir, 0o711)  # per-slot uids reach their own job folders only
        if run_as is not None:
            os.chown(self.workdir, run_as, run_as)
        count = workers or os.cpu_count() or 1
        self._count = count
        self._free: queue.Queue[_Worker] = queue.Queue()
        # Zygotes with pytest preloaded, started on the first pytest-style tests: pytest makes
        # every fork ~3 ms slower, so plain tests never pay for it.
        self._free_pytest: queue.Queue[_Worker] | None = None
        self._spawn_lock = threading.Lock()
        self._all: list[_Worker] = []
        try:
            for slot in range(count):
                self._add(slot)
        except _WorkerDied as exc:
            self.close()
            raise SandboxError(f"the sandbox could not start a worker: {exc}") from None
        hello = self._all[0].hello
        self.layers: dict[str, Any] = hello["layers"]
        self.missing: dict[str, str] = hello["missing"]
        self.level: str = hello["level"]
        if self.missing:
            log.warning("sandbox isolation is %s; missing layers: %s", self.level,
                        "; ".join(f"{k}: {v}" for k, v in self.missing.items()))
        else:
            log.info("sandbox isolation is full: %s", self.layers)
        self._start_pool()

    @property
    def workers(self) -> int:
        return len(self._all)

    def _spawn(self, slot: int, pytest: bool = False) -> _Worker:
        preload = (*self.preload, "pytest") if pytest else self.preload
        worker = _Worker(slot, self.base_uid, self.workdir, self.run_as, preload,
                         self.disable_layers)
        self._all.append(worker)
        return worker

    def _add(self, slot: int) -> None:
        self._free.put(self._spawn(slot))

    def _pool_for(self, job: dict[str, Any]) -> queue.Queue[_Worker]:
        if not job.get("pytest"):
            return self._free
        with self._spawn_lock:
            if self._free_pytest is None:
                free: queue.Queue[_Worker] = queue.Queue()
                # Slots after the plain ones: as root, each zygote has its own uid.
                for slot in range(self._count, 2 * self._count):
                    free.put(self._spawn(slot, pytest=True))
                self._free_pytest = free
            return self._free_pytest

    def describe(self) -> dict[str, Any]:
        """For the run manifest: isolation level, layers on, and why any is missing."""
        return {"level": self.level, "layers": self.layers, "missing": self.missing,
                "workers": self.workers}

    def _dispatch(self, job: dict[str, Any]) -> ExecResult:
        try:
            pool = self._pool_for(job)
        except _WorkerDied as exc:
            return ExecResult(Status.INFRA_ERROR, detail=f"a pytest worker did not start: {exc}")
        worker: _Worker | None = pool.get()
        assert worker is not None
        try:
            return ExecResult.from_zygote(worker.run(job))
        except _WorkerDied as exc:
            worker.close()
            self._all.remove(worker)
            try:
                worker = self._spawn(worker.slot, worker.pytest)
            except _WorkerDied:
                worker = None  # the pool shrinks; the next dispatch still finds the others
            return ExecResult(Status.INFRA_ERROR, detail=f"zygote died: {exc}")
        finally:
            if worker is not None:
                pool.put(worker)

    def close(self) -> None:
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None:
            pool.shutdown(wait=True)
        for worker in self._all:
            worker.close()
        self._all.clear()
        remove_tree(self.workdir)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
