"""MinHash near-dedup (checked against datasketch) and benchmark decontamination."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from selfcodealign.overlap.decontam import Decontaminator
from selfcodealign.overlap.minhash import Deduper, optimal_bands


def corpus(n: int, seed: int = 0) -> list[str]:
    """Random documents, every fifth a light edit of an earlier one."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)]
    docs: list[str] = []
    for i in range(n):
        if i % 5 == 4 and docs:
            base = rng.choice(docs).split()
            j = rng.randrange(len(base))
            base[j] = rng.choice(words)  # one word changed: a near-duplicate
            docs.append(" ".join(base))
        else:
            docs.append(" ".join(rng.choice(words) for _ in range(rng.randint(40, 120))))
    return docs


def test_lsh_parameters_match_datasketch() -> None:
    lsh = pytest.importorskip("datasketch.lsh")
    for threshold in (0.5, 0.7, 0.85):
        assert optimal_bands(threshold, 128) == lsh._optimal_param(threshold, 128, 0.5, 0.5)


def test_near_duplicates_agree_with_datasketch() -> None:
    datasketch = pytest.importorskip("datasketch")
    docs = corpus(600)
    keys = [f"d{i}" for i in range(len(docs))]
    ours = Deduper(threshold=0.7, num_perm=128, shingle_size=3, verify=False)
    our_dups = {k for k, m in zip(keys, ours.check(keys, docs), strict=True) if m is not None}
    lsh = datasketch.MinHashLSH(threshold=0.7, num_perm=128)
    their_dups = set()
    for key, doc in zip(keys, docs, strict=True):
        tokens = doc.split()
        grams = {" ".join(tokens[i:i + 3]) for i in range(len(tokens) - 2)}
        sig = datasketch.MinHash(num_perm=128)
        sig.update_batch([g.encode() for g in grams])
        if lsh.query(sig):
            their_dups.add(key)
        else:
            lsh.insert(key, sig)
    planted = {keys[i] for i in range(4, len(docs), 5)}
    assert len(our_dups ^ their_dups) <= 0.02 * len(docs)  # same clusters, small tolerance
    assert len(planted & our_dups) >= 0.95 * len(planted)  # the planted copies are found
    assert len(our_dups - planted) <= 0.02 * len(docs)  # and little else


def test_verify_drops_false_candidates_only() -> None:
    docs = corpus(300, seed=3)
    keys = [str(i) for i in range(len(docs))]
    loose = Deduper(threshold=0.7, num_perm=128, shingle_size=3, verify=False)
    strict = Deduper(threshold=0.7, num_perm=128, shingle_size=3, verify=True)
    loose_dups = {k for k, m in zip(keys, loose.check(keys, docs), strict=True) if m}
    strict_dups = {k for k, m in zip(keys, strict.check(keys, docs), strict=True) if m}
    assert strict_dups <= loose_dups


def test_rebuilt_index_finds_the_same_duplicates() -> None:
    docs = corpus(200, seed=5)
    keys = [str(i) for i in range(len(docs))]
    one = Deduper(threshold=0.5)
    first = one.check(keys, docs)
    two = Deduper(threshold=0.5)
    kept_half = [(k, d) for k, d, m in zip(keys[:100], docs[:100], first[:100], strict=True)
                 if m is None]
    two.add([k for k, _ in kept_half], [d for _, d in kept_half])
    assert two.check(keys[100:], docs[100:]) == first[100:]


def test_decontamination_finds_planted_benchmark_text(benchmark_dir: Path,
                                                      tmp_path: Path) -> None:
    with gzip.open(benchmark_dir / "HumanEvalPlus.jsonl.gz") as fh:
        rows = [json.loads(line) for line in fh]
    with gzip.open(benchmark_dir / "MbppPlus.jsonl.gz") as fh:
        mbpp = [json.loads(line) for line in fh]
    user = tmp_path / "private.jsonl"
    user.write_text(json.dumps({"task_id": "Private/1", "prompt": "Compute the frobnication "
                                "index of a quux matrix using the standard Zorg procedure."}))
    decon = Decontaminator(["humaneval", "mbpp", str(user)], str(benchmark_dir))
    assert decon.tasks == len(rows) + len(mbpp) + 1
    planted = "def mine(numbers, threshold):\n    '''Mine.'''" + rows[0]["canonical_solution"]
    hit = decon.check(planted)
    assert hit is not None and hit.task_id == "HumanEval/0" and hit.kind == "substring"
    reworded = "  ".join(str(rows[2]["prompt"]).split()).upper()  # spacing and case change
    hit = decon.check(reworded)
    assert hit is not None and hit.task_id == "HumanEval/2"
    hit = decon.check("# compute the frobnication index of a quux matrix using the standard zorg")
    assert hit is not None and hit.task_id == "Private/1" and hit.kind == "ngram"
    assert decon.check("def add(a, b):\n    '''Add two numbers.'''\n    return a + b\n") is None
    batch = [planted, "clean text | with a pipe", reworded, "", "odd\x01byte " + planted,
             "def add(a, b):\n    return a + b\n"]
    assert decon.check_many(batch) == [decon.check(text) for text in batch]
    no_ctrl = [text for text in batch if "\x01" not in text]
    many = decon.check_many(no_ctrl)  # the single-scan path (no \x01 in any document)
    assert many == [decon.check(text) for text in no_ctrl]
    assert [hit is not None for hit in many] == [True, False, True, False, False]


def test_every_docstring_and_helper_of_a_prompt_is_protected(benchmark_dir: Path) -> None:
    with gzip.open(benchmark_dir / "HumanEvalPlus.jsonl.gz") as fh:
        rows = {row["task_id"]: row for row in map(json.loads, fh)}
    decon = Decontaminator(["humaneval"], str(benchmark_dir), ngram=10_000)  # whole texts only
    import ast

    checked = 0
    for task_id in ("HumanEval/10", "HumanEval/32", "HumanEval/38"):
        tree = ast.parse(rows[task_id]["prompt"])
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert len(functions) >= 2
        for node in functions:
            doc = ast.get_docstring(node)
            if doc and len(doc.split()) >= 8:  # the second function's docstring, too
                hit = decon.check(f"def mine():\n    '''{doc.upper()}'''\n")
                assert hit is not None and hit.task_id == task_id and hit.kind == "substring"
                checked += 1
            if len(node.body) > 1:  # a helper given whole: a seed copying it is flagged
                source = ast.get_source_segment(rows[task_id]["prompt"], node) or ""
                seed = f"import math\n\n{source}\n\ndef other(x):\n    return x\n"
                hit = decon.check(seed)
                assert hit is not None and hit.task_id == task_id and hit.kind == "substring"
                checked += 1
    assert checked >= 6
    assert decon.check("def is_palindrome(s):\n    return s == s[::-1]\n") is None
