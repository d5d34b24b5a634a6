"""The verdict protocol: the parent decides from events, strictly; forgery costs more than a
frame walk; real test suites (HumanEval's own tests, with their `assert True` lines) pass."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from selfcodealign.execution import Limits, LocalSandbox, Program, Status
from selfcodealign.execution.verdict import PRECEDENCE, decide, parse_channel

LIMITS = Limits(timeout_s=5.0, memory_mb=1024)
NONCE = bytes(range(32))
DIGEST = hashlib.sha256(NONCE).digest()

pytestmark = [pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux >= 5.3"),
              pytest.mark.usefixtures("sandbox_alarm")]


@pytest.fixture(scope="module")
def box() -> Iterator[LocalSandbox]:
    sandbox = LocalSandbox(workers=2, limits=LIMITS)
    yield sandbox
    sandbox.close()


def _summary(**fields: object) -> bytes:
    body = {"status": "passed", "detail": "", "checks": 1, "nonce": [NONCE.hex()], **fields}
    return b"D" + orjson.dumps(body) + b"\n"


def _decide(channel: bytes, exit_code: int = 0, **kw: object) -> str:
    result = decide(channel, digest=DIGEST, exit_code=exit_code, killed=None,
                    cpu_exceeded=False, **kw)  # type: ignore[arg-type]
    return str(result["status"])


# -- the parent's decision, on hand-made channel bytes --------------------------------------


def test_a_pass_needs_every_condition() -> None:
    assert _decide(b"R\n" + _summary()) == "passed"
    assert _decide(b"R\n" + _summary(checks=0)) == "no_tests_ran"
    assert _decide(b"R\n" + _summary(), exit_code=1) == "error"
    assert _decide(b"R\n") == "error"  # left before the summary
    assert _decide(b"") == "infra_error"  # never set up
    assert _decide(_summary()) == "infra_error"  # no program runs before "R"
    fail = b'F{"where":"assert","detail":"x"}\n'
    assert _decide(b"R\n" + fail + _summary()) == "failed"


@pytest.mark.parametrize("channel", [
    b"R\n" + _summary(nonce=["00" * 32]),  # a wrong nonce
    b"R\n" + _summary(nonce=[]),
    b"R\n" + _summary(checks="many"),  # odd types
    b"R\n" + _summary(duration_s=[]),
    b"R\n" + _summary(checks=-1),
    b"R\n" + _summary(status="great"),
    b"R\n" + _summary(tamper=[1]),
    b"R\n" + _summary() + _summary(),  # two summaries
    b"R\n" + b'F{"where":1}\n' + _summary(),
    b"R\n" + b"X\n" + _summary(),
    b"R\n" + b"D[1,2]\n",
    b"R\n" + _summary()[:-5],  # cut in the middle
])
def test_malformed_or_forged_channel_messages_are_tamper(channel: bytes) -> None:
    assert _decide(channel) == "tamper"


def test_precedence_order_is_documented() -> None:
    assert PRECEDENCE[0] == "infra_error" and PRECEDENCE[-1] == "passed"
    fail = b'F{"where":"assert","detail":"x"}\n'
    timed_out = decide(b"R\n" + fail, digest=DIGEST, exit_code=137, killed="timeout",
                       cpu_exceeded=False)
    assert timed_out["status"] == "failed"  # a failed check is final; the timeout came later
    assert parse_channel(b"R\n" + fail * 3).failure_events == 3


# -- forgery through the real sandbox --------------------------------------------------------

FORGERIES = {
    "write_a_summary_to_every_fd": (
        "import os\n"
        "line = b'D{\"status\":\"passed\",\"checks\":3,\"nonce\":[\"00\"]}\\n'\n"
        "for fd in range(3, 1024):\n"
        "    try:\n        os.write(fd, line)\n    except OSError:\n        pass\n"
        "os._exit(0)\n"),
    "odd_types_on_every_fd": (
        "import os\n"
        "line = b'D{\"status\":\"passed\",\"asserts\":\"many\",\"duration_s\":[]}\\n'\n"
        "for fd in range(0, 1024):\n"
        "    try:\n        os.write(fd, line)\n    except OSError:\n        pass\n"
        "assert 1 + 1 == 3\n"),
    "frame_walk_for_a_nonce": (
        "import sys, os, re\n"
        "found = []\nframe = sys._getframe()\n"
        "while frame is not None:\n"
        "    for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):\n"
        "        if isinstance(value, (str, bytes)) and len(value) in (32, 64):\n"
        "            found.append(value)\n"
        "    frame = frame.f_back\n"
        "for nonce in found:\n"
        "    text = nonce if isinstance(nonce, str) else nonce.hex()\n"
        "    os.write(3, ('D{\"status\":\"passed\",\"checks\":1,\"nonce\":[\"%s\"]}\\n' % text)"
        ".encode())\n"
        "os._exit(0)\n"),
    "gc_scan_for_a_nonce": (
        "import gc, os\n"
        "seen = [o for o in gc.get_objects() if isinstance(o, (bytes, bytearray)) "
        "and len(o) == 32]\n"
        "texts = [bytes(o).hex() for o in seen][:50]\n"
        "os.write(3, b'D' + repr({'status': 'passed', 'checks': 1, 'nonce': texts})"
        ".replace(\"'\", '\"').encode() + b'\\n')\n"
        "os._exit(0)\n"),
    "patch_the_harness_counters": (
        "import sys\n"
        "for name, mod in list(sys.modules.items()):\n"
        "    if 'selfcodealign' in name and hasattr(mod, 'State'):\n"
        "        mod.State.failures = 0\n"
        "def f():\n    return 1\n"
        "try:\n    assert f() == 2\nexcept AssertionError:\n    pass\n"),
    "exit_code_of_a_setup_failure": ("import os\nos._exit(125)\n"),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forgeries_never_pass(box: LocalSandbox, name: str) -> None:
    result = box.run(Program("def f():\n    return 1\n", FORGERIES[name]))
    assert result.status is not Status.PASSED, (result.status, result.detail)
    assert result.status is not Status.INFRA_ERROR  # a program's exit code is not the sandbox's
    assert box.run(Program("def g():\n    return 2\n", "assert g() == 2\n")).passed


def test_the_nonce_is_in_no_python_object_of_the_program(box: LocalSandbox) -> None:
    # Every str/bytes of 32 or 64 characters the program can reach by gc is sent back out;
    # the parent's digest must match none of them.
    tests = ("import gc\nvalues = [o for o in gc.get_objects() if isinstance(o, (str, bytes, "
             "bytearray)) and len(o) in (32, 64)]\nprint(len(values))\nassert values is not None\n")
    assert box.run(Program("", tests)).passed


# -- real test suites ------------------------------------------------------------------------


def _humaneval(folder: Path) -> list[dict[str, str]]:
    with gzip.open(folder / "HumanEvalPlus.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in fh]


def test_humaneval_canonical_solutions_pass_their_own_tests(benchmark_dir: Path) -> None:
    """HumanEval's tests hold `assert True, "..."` lines; they must not condemn anything."""
    rows = _humaneval(benchmark_dir)
    programs = [Program(r["prompt"] + r["canonical_solution"],
                        r["test"] + f"\n\ncheck({r['entry_point']})\n") for r in rows]
    with LocalSandbox(workers=2, limits=Limits(timeout_s=60.0, memory_mb=2048)) as sandbox:
        results = list(sandbox.run_many(programs))
    failing = [(r["task_id"], x.status.value, x.detail[:200])
               for r, x in zip(rows, results, strict=True) if not x.passed]
    assert not failing
    assert len(results) == 164


