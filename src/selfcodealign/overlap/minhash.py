"""MinHash LSH near-deduplication, vectorised with numpy (datasketch-compatible in spirit).

A document becomes a set of word n-gram shingles (`\\w+` tokens, lower-cased), each hashed to 32
bits with xxhash; `num_perm` universal hash functions `(a*h + b) mod (2^61 - 1)` map the set to a
signature of minima. All shingles of a batch of documents go through numpy at once, and
`np.minimum.reduceat` takes each document's minima, which is where the speed comes from.
LSH splits a signature into `bands` of `rows` (chosen, as datasketch does, to minimise false
positives plus false negatives at the threshold); two documents sharing any band are
candidates, and with `verify` a candidate counts only if the signatures agree on at least the
threshold share of positions. `Deduper` keeps the first of each cluster, streaming.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from selfcodealign.extras import require

MERSENNE = (1 << 61) - 1
MAX_HASH = (1 << 32) - 1
_TOKEN = re.compile(r"\w+")
_CHUNK = 200_000  # shingles per numpy pass (bounds memory to ~chunk * num_perm * 8 bytes)


def shingles(text: str, size: int) -> list[str]:
    tokens = _TOKEN.findall(text.lower())
    if len(tokens) < size:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1)]


def _integrate(f: Any, lo: float, hi: float, steps: int = 200) -> float:
    np = require("numpy", extra="seeds")
    xs = np.linspace(lo, hi, steps + 1)
    ys = f(xs)
    return float(np.sum((ys[1:] + ys[:-1]) * (xs[1:] - xs[:-1]) / 2))


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising the false positive + false negative probability mass."""
    best, choice = float("inf"), (1, num_perm)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _integrate(lambda s, r=r, b=b: 1 - (1 - s ** r) ** b, 0.0, threshold)
            fn = _integrate(lambda s, r=r, b=b: (1 - s ** r) ** b, threshold, 1.0)
            if fp + fn < best:
                best, choice = fp + fn, (b, r)
    return choice


class MinHasher:
    """Signatures for many documents at once."""

    def __init__(self, num_perm: int = 250, shingle_size: int = 5, seed: int = 1) -> None:
        self.np = require("numpy", extra="seeds", feature="MinHash deduplication")
        self.xxhash = require("xxhash", extra="seeds", feature="MinHash deduplication")
        np = self.np
        rng = np.random.RandomState(seed)
        self.a = rng.randint(1, MERSENNE, num_perm, dtype=np.uint64)
        self.b = rng.randint(0, MERSENNE, num_perm, dtype=np.uint64)
        self.num_perm, self.shingle_size = num_perm, shingle_size

    def hashes(self, text: str) -> list[int]:
        h = self.xxhash.xxh32_intdigest
        return [h(s.encode()) for s in shingles(text, self.shingle_size)] or [0]

    def signatures(self, texts: Sequence[str]) -> Any:
        """A (len(texts), num_perm) uint32 array of signatures."""
        np = self.np
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        per_doc = [self.hashes(t) for t in texts]
        start = 0
        while start < len(texts):
            end, total = start, 0
            while end < len(texts) and (end == start or total + len(per_doc[end]) <= _CHUNK):
                total += len(per_doc[end])
                end += 1
            flat = np.fromiter((h for doc in per_doc[start:end] for h in doc), np.uint64, total)
            with np.errstate(over="ignore"):
                mixed = (flat[:, None] * self.a[None, :] + self.b[None, :]) % MERSENNE
            mixed &= MAX_HASH
            offsets = np.cumsum([0] + [len(d) for d in per_doc[start:end - 1]])
            out[start:end] = np.minimum.reduceat(mixed, offsets, axis=0)
            start = end
        return out


class Deduper:
    """Streaming near-dedup: `check(keys, texts)` returns, per text, the key of an earlier
    near-duplicate (kept, or checked before) or None; non-duplicates are added to the index."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 250, shingle_size: int = 5,
                 *, verify: bool = True, seed: int = 1) -> None:
        self.hasher = MinHasher(num_perm, shingle_size, seed)
        self.threshold, self.verify = threshold, verify
        self.bands, self.rows = optimal_bands(threshold, num_perm)
        self.tables: list[dict[bytes, int]] = [{} for _ in range(self.bands)]
        self.keys: list[str] = []
        self.sigs: list[Any] = []

    def _candidates(self, sig: Any) -> Iterable[int]:
        seen = set()
        for band, table in enumerate(self.tables):
            hit = table.get(sig[band * self.rows:(band + 1) * self.rows].tobytes())
            if hit is not None and hit not in seen:
                seen.add(hit)
                yield hit

    def check(self, keys: Sequence[str], texts: Sequence[str]) -> list[str | None]:
        results: list[str | None] = []
        for key, sig in zip(keys, self.hasher.signatures(texts), strict=True):
            match = None
            for index in self._candidates(sig):
                if not self.verify or float((self.sigs[index] == sig).mean()) >= self.threshold:
                    match = self.keys[index]
                    break
            results.append(match)
            if match is None:
                self.add_signature(key, sig)
        return results

    def add(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        """Index documents without checking them (rebuilding the index on resume)."""
        for key, sig in zip(keys, self.hasher.signatures(texts), strict=True):
            self.add_signature(key, sig)

    def add_signature(self, key: str, sig: Any) -> None:
        index = len(self.keys)
        self.keys.append(key)
        self.sigs.append(sig)
        for band, table in enumerate(self.tables):
            table.setdefault(sig[band * self.rows:(band + 1) * self.rows].tobytes(), index)
