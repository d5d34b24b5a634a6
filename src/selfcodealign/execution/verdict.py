"""The one place that decides a sample's status, in the parent, from evidence.

The sandboxed process writes on its channel (fd 3), one event per line:

- `R` once its isolation layers are on, before any program code runs. Without it the sandbox
  failed to set up (`infra_error`, retried); a program cannot produce this, whatever its exit
  code.
- `F{"where": str, "detail": str}` each time a check fails, at the moment it fails (`where`
  says what failed; `tamper` marks tampering seen as it happens, e.g. a trace function set).
- `D{...}` the harness's summary once the tests are over, with the nonce it read only then from
  a pipe the zygote filled before the fork, keeping only its SHA-256 (see harness.py and
  zygote.py). Fields and types are checked strictly.

Anything else on the channel (a line that is not one of these, a field of the wrong type, a
second summary, a summary without the right nonce) is `tamper`, for that sample only.

A sample passes only if: the summary arrived with the right nonce, no failure event arrived, the
summary reports at least one check, nothing was tampered with, the process exited with status 0
after it, and the zygote did not have to kill it. When several statuses apply, the first in
`PRECEDENCE` wins:

| status | when |
|---|---|
| infra_error | the sandbox failed to set the program up (no `R`) |
| tamper | a malformed or forged channel message, or the harness saw tampering |
| failed | a failure event arrived, or the harness reports a failed check |
| timeout | the wall-clock deadline or the CPU limit was reached |
| memory | MemoryError under the address-space limit |
| syntax_error | the implementation or the tests do not compile |
| error | an exception escaped, or the process left before its summary or abnormally after it |
| no_tests_ran | the summary reports no check at all |
| passed | everything above is absent |

Evidence of a failed check is final, so it outranks a later timeout; tampering outranks
everything the program could have influenced. The child's own `status` field can only push a
sample down this table, never up: a summary saying "passed" is one condition among several.

Some decisions need no channel, and live here too: a program that does not compile is
`syntax_error` without running (`without_run` in the zygote, `unparsable_tests` in the
parent), and in oracle mode a run that passed is then judged by comparing the values it
returned with the expected ones, which never entered the sandbox (`oracle`: a wrong value is
`failed`, a call that raised `error`, an undecodable value `tamper`). Which execution statuses
pass on to training is decided by selection from `passed` alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from selfcodealign.execution.base import ExecResult

PRECEDENCE = ("infra_error", "tamper", "failed", "timeout", "memory", "syntax_error", "error",
              "no_tests_ran", "passed")
_CHILD_STATUSES = {"passed", "failed", "error", "syntax_error", "memory", "timeout",
                   "no_tests_ran"}
_SUMMARY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "status": str, "detail": str, "checks": int, "tests_run": int, "skipped": int,
    "not_run": list, "failures": int, "tamper": list, "findings": list, "nonce": list,
    "returns": list, "times": list,
}
NONCE_BYTES = 32


@dataclass
class Evidence:
    ready: bool = False
    failures: list[str] = field(default_factory=list)
    failure_events: int = 0
    summary: dict[str, Any] | None = None
    malformed: str = ""
    tampering: str = ""  # an F event of kind "tamper" (a trace function set, ...)


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _strings(value: Any) -> bool:
    return all(type(v) is str for v in value)


def _check_summary(data: Any) -> str:
    """Why a summary is malformed; "" when it is well formed."""
    if not isinstance(data, dict):
        return "the summary is not an object"
    for key, value in data.items():
        expected = _SUMMARY_FIELDS.get(key)
        if expected is None:
            return f"unknown summary field {key!r}"
        if type(value) is not expected:
            return f"summary field {key!r} has type {type(value).__name__}"
    if data.get("status") not in _CHILD_STATUSES:
        return f"unknown status {str(data.get('status'))[:40]!r}"
    for key in ("checks", "tests_run", "skipped", "failures"):
        if key in data and not _count(data[key]):
            return f"summary field {key!r} is negative"
    for key in ("not_run", "tamper", "findings", "nonce"):
        if key in data and not _strings(data[key]):
            return f"summary field {key!r} holds a non-string"
    return ""


def parse_channel(data: bytes) -> Evidence:
    """Read the channel's bytes strictly."""
    evidence = Evidence()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        evidence.malformed = "the channel ended in the middle of a message"
    for line in lines:
        tag, body = line[:1], line[1:]
        if tag == b"R" and not body and not evidence.ready:
            evidence.ready = True
            continue
        if not evidence.ready:
            evidence.malformed = evidence.malformed or "a message before the sandbox was ready"
            continue
        if evidence.summary is not None:
            evidence.malformed = evidence.malformed or "a message after the summary"
            continue
        try:
            payload = orjson.loads(body) if tag in (b"F", b"D") else None
        except orjson.JSONDecodeError:
            payload = None
        if tag == b"F" and isinstance(payload, dict) and set(payload) == {"where", "detail"} \
                and _strings(payload.values()):
            text = f"{payload['where']}: {payload['detail']}"[:1500]
            if payload["where"] == "tamper":
                evidence.tampering = evidence.tampering or text
                continue
            evidence.failure_events += 1
            if len(evidence.failures) < 5:
                evidence.failures.append(text)
        elif tag == b"D" and not _check_summary(payload):
            evidence.summary = payload
        else:
            reason = _check_summary(payload) if tag == b"D" else "an unknown message"
            evidence.malformed = evidence.malformed or f"bad channel message: {reason}"
    return evidence


