"""Whether a completion is looping: the same few word sequences, or one short unit of
characters, over and over until `max_tokens`.

The generation stages drop such a completion as `repetition` (apart from one that was merely
long, `truncated`); the transformers backend ends a looping row early when asked
(`generation.early_stop`). The thresholds were set on real completions of a small model
(`tests/data/real_completions.jsonl`).
"""

from __future__ import annotations

WINDOW_WORDS = 160       # words of the tail examined
MIN_WORDS = 48           # below this many words, no verdict from words
DISTINCT_SHARE = 0.35    # distinct word 4-grams / all 4-grams at or below this: a loop
CHAR_TAIL = 400          # characters of the tail examined for a short repeated unit
MAX_UNIT = 40            # longest character unit tried


def distinct_share(words: list[str], n: int = 4) -> float:
    """Share of distinct word n-grams among all n-grams of `words` (1.0 when too short)."""
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def _char_loop(tail: str) -> bool:
    """The tail is one short unit repeated (`))))`, `= = =`, `abcabcabc`)."""
    if len(tail) < CHAR_TAIL:
        return False
    for size in range(1, MAX_UNIT + 1):
        times = CHAR_TAIL // size
        unit = tail[-size:]
        if unit.strip() and unit * times == tail[-size * times:]:
            return True
    return False


def is_looping(text: str) -> bool:
    """Whether the end of `text` is a loop: the same few word sequences over and over (in
    prose and code the share of distinct word 4-grams is close to 1; a block of asserts
    differs in its arguments), or one short unit of characters repeated. Only asked of
    completions that did not end on their own."""
    words = text[-WINDOW_WORDS * 24:].split()[-WINDOW_WORDS:]
    if len(words) >= MIN_WORDS and distinct_share(words) <= DISTINCT_SHARE:
        return True
    return _char_loop(text[-CHAR_TAIL:])
