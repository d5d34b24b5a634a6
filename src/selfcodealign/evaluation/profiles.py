"""Evaluation prompt profiles: the bytes of each benchmark prompt, and how a solution is made.

Two profiles, both from the reference implementation's evaluation scripts:

- `paper` (the default): the harness behind StarCoder2-15B-Instruct's published numbers
  (`evaluation/text2code.py`). HumanEval+: "Write a Python function to solve the given task:",
  a newline, the stripped prompt in a python block; the response starts with a newline, a
  python fence, a newline and the stripped prompt, so the model *continues* the problem (helper
  functions the prompt defines stay in the solution). MBPP+: the text inside the prompt's
  docstring before its first `assert`, stripped, a final `.` added when missing, a blank line,
  "Your code should pass the following assertion:" and the assertion in a python block; the
  response starts with a newline and a bare python fence. Generation stops at "\\n```"; the
  completion is cut at its first fence.
- `vllm-script`: the reference's later vLLM script (`evaluation/text2code_vllm.py`):
  "...solve the following task:", the MBPP+ assertion without the sentence before it, a bare
  python fence as the response prefix (no continuation), stop at "\\n```\\n", and the completion
  is what follows the last "```python" and precedes the next fence.

Either way the solution is the benchmark prompt + the completion, as EvalPlus scores a
`completion`; with `evaluate.extract_code` (for chat-style models that answer in prose) it is
instead the first python block of the answer that defines the entry point.

The instruction is wrapped in the evaluated model's own training format: the chat template saved
with its tokenizer (rendered around `{instruction}` and `{response}` markers and cut after the
response slot, as the reference does), else this project's training format (`training.format`),
with one BOS either way.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from selfcodealign.codeblocks import parse_python, solution_code
from selfcodealign.evaluation.data import Problem
from selfcodealign.prompts.instruct import bos_prefix, build_prompt

PROFILE_NAMES = ("paper", "vllm-script")


@dataclass(frozen=True)
class Profile:
    name: str
    humaneval_header: str
    humaneval_prefix: str  # "{prompt}": the stripped problem, continued by the model
    mbpp_assertion_intro: str
    mbpp_prefix: str
    stop: tuple[str, ...]


PROFILES = {
    "paper": Profile("paper", "Write a Python function to solve the given task:",
                     "\n```python\n{prompt}", "Your code should pass the following assertion:\n",
                     "\n```python", ("\n```",)),
    "vllm-script": Profile("vllm-script",
                           "Write a Python function to solve the following task:", "```python",
                           "", "```python", ("\n```\n",)),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown evaluation prompt profile {name!r}; profiles: "
                         f"{', '.join(PROFILE_NAMES)}")
    return PROFILES[name]


def mbpp_parts(prompt: str, assertion: str = "") -> tuple[str, str]:
    """(task text ending with a period, the assertion) of an MBPP+ problem. The text is what
    its prompt's docstring holds before the first `assert`; the assertion is the rest of the
    docstring (EvalPlus >= 0.2 puts it there) or, when the docstring has none (0.1 keeps the
    tests apart), the first line of the problem's `assertion` field."""
    inner = prompt
    for quote in ('"""', "'''"):
        start, end = prompt.find(quote), prompt.rfind(quote)
        if 0 <= start < end:
            inner = prompt[start + 3:end]
            break
    at = inner.find("assert")
    if at >= 0:
        text, found = inner[:at].strip(), inner[at:].strip()
    else:
        lines = [line.strip() for line in assertion.splitlines() if line.strip()]
        text, found = inner.strip(), (lines[0] if lines else "")
    if not text.endswith("."):
        text += "."
    return text, found


def task_prompt(profile: Profile, benchmark: str, problem: Problem) -> tuple[str, str]:
    """(instruction, response prefix) for one problem."""
    if benchmark == "humaneval":
        prompt = problem.prompt.strip()
        instruction = f"{profile.humaneval_header}\n```python\n{prompt}\n```"
        return instruction, profile.humaneval_prefix.replace("{prompt}", prompt)
    text, assertion = mbpp_parts(problem.prompt, problem.assertion)
    instruction = f"{text}\n\n{profile.mbpp_assertion_intro}```python\n{assertion}\n```"
    return instruction, profile.mbpp_prefix


class Wrapper:
    """The evaluated model's training format around an instruction and a response prefix."""

    def __init__(self, tokenizer: Any = None) -> None:
        self.head, self.middle = "", None  # text before the instruction / between the slots
        template = _template(tokenizer)
        if template is None:
            self.head = bos_prefix(tokenizer) if tokenizer is not None else ""
            return
        before, _, rest = template.partition("{instruction}")
        middle, _, _ = rest.partition("{response}")
        bos = getattr(tokenizer, "bos_token", None)
        if bos and before.startswith(bos) and not bos_prefix(tokenizer):
            before = before[len(bos):]  # the tokenizer adds BOS itself: not twice
        self.head, self.middle = before, middle

    def __call__(self, instruction: str, response_prefix: str) -> str:
        if self.middle is None:
            return self.head + build_prompt(instruction) + response_prefix
        return self.head + instruction + self.middle + response_prefix


def _template(tokenizer: Any) -> str | None:
    """The chat template rendered around the `{instruction}` and `{response}` markers, cut
    after the response slot; None when the tokenizer has no template."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return None
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "{instruction}"},
             {"role": "assistant", "content": "{response}"}], tokenize=False)
    except Exception:  # a template that cannot render these messages: our own format
        return None
    if not isinstance(text, str) or "{instruction}" not in text or "{response}" not in text:
        return None
    return text[:text.rindex("{response}") + len("{response}")]


def solution(profile: Profile, benchmark: str, problem: Problem, response_prefix: str,
             completion: str, *, extract: bool = False) -> str:
    """The program scored for one completion (see the module docstring)."""
    if extract:
        code = solution_code(response_prefix + completion, problem.entry_point)
        if benchmark == "humaneval":
            missing = [line for line in _imports(problem.prompt) if line not in code]
            if missing:
                code = "\n".join(missing) + "\n\n" + code
        return code
    if profile.name == "vllm-script":
        body = completion.split("```python")[-1].split("```")[0]
    else:
        fence = completion.find("```")
        body = completion if fence < 0 else completion[:fence]
    return problem.prompt + body


def _imports(source: str) -> list[str]:
    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError):
        return []
    return [ast.unparse(node) for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)]
