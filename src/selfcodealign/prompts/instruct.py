"""The training prompt format, its chat template, and prompt-masked tokenization.

One format for training and inference: BOS (when the tokenizer has one), a system line,
`### Instruction`, the instruction, `### Response`, then the response and the end-of-sequence
token. Tokenization is explicit: BOS, the prompt, the response, EOS; the loss mask covers the
response and EOS only. A sequence longer than `max_length` is cut at the end and counted as
truncated.

Training and inference agree token for token:
- the chat template saved with the tokenizer starts with `bos_token`, so
  `tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)` gives
  exactly the training prompt's ids;
- an evaluation prompt is text that a backend encodes with the tokenizer's defaults (vLLM, an
  OpenAI-compatible server, transformers); `bos_prefix(tokenizer)` is the BOS text to put in
  front when those defaults do not add BOS themselves, so the encoded prompt starts with exactly
  one BOS either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SYSTEM = ("You are a careful coding assistant. Answer the instruction below with a correct, "
          "well-explained solution.")
INSTRUCTION = "### Instruction\n"
RESPONSE = "### Response\n"

CHAT_TEMPLATE = (
    "{%- if bos_token -%}{{- bos_token -}}{%- endif -%}"
    "{{- '" + SYSTEM + "\\n\\n' -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{- '### Instruction\\n' + message['content'] + '\\n\\n### Response\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- message['content'] + eos_token -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)


def build_prompt(instruction: str) -> str:
    """The text before the response, ending with `### Response\\n`."""
    return f"{SYSTEM}\n\n{INSTRUCTION}{instruction.strip()}\n\n{RESPONSE}"


def bos_prefix(tokenizer: Any) -> str:
    """The text to put before an inference prompt so that the tokenizer's default encoding
    starts with exactly one BOS, as the training sequences do ("" when it adds BOS itself or
    has none)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None or not getattr(tokenizer, "bos_token", None):
        return ""
    probe = tokenizer(SYSTEM)["input_ids"]
    return "" if probe and probe[0] == bos else str(tokenizer.bos_token)


@dataclass
class Tokenized:
    input_ids: list[int]
    completion_mask: list[int]
    truncated: bool


def tokenize(tokenizer: Any, instruction: str, response: str, max_length: int) -> Tokenized:
    """BOS + prompt + response + EOS, with the loss mask on the response and EOS only."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    prompt = tokenizer(build_prompt(instruction), add_special_tokens=False)["input_ids"]
    answer = tokenizer(response.strip(), add_special_tokens=False)["input_ids"]
    ids = bos + prompt + answer + [tokenizer.eos_token_id]
    mask = [0] * (len(bos) + len(prompt)) + [1] * (len(answer) + 1)
    truncated = len(ids) > max_length
    return Tokenized(ids[:max_length], mask[:max_length], truncated)


def instruction_response(record: dict[str, Any]) -> tuple[str, str] | None:
    """(instruction, response) from a dataset row: its columns or its `messages`."""
    if isinstance(record.get("instruction"), str) and isinstance(record.get("response"), str):
        return record["instruction"], record["response"]
    messages = record.get("messages")
    if isinstance(messages, list) and len(messages) >= 2:
        user = next((m["content"] for m in messages if m.get("role") == "user"), None)
        bot = next((m["content"] for m in messages if m.get("role") == "assistant"), None)
        if isinstance(user, str) and isinstance(bot, str):
            return user, bot
    return None