def _pick(found: dict[str, str]) -> tuple[str, str]:
    for status in PRECEDENCE:
        if status in found:
            return status, found[status]
    return "passed", ""


def _proves(candidates: list[str], digest: bytes) -> bool:
    for text in candidates:
        try:
            if hashlib.sha256(bytes.fromhex(text)).digest() == digest:
                return True
        except ValueError:
            continue
    return False


def decide(channel: bytes, *, digest: bytes, exit_code: int, killed: str | None,
           cpu_exceeded: bool, need_checks: bool = True) -> dict[str, Any]:
    """The status and the result fields from everything the zygote saw. `need_checks` is off
    for oracle and benchmark modes, where the parent compares the returned values itself."""
    ev = parse_channel(channel)
    summary = ev.summary or {}
    found: dict[str, str] = {}
    if killed == "timeout" or cpu_exceeded:
        found["timeout"] = "wall-clock deadline reached" if killed else "CPU time limit reached"
    elif killed:
        found["tamper"] = killed
    if not ev.ready and not killed:
        found["infra_error"] = "sandbox setup failed"
    if ev.malformed or ev.tampering:
        found["tamper"] = ev.malformed or ev.tampering
    if ev.failures:
        found["failed"] = ev.failures[0]
    if ev.summary is None:
        found.setdefault("error", f"exited before the summary (exit code {exit_code})")
    else:
        if not _proves(summary.get("nonce", []), digest):
            found["tamper"] = found.get("tamper") or "a summary without the run's nonce (forged)"
        if summary.get("tamper"):
            found.setdefault("tamper", "; ".join(summary["tamper"]))
        status = summary["status"]
        if status != "passed":
            found.setdefault(status, summary.get("detail", ""))
        elif summary.get("failures", 0) > 0:
            found.setdefault("failed", "a check failed")
        if exit_code != 0:
            found.setdefault("error", f"exited with status {exit_code} after the summary")
        if need_checks and not summary.get("checks"):
            not_run = summary.get("not_run") or []
            found.setdefault("no_tests_ran", "no check ran" + (
                f" (not run: {', '.join(not_run[:5])})" if not_run else ""))
    status, detail = _pick(found)
    result: dict[str, Any] = {
        "status": status, "detail": detail, "asserts": summary.get("checks", 0),
        "tests_run": summary.get("tests_run", 0), "failure_events": ev.failure_events,
    }
    for key in ("skipped", "not_run", "findings", "returns", "times", "tamper"):
        if key in summary:
            result[key] = summary[key]
    return result


def without_run(status: str, detail: str) -> dict[str, Any]:
    """A result decided before any fork (the program does not compile)."""
    return {"status": status, "detail": detail, "asserts": 0, "tests_run": 0,
            "failure_events": 0, "exit_code": None, "output": "", "duration_s": 0.0}


def unparsable_tests(exc: BaseException) -> ExecResult:
    from selfcodealign.execution.base import ExecResult, Status

    return ExecResult(Status.SYNTAX_ERROR, detail=f"tests: {exc}")


def oracle(result: ExecResult, calls: list[tuple[str, Any]]) -> ExecResult:
    """Oracle mode: the returned values, compared here with the expected literals."""
    from selfcodealign.execution.base import Status
    from selfcodealign.execution.oracle import judge

    result.mode = "oracle"
    returns = result.extra.pop("returns", None)
    if result.status is not Status.PASSED:
        return result
    if not isinstance(returns, list):
        return replace(result, status=Status.TAMPER, detail="oracle results missing")
    status, detail, checked = judge(returns, calls)
    return replace(result, status=Status(status), detail=detail, asserts=checked)
