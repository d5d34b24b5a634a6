"""Execution vocabulary: statuses, limits, the result of one run, and the Sandbox protocol."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Protocol

HARNESS_VERSION = "2"


class Status(str, Enum):
    """How a program ended. Only PASSED means its own tests really ran and succeeded."""

    PASSED = "passed"
    FAILED = "failed"  # an assert or a unittest check failed
    ERROR = "error"  # an exception, or exited before the verdict
    SYNTAX_ERROR = "syntax_error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    OUTPUT_LIMIT = "output_limit"  # no longer produced (over-long output is truncated)
    NO_TESTS_RAN = "no_tests_ran"  # no check ran
    SUSPECT = "suspect"  # no longer produced (tests are judged by what happens, not lint)
    TAMPER = "tamper"  # a forged or malformed verdict, or the program patched what decides it
    INFRA_ERROR = "infra_error"  # the sandbox failed, not the program (retried)


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 4096
    output_limit: int = 65536
    # "default": processes allowed (multiprocessing, subprocess of the sandboxed Python), at
    # most ChildLimits.processes of them, all inside the program's PID namespace; "strict": no
    # new processes and no exec. "fork" is the former name of "default".
    profile: str = "default"


@dataclass(frozen=True)
class Program:
    """What runs: the implementation and its tests, as two compiled units."""

    code: str
    tests: str

    def key(self, limits: Limits, *, oracle: bool = False) -> str:
        """Cache key: identical program, tests, harness, limits and mode give identical results."""
        h = hashlib.sha256()
        for part in (HARNESS_VERSION, self.code, self.tests, repr(limits), str(oracle)):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        return h.hexdigest()[:32]


@dataclass
class ExecResult:
    status: Status
    duration_s: float = 0.0
    asserts: int = 0
    tests_run: int = 0
    detail: str = ""
    output: str = ""
    exit_code: int | None = None
    mode: str = "inline"
    findings: list[str] = field(default_factory=list)
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_zygote(cls, answer: dict[str, Any]) -> ExecResult:
        """The zygote's answer (already validated by verdict.decide); never raises."""
        try:
            status = Status(answer.get("status"))
        except ValueError:
            status = Status.INFRA_ERROR
        known = {"status", "duration_s", "asserts", "tests_run", "detail", "output",
                 "exit_code", "id", "findings"}
        findings = answer.get("findings")
        return cls(
            status=status,
            duration_s=_number(answer.get("duration_s"), float),
            asserts=_number(answer.get("asserts"), int),
            tests_run=_number(answer.get("tests_run"), int),
            detail=str(answer.get("detail", ""))[-2000:],
            output=str(answer.get("output", "")),
            exit_code=answer.get("exit_code") if type(answer.get("exit_code")) is int else None,
            findings=[str(f) for f in findings] if isinstance(findings, list) else [],
            extra={k: v for k, v in answer.items() if k not in known},
        )


def _number(value: Any, kind: type) -> Any:
    return kind(value) if type(value) in (int, float) else kind(0)


class Sandbox(Protocol):
    """Runs untrusted programs; timeouts and crashes are results, never exceptions."""

    def run(self, program: Program, limits: Limits | None = None) -> ExecResult: ...

    def close(self) -> None: ...
