"""MinHash LSH near-deduplication, vectorised with numpy.

A document becomes a set of word n-gram shingles (tokens: runs of letters, digits and `_`,
lower-cased). Tokenising is `bytes.translate` + `split`, token hashes come from `zlib.crc32`
through `map`, and shingle hashes are rolling combinations of token hashes computed in numpy
for a whole batch at once: no Python work per token. The `num_perm` permutations are
`h -> a*h + b (mod 2^32)` with odd `a`, applied to a few thousand shingles at a time so the
work stays in the CPU cache, and a column-wise min takes each document's minima. This is a
classic MinHash (each slot estimates the Jaccard similarity), only computed faster.

LSH splits a signature into `bands` of `rows` (chosen, as datasketch does, to minimise false
positives plus false negatives at the threshold); two documents sharing any band are
candidates, and with `verify` a candidate counts only if the signatures agree on at least the
threshold share of positions. `Deduper` keeps the first of each cluster, streaming.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain, repeat
from typing import Any

from selfcodealign.extras import require

_CHUNK = 4096  # shingles per pass of the permutation step


_WORD_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 95 or c >= 128)
    else 32 for c in range(256))


def tokenize(text: str) -> list[bytes]:
    """Word tokens: runs of ASCII letters, digits, `_` and non-ASCII bytes, ASCII lower-cased."""
    return text.encode("utf-8", "surrogatepass").translate(_WORD_TABLE).split()


def shingles(text: str, size: int) -> list[str]:
    """The shingles as strings (for baselines and inspection; hashing does not build them)."""
    tokens = [t.decode("utf-8", "replace") for t in tokenize(text)]
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
        np = self.np
        rng = np.random.RandomState(seed)
        # h -> a*h + b (mod 2^32) with odd a: a permutation of the 32-bit values, one per slot
        self.a = (rng.randint(0, 1 << 31, num_perm, dtype=np.uint64) * np.uint64(2) +
                  np.uint64(1)).astype(np.uint32)
        self.b = rng.randint(0, 1 << 32, num_perm, dtype=np.uint64).astype(np.uint32)
        # odd multipliers for the rolling shingle hash, one per position in the shingle
        self.mult = rng.randint(1, 1 << 62, shingle_size, dtype=np.uint64) * np.uint64(2) + \
            np.uint64(1)
        self.num_perm, self.shingle_size, self.seed = num_perm, shingle_size, seed


    def _token_hashes(self, texts: Sequence[str]) -> tuple[Any, Any]:
        """(hash, owning document) of every token of a batch. Tokenising is `bytes.translate`
        + `split` and hashing is `zlib.crc32` through `map`: C speed, no Python per token."""
        np, size = self.np, self.shingle_size
        parts = [tokenize(t) for t in texts]
        for part in parts:  # a document shorter than a shingle is one (padded) shingle
            if len(part) < size:
                part.extend([b""] * (size - len(part)))
        lengths = np.fromiter(map(len, parts), np.int64, len(parts))
        flat = list(chain.from_iterable(parts))
        hashes = np.fromiter(map(zlib.crc32, flat), np.uint64, len(flat))
        return hashes, np.repeat(np.arange(len(texts)), lengths)

    def _shingle_hashes(self, texts: Sequence[str]) -> tuple[Any, Any]:
        """(hashes, owning document) of every shingle of a batch, as numpy arrays: a rolling
        combination over the batch's flat token array, keeping the windows that start and end
        in the same document (contiguous slices only, no gathers)."""
        np, size = self.np, self.shingle_size
        tokens, token_owner = self._token_hashes(texts)
        width = len(tokens) - size + 1
        mixed = np.zeros(width, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(size):
                mixed += tokens[k:k + width] * self.mult[k]
            mixed ^= mixed >> np.uint64(31)  # finaliser: spread the bits before binning
            mixed *= np.uint64(0xBF58476D1CE4E5B9)
            mixed ^= mixed >> np.uint64(27)
        inside = token_owner[:width] == token_owner[size - 1:]
        return mixed[inside], token_owner[:width][inside]

    def signatures(self, texts: Sequence[str]) -> Any:
        """A (len(texts), num_perm) uint32 array of signatures."""
        np, k = self.np, self.num_perm
        out = np.empty((len(texts), k), dtype=np.uint32)
        if not texts:
            return out
        hashes, owner = self._shingle_hashes(texts)
        values = ((hashes >> np.uint64(32)) ^ hashes).astype(np.uint32)
        ends = np.cumsum(np.bincount(owner, minlength=len(texts)))
        starts = ends - np.bincount(owner, minlength=len(texts))
        buffer = np.empty((_CHUNK, k), dtype=np.uint32)
        doc = 0
        while doc < len(texts):  # a few thousand shingles at a time: the work stays in cache
            last = max(doc + 1, int(np.searchsorted(ends, starts[doc] + _CHUNK, side="right")))
            lo, hi = int(starts[doc]), int(ends[last - 1])
            view = buffer[:hi - lo] if hi - lo <= _CHUNK else np.empty((hi - lo, k), np.uint32)
            np.multiply(values[lo:hi, None], self.a[None, :], out=view)
            view += self.b
            for d in range(doc, last):  # a min over contiguous rows beats reduceat here
                view[starts[d] - lo:ends[d] - lo].min(axis=0, out=out[d])
            doc = last
        return out


class Deduper:
    """Streaming near-dedup: `check(keys, texts)` returns, per text, the key of an earlier
    near-duplicate (kept, or checked before) or None; non-duplicates are added to the index."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 250, shingle_size: int = 5,
                 *, verify: bool = True, seed: int = 1) -> None:
        self.hasher = MinHasher(num_perm, shingle_size, seed)
        np = self.hasher.np
        self.threshold, self.verify = threshold, verify
        self.bands, self.rows = optimal_bands(threshold, num_perm)
        rng = np.random.RandomState(seed + 1)
        self.band_mult = rng.randint(1, 1 << 62, self.rows, dtype=np.uint64) * np.uint64(2) + \
            np.uint64(1)
        # one table for all bands: a band's index is mixed into its key
        self.band_salt = rng.randint(1, 1 << 62, self.bands, dtype=np.uint64)
        self.table: dict[int, int] = {}
        self.keys: list[str] = []
        self.sigs: list[Any] = []

    def _band_keys(self, sigs: Any) -> list[list[int]]:
        np = self.hasher.np
        cut = sigs[:, :self.bands * self.rows].astype(np.uint64)
        cut = cut.reshape(len(sigs), self.bands, self.rows)
        with np.errstate(over="ignore"):
            keys = (cut * self.band_mult).sum(axis=2, dtype=np.uint64) ^ self.band_salt
        return keys.tolist()  # type: ignore[no-any-return]

    def check(self, keys: Sequence[str], texts: Sequence[str]) -> list[str | None]:
        """For each text in order: an earlier near-duplicate's key, or None (then indexed)."""
        results: list[str | None] = []
        get = self.table.get
        for key, (sig, bands) in zip(keys, self.sketches(texts), strict=True):
            hits = [hit for hit in map(get, bands) if hit is not None]
            match = self._verified(hits, sig) if hits else None
            results.append(match)
            if match is None:
                self._insert(key, sig, bands, clean=not hits)
        return results

    def sketches(self, texts: Sequence[str]) -> list[tuple[Any, list[int]]]:
        """(signature, band keys) per text, computed for the whole batch at once."""
        sigs = self.hasher.signatures(texts)
        return list(zip(sigs, self._band_keys(sigs), strict=True))

    def match(self, sketch: tuple[Any, list[int]]) -> str | None:
        """The key of an indexed near-duplicate, or None; indexes nothing."""
        sig, bands = sketch
        return self._verified([h for h in map(self.table.get, bands) if h is not None], sig)

    def _verified(self, hits: list[int], sig: Any) -> str | None:
        for index in dict.fromkeys(hits):  # candidates, each once, in band order
            if not self.verify or float((self.sigs[index] == sig).mean()) >= self.threshold:
                return self.keys[index]
        return None

    def insert(self, key: str, sketch: tuple[Any, list[int]]) -> None:
        sig, bands = sketch
        self._insert(key, sig, bands, clean=False)

    def add(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        """Index documents without checking them (rebuilding the index on resume)."""
        sigs = self.hasher.signatures(texts)
        for key, sig, bands in zip(keys, sigs, self._band_keys(sigs), strict=True):
            self._insert(key, sig, bands, clean=False)

    def _insert(self, key: str, sig: Any, bands: list[int], *, clean: bool) -> None:
        index = len(self.keys)
        self.keys.append(key)
        self.sigs.append(sig.copy() if self.verify else None)
        if clean:  # none of its band keys is in the table yet
            self.table.update(zip(bands, repeat(index)))
        else:
            for band_key in bands:
                self.table.setdefault(band_key, index)
