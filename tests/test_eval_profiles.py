"""Evaluation prompt profiles: the exact bytes, the training-format wrapper, and canonical
solutions sent back as model answers through the whole generation path (prompt continuation
keeps the helpers a HumanEval+ prompt defines)."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from selfcodealign.backends.base import Completion, SamplingParams
from selfcodealign.evaluation.data import Dataset, Problem, load_dataset
from selfcodealign.evaluation.generate import generate_samples, prompt_for
from selfcodealign.evaluation.profiles import Wrapper, get_profile, solution, task_prompt
from selfcodealign.evaluation.score import PASS, read_samples, score
from selfcodealign.execution.sandbox import LocalSandbox

SYSTEM = ("You are a careful coding assistant. Answer the instruction below with a correct, "
          "well-explained solution.")
HE2 = '''def truncate_number(number: float) -> float:
    """ Given a positive floating point number, it can be decomposed into
    and integer part (largest integer smaller than given number) and decimals
    (leftover part always smaller than 1).

    Return the decimal part of the number.
    >>> truncate_number(3.5)
    0.5
    """'''


@pytest.fixture(scope="module")
def box() -> Iterator[LocalSandbox]:
    with LocalSandbox(workers=2) as sandbox:
        yield sandbox


def test_paper_profile_bytes_humaneval(benchmark_dir: Path) -> None:
    problem = load_dataset("humaneval", benchmark_dir).problems["HumanEval/2"]
    assert prompt_for("humaneval", problem) == (
        f"{SYSTEM}\n\n### Instruction\nWrite a Python function to solve the given task:\n"
        f"```python\n{HE2}\n```\n\n### Response\n\n```python\n{HE2}")


def test_vllm_script_profile_bytes_humaneval(benchmark_dir: Path) -> None:
    problem = load_dataset("humaneval", benchmark_dir).problems["HumanEval/2"]
    assert prompt_for("humaneval", problem, "vllm-script") == (
        f"{SYSTEM}\n\n### Instruction\nWrite a Python function to solve the following task:\n"
        f"```python\n{HE2}\n```\n\n### Response\n```python")


def test_profile_bytes_mbpp(benchmark_dir: Path) -> None:
    problem = load_dataset("mbpp", benchmark_dir).problems["Mbpp/3"]
    head = f"{SYSTEM}\n\n### Instruction\n"
    assert prompt_for("mbpp", problem) == (
        head + "Write a python function to identify non-prime numbers.\n\n"
        "Your code should pass the following assertion:\n```python\n"
        "assert is_not_prime(1) == True\n```\n\n### Response\n\n```python")
    assert prompt_for("mbpp", problem, "vllm-script") == (
        head + "Write a python function to identify non-prime numbers.\n\n```python\n"
        "assert is_not_prime(1) == True\n```\n\n### Response\n```python")


def test_mbpp_prompt_with_the_assertion_in_its_docstring() -> None:
    """EvalPlus >= 0.2 keeps the first assertion in the prompt's docstring."""
    problem = Problem("Mbpp/2", '"""\nWrite a function to find the shared elements from the '
                      'given two lists\nassert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10)))'
                      ' == set((4, 5))\n"""\n', "similar_elements", "", [], [], 0.0)
    text, prefix = task_prompt(get_profile("paper"), "mbpp", problem)
    assert text == ("Write a function to find the shared elements from the given two lists.\n\n"
                    "Your code should pass the following assertion:\n```python\nassert "
                    "set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n```")
    assert prefix == "\n```python"


def test_the_wrapper_follows_the_models_saved_template(tiny_model: Path) -> None:
    transformers = pytest.importorskip("transformers")
    from selfcodealign.prompts.instruct import CHAT_TEMPLATE, build_prompt

    tok = transformers.AutoTokenizer.from_pretrained(tiny_model)
    assert Wrapper(None)("Do X.", "```python") == build_prompt("Do X.") + "```python"
    assert Wrapper(tok)("Do X.", "P") == tok.bos_token + build_prompt("Do X.") + "P"
    tok.chat_template = CHAT_TEMPLATE  # as training saves it: the same bytes
    assert Wrapper(tok)("Do X.", "P") == tok.bos_token + build_prompt("Do X.") + "P"
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'user' %}<|user|>"
                         "{{ m['content'] }}<|end|>{% else %}<|assistant|>{{ m['content'] }}"
                         "<|end|>{% endif %}{% endfor %}")
    assert Wrapper(tok)("Do X.", "P") == "<|user|>Do X.<|end|><|assistant|>P"


