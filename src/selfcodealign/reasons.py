"""What each drop reason of the generation, execute and select stages means, and what moves it.

Every dropped record carries one snake_case reason. The report shows this glossary next to the
counts, so a user who sees that little survives can tell a model that loops (a bigger model)
from answers cut by the token limit (a larger `sampling.max_tokens`) from tests written in prose
(more samples, a stronger model). A test checks that every reason the stages can return has an
entry here.
"""

from __future__ import annotations

from typing import NamedTuple


class Reason(NamedTuple):
    meaning: str
    action: str


_BIGGER = "a bigger or code-specialised base model"

REASONS: dict[str, Reason] = {
    # any LLM stage
    "truncated": Reason("the completion reached sampling.max_tokens before its answer was "
                        "complete", "raise sampling.max_tokens (the paper uses 1536)"),
    "repetition": Reason("the model fell into a loop, repeating the same words until the "
                         "token limit", f"{_BIGGER}; a higher temperature sometimes helps"),
    "no_completion": Reason("the backend returned no completion for the prompt",
                            "check the backend's logs; rerun to retry"),
    "finish_unknown": Reason("the backend did not say why the completion ended, so it may "
                             "have been cut off (treated like a truncated one)",
                             "a server that reports finish_reason (vLLM, TGI, llama.cpp do)"),
    "prompt_too_long": Reason("the prompt alone fills the model's context; it was not sent "
                              "(the limit is in `detail`)",
                              "a model with a longer context, or fewer/shorter shots"),
    "request_rejected": Reason("the server or engine refused the request for good (the "
                               "message is in `detail`)", "read the message; fix and rerun"),
    # any stage: an input record without what the stage needs (checked before it is used)
    "missing_code": Reason("the seed record has no code (`code`, `seed`, `content` or "
                           "`function`)", "check the input file"),
    "missing_concepts": Reason("the record has no concepts text", "check the input file"),
    "missing_instruction": Reason("the record has no instruction text",
                                  "check the input file"),
    "malformed_output": Reason("the stage made a record that does not fit its type "
                               "(docs/records.md; the field is in `detail`)",
                               "report it: this is a bug"),
    # concepts (S->C)
    "empty_concepts": Reason("the model wrote no concepts", _BIGGER),
    "code_not_concepts": Reason("the model wrote code instead of a list of concepts",
                                f"{_BIGGER}; more concepts.shots"),
    "prose_not_concepts": Reason("the model wrote a sentence instead of a comma-separated "
                                 "list of concepts", f"{_BIGGER}; more concepts.shots"),
    "names_not_concepts": Reason("the model listed names from the code or numbers, not "
                                 "programming concepts", f"{_BIGGER}; more concepts.shots"),
    "copied_shot": Reason("the model repeated the concepts of one of the prompt's examples "
                          "instead of reading the seed", _BIGGER),
    # instructions (C->I)
    "empty_instruction": Reason("the model wrote no instruction", _BIGGER),
    # responses (I->R)
    "no_response_end": Reason("the answer never closed </response>, so no tests followed it "
                              "(the model ended or wandered off)",
                              f"{_BIGGER}; more responses.n"),
    "no_tests": Reason("</response> was not followed by <tests>", f"{_BIGGER}"),
    "empty_response_or_tests": Reason("the response or its tests section was empty", _BIGGER),
    # execute
    "missing_response": Reason("the record has no response text", "check the input file"),
    "missing_tests": Reason("the record has no tests text", "check the input file"),
    "no_code_in_response": Reason("the response holds no Python code block that defines "
                                  "something (only prose or usage examples)",
                                  f"{_BIGGER}; more responses.n"),
    "no_code_in_tests": Reason("the tests are prose, with no Python code block",
                               f"{_BIGGER}; more responses.n"),
    # select
    "no_code_block": Reason("the response has no Python code block", f"{_BIGGER}"),
    "no_test_block": Reason("the tests have no Python code block", f"{_BIGGER}"),
    "tests_without_asserts": Reason("the tests hold no assert or test call, so passing them "
                                    "proves nothing", f"{_BIGGER}; more responses.n"),
    "incomplete_code": Reason("the code holds a placeholder (TODO, FIXME, `your code here`, "
                              "NotImplemented)", f"{_BIGGER}; more responses.n"),
    "not_passed": Reason("the sample did not pass its own tests in the sandbox",
                         "more responses.n (the paper samples 10 per instruction)"),
    "instruction_too_long": Reason("the instruction is longer than select.max_instruction_words",
                                   "raise the limit if such tasks are wanted"),
    "duplicate_instruction": Reason("the same instruction was already chosen", "more seeds"),
    "near_duplicate_instruction": Reason("a near-identical instruction was already chosen",
                                         "more seeds; or raise the near-duplicate threshold"),
    "tests_pass_on_stub": Reason("the tests also pass on a stub that does nothing, so they "
                                 "cannot tell right from wrong", "more responses.n"),
    "duplicate_response": Reason("the same response was already chosen", "more seeds"),
    "repeated_names": Reason("the function or class names repeat an already chosen sample",
                             "more seeds; or select.diversify_names: false"),
    "benchmark_contamination": Reason("the sample overlaps HumanEval+/MBPP+",
                                      "nothing: it must not be trained on"),
    "other_response_chosen": Reason("another passing response of the same instruction was "
                                    "chosen (one per instruction)", "nothing: by design"),
    "instruction_dropped": Reason("the instruction itself was dropped (see its reason)",
                                  "see the instruction's reason"),
}


def explain(reason: str) -> Reason | None:
    """The glossary entry of a reason (a prefix such as `status.` is ignored); the boundary
    checks' `missing_<field>` / `bad_<field>` for any field of docs/records.md."""
    found = REASONS.get(reason) or REASONS.get(reason.rsplit(".", 1)[-1])
    if found is None and reason.startswith(("missing_", "bad_")):
        what, field = reason.split("_", 1)
        found = Reason(f"the input record's `{field}` is " + (
            "missing or empty" if what == "missing" else "not of the type docs/records.md "
            "gives"), "check the input file")
    return found