def test_humaneval_broken_solutions_fail_their_own_tests(benchmark_dir: Path) -> None:
    rows = _humaneval(benchmark_dir)[:40]
    # The body replaced by one that returns None: every check(candidate) must fail.
    programs = [Program(r["prompt"] + "    return None\n",
                        r["test"] + f"\n\ncheck({r['entry_point']})\n") for r in rows]
    with LocalSandbox(workers=2, limits=Limits(timeout_s=30.0, memory_mb=2048)) as sandbox:
        results = list(sandbox.run_many(programs))
    passed = [r["task_id"] for r, x in zip(rows, results, strict=True) if x.passed]
    assert not passed


@pytest.mark.parametrize(("tests", "expected"), [
    ("import sys\nassert f() == 1\nprint('ok')\nsys.exit(0)\n", Status.PASSED),
    ("import sys\nif __name__ == '__main__':\n    assert f() == 1\n    sys.exit(0)\n",
     Status.PASSED),
    ("import sys\ndef main():\n    assert f() == 1\n    return 0\nsys.exit(main())\n",
     Status.PASSED),
    ("assert f() == 1\nexit()\n", Status.PASSED),
    ("import sys\nif __name__ == '__main__':\n    assert f() == 1\n    sys.exit(0)\n"
     "    assert f() == 2\n", Status.ERROR),
    ("import sys\nsys.exit(0)\nassert f() == 2\n", Status.ERROR),
    ("import sys\nassert f() == 1\nsys.exit(1)\n", Status.FAILED),
])
def test_an_exit_ends_the_tests_only_at_their_end(box: LocalSandbox, tests: str,
                                                  expected: Status) -> None:
    result = box.run(Program("def f():\n    return 1\n", tests))
    assert result.status is expected, result.detail


@pytest.mark.parametrize(("tests", "expected"), [
    ("import sys\ndef main():\n    assert f() == 1\n    sys.exit(0)\nmain()\n", Status.PASSED),
    ("import sys\ndef t():\n    assert f() == 1\n    sys.exit(0)\n    assert f() == 2\nt()\n",
     Status.ERROR),
])
def test_an_exit_inside_a_function_must_be_its_last_statement(box: LocalSandbox, tests: str,
                                                               expected: Status) -> None:
    assert box.run(Program("def f():\n    return 1\n", tests)).status is expected