class CanonicalModel:
    """A backend whose answers are the canonical solutions: for the problem a prompt asks
    about, the code that follows the profile's response prefix."""

    name, model = "canonical", "canonical"

    def __init__(self, dataset: Dataset, profile: str) -> None:
        self.answers: dict[str, str] = {}
        for problem in dataset.problems.values():
            prompt = prompt_for(dataset.name, problem, profile)
            if dataset.name == "humaneval" and profile == "paper":  # the body continues it
                answer = "\n" + problem.canonical_solution.lstrip("\n") + "\n```"
            else:
                answer = "\n" + (problem.prompt + "\n" if dataset.name == "humaneval" else "") \
                    + problem.canonical_solution + "\n```\n"
            self.answers[prompt] = answer

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            text = self.answers[prompt]
            for stop in params.stop:
                if stop in text:
                    text = text[:text.index(stop)]
            out.append([Completion(text, "stop")])
        return out

    def close(self) -> None:
        pass


def _multi_function(problem: Problem) -> bool:
    tree = ast.parse(problem.prompt)
    return sum(isinstance(n, ast.FunctionDef) for n in tree.body) > 1


@pytest.mark.parametrize(("name", "profile"), [("humaneval", "paper"), ("mbpp", "paper"),
                                               ("humaneval", "vllm-script")])
def test_canonical_answers_pass_through_the_generation_path(
        name: str, profile: str, benchmark_dir: Path, box: LocalSandbox,
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    dataset = load_dataset(name, benchmark_dir)
    if profile == "vllm-script":  # the problems whose prompt defines helpers
        chosen = {t: p for t, p in dataset.problems.items() if _multi_function(p)}
        assert len(chosen) >= 4
        dataset = Dataset(dataset.name, dataset.path, dataset.md5, dataset.version, chosen)
    path = tmp_path / "samples.jsonl"
    info = generate_samples(dataset, CanonicalModel(dataset, profile), path, profile=profile,
                            show_progress=False)
    assert info["generated"] == len(dataset.problems) and info["prompt_profile"] == profile
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert {r["profile"] for r in rows} == {profile}
    samples, _ = read_samples(path, dataset)
    results = score(dataset, samples, tmp_path / "r.json", box=box,
                    cache_dir=tmp_path_factory.mktemp("gt"), show_progress=False)
    failed = {t: (r[0]["base_status"], r[0]["plus_status"]) for t, r in results["eval"].items()
              if r[0]["base_status"] != PASS or r[0]["plus_status"] != PASS}
    assert failed == {}
    assert len(results["eval"]) == len(dataset.problems)


def test_continuation_keeps_the_prompts_helpers(benchmark_dir: Path) -> None:
    """HumanEval/10's answer calls is_palindrome, defined only in the prompt: continuation
    keeps it, extracting the answer's own block loses it."""
    problem = load_dataset("humaneval", benchmark_dir).problems["HumanEval/10"]
    profile = get_profile("paper")
    _, prefix = task_prompt(profile, "humaneval", problem)
    continued = solution(profile, "humaneval", problem, prefix, problem.canonical_solution)
    assert "def is_palindrome" in continued
    extracted = solution(profile, "humaneval", problem, "```python\n",
                         "def make_palindrome(string: str) -> str:\n"
                         + problem.canonical_solution + "```", extract=True)
    assert "def is_palindrome" not in extracted


def _namespace(code: str) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    exec(compile(code, "<solution>", "exec"), scope)  # trusted canonical code
    return scope


def test_continued_solution_runs(benchmark_dir: Path) -> None:
    problem = load_dataset("humaneval", benchmark_dir).problems["HumanEval/10"]
    profile = get_profile("paper")
    _, prefix = task_prompt(profile, "humaneval", problem)
    code = solution(profile, "humaneval", problem, prefix, problem.canonical_solution + "```")
    assert _namespace(code)["make_palindrome"]("cat") == "catac"
