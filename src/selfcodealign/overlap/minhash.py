"""MinHash LSH near-deduplication, vectorised with numpy.

A document becomes a set of word n-gram shingles (tokens: runs of letters, digits, `_` and
non-ASCII bytes, ASCII lower-cased). A batch is encoded once into one byte buffer; token
boundaries come from a 0/1 mask (`bytes.translate`) and each token's hash is a polynomial
hash over its bytes, read off one prefix sum (`(prefix[end] - prefix[start]) * P^-start`,
mod 2^64): no Python object per token. Shingle hashes are rolling combinations of token
hashes over the batch. The `num_perm` permutations are `h -> a*h + b (mod 2^32)` with odd
`a`, applied to a few thousand shingles at a time so the work stays in the CPU cache, and a
column-wise min takes each document's minima. This is a classic MinHash (each slot estimates
the Jaccard similarity), only computed faster.

LSH splits a signature into `bands` of `rows` (chosen, as datasketch does, to minimise false
positives plus false negatives at the threshold); two documents sharing any band are
candidates, and with `verify` a candidate counts only if the signatures agree on at least the
threshold share of positions. `Deduper` keeps the first of each cluster, streaming.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any, Protocol

from selfcodealign.extras import require

_CHUNK = 4096  # shingles per pass of the permutation step
_TEXT_BLOCK = 1 << 20  # bytes of text hashed at once (bounds the prefix-sum buffers)
_P = 0x100000001B3  # odd base of the polynomial token hash
_MIX = 0xBF58476D1CE4E5B9


_WORD_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 95 or c >= 128)
    else 32 for c in range(256))
_MASK_TABLE = bytes(0 if w == 32 else 1 for w in _WORD_TABLE)  # 1 on word bytes


def tokenize(text: str) -> list[bytes]:
    """Word tokens: runs of ASCII letters, digits, `_` and non-ASCII bytes, ASCII lower-cased."""
    return text.encode("utf-8", "surrogatepass").translate(_WORD_TABLE).split()


def shingles(text: str, size: int) -> list[str]:
    """The shingles as strings (for baselines and inspection; hashing does not build them)."""
    tokens = [t.decode("utf-8", "replace") for t in tokenize(text)]
    if len(tokens) < size:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1)]


_POWERS: list[Any] = []


def _powers(np: Any, n: int) -> tuple[Any, Any]:
    """P^i and P^-i (mod 2^64) for i < n (at least), computed once and grown on demand."""
    if not _POWERS or len(_POWERS[0]) < n:
        size = max(n, 2 * _TEXT_BLOCK)
        inverse = _P  # Newton's iteration: P * inverse == 1 (mod 2^64), P being odd
        for _ in range(6):
            inverse = inverse * (2 - _P * inverse) % (1 << 64)
        arrays = []
        for base in (_P, inverse):
            values = np.full(size, base, np.uint64)
            values[0] = 1
            with np.errstate(over="ignore"):
                np.multiply.accumulate(values, out=values)
            arrays.append(values)
        _POWERS[:] = arrays
    return _POWERS[0], _POWERS[1]


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
        """(hash, owning document) of every token of a batch, all in numpy. Documents are
        joined with a space (never part of a token); a document shorter than a shingle gets
        zero-hash padding tokens so that it still has one shingle."""
        np, size = self.np, self.shingle_size
        encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
        joined = b" ".join(encoded)
        mask = np.frombuffer(b"\0" + joined.translate(_MASK_TABLE) + b"\0", np.int8)
        edges = np.flatnonzero(mask[1:] != mask[:-1])
        starts, ends = edges[0::2], edges[1::2]
        pw, ipw = _powers(np, len(joined) + 1)
        prefix = np.zeros(len(joined) + 1, np.uint64)
        with np.errstate(over="ignore"):
            np.multiply(np.frombuffer(joined.translate(_WORD_TABLE), np.uint8),
                        pw[:len(joined)], out=prefix[1:], casting="unsafe")
            np.cumsum(prefix, out=prefix)
            hashes = (prefix[ends] - prefix[starts]) * ipw[starts]
            hashes ^= hashes >> np.uint64(29)
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
        doc_starts = np.cumsum(lengths + 1) - lengths - 1
        owner = np.searchsorted(doc_starts, starts, side="right") - 1
        counts = np.bincount(owner, minlength=len(texts))
        short = np.flatnonzero(counts < size)
        if len(short):  # pad: insert size - count zero tokens after each short document
            at = np.repeat(np.cumsum(counts)[short], size - counts[short])
            hashes = np.insert(hashes, at, 0)
            owner = np.insert(owner, at, np.repeat(short, size - counts[short]))
        return hashes, owner

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
            mixed *= np.uint64(_MIX)
            mixed ^= mixed >> np.uint64(27)
        inside = token_owner[:width] == token_owner[size - 1:]
        return mixed[inside], token_owner[:width][inside]

    def signatures(self, texts: Sequence[str]) -> Any:
        """A (len(texts), num_perm) uint32 array of signatures, a block of text at a time."""
        out = self.np.empty((len(texts), self.num_perm), dtype=self.np.uint32)
        first, size = 0, 0
        for i, text in enumerate(texts):
            if size and size + len(text) > _TEXT_BLOCK:
                self._block(texts[first:i], out[first:i])
                first, size = i, 0
            size += len(text) + 1
        if first < len(texts):
            self._block(texts[first:], out[first:])
        return out

    def _block(self, texts: Sequence[str], out: Any) -> None:
        np, k = self.np, self.num_perm
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
        np, span = self.hasher.np, self.bands * self.rows
        keys = np.zeros((len(sigs), self.bands), np.uint64)
        with np.errstate(over="ignore"):
            for row in range(self.rows):  # row r of every band: a strided column slice
                keys += sigs[:, row:span:self.rows] * self.band_mult[row]
            keys ^= self.band_salt
        return keys.tolist()  # type: ignore[no-any-return]

    def check(self, keys: Sequence[str], texts: Sequence[str]) -> list[str | None]:
        """For each text in order: an earlier near-duplicate's key, or None (then indexed)."""
        results: list[str | None] = []
        table, verify = self.table, self.verify
        sigs = self.hasher.signatures(texts)
        for i, (key, bands) in enumerate(zip(keys, self._band_keys(sigs), strict=True)):
            if table.keys().isdisjoint(bands):  # the common case, checked in C
                results.append(None)
                self._insert(key, sigs[i] if verify else None, bands, clean=True)
                continue
            match = self._verified(bands, sigs[i])
            results.append(match)
            if match is None:
                self._insert(key, sigs[i] if verify else None, bands, clean=False)
        return results

    def sketches(self, texts: Sequence[str]) -> list[tuple[Any, list[int]]]:
        """(signature, band keys) per text, computed for the whole batch at once."""
        sigs = self.hasher.signatures(texts)
        return list(zip(sigs, self._band_keys(sigs), strict=True))

    def match(self, sketch: tuple[Any, list[int]]) -> str | None:
        """The key of an indexed near-duplicate, or None; indexes nothing."""
        sig, bands = sketch
        return self._verified(bands, sig)

    def _verified(self, bands: list[int], sig: Any) -> str | None:
        seen: set[int] = set()
        for index in map(self.table.get, bands):  # candidates, each once, in band order
            if index is None or index in seen:
                continue
            if not self.verify or float((self.sigs[index] == sig).mean()) >= self.threshold:
                return self.keys[index]
            seen.add(index)
        return None

    def check_sketches(self, keys: Sequence[str], sketches: Sequence[tuple[Any, list[int]]]
                       ) -> list[str | None]:
        """`check` on sketches computed elsewhere (in parallel, on Ray)."""
        return check_batch(self.batch(sketches), keys)

    def batch(self, sketches: Sequence[tuple[Any, list[int]]]) -> DedupBatch:
        """A view for deciding a batch in order: `match(i)`, `register(i, key)`, `commit()`
        (the same interface as the Ray-sharded index, which needs the batch up front)."""
        return _LocalBatch(self, sketches)


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
        self.sigs.append(sig.copy() if self.verify and sig is not None else None)
        if clean:  # none of its band keys is in the table yet
            self.table.update(zip(bands, repeat(index)))
        else:
            for band_key in bands:
                self.table.setdefault(band_key, index)


class DedupBatch(Protocol):
    def match(self, i: int) -> str | None:
        """An indexed or earlier-registered near-duplicate of document i, or None."""

    def register(self, i: int, key: str) -> None:
        """Index document i under `key` (later documents of the batch see it)."""

    def commit(self) -> None:
        """Make the batch's registrations permanent."""


def check_batch(view: DedupBatch, keys: Sequence[str]) -> list[str | None]:
    """For each document in order: its near-duplicate's key, or None (then registered)."""
    results: list[str | None] = []
    for i, key in enumerate(keys):
        match = view.match(i)
        results.append(match)
        if match is None:
            view.register(i, key)
    view.commit()
    return results


class _LocalBatch:
    def __init__(self, owner: Deduper, sketches: Sequence[tuple[Any, list[int]]]) -> None:
        self.owner, self.sketches = owner, sketches

    def match(self, i: int) -> str | None:
        return self.owner.match(self.sketches[i])

    def register(self, i: int, key: str) -> None:
        self.owner.insert(key, self.sketches[i])

    def commit(self) -> None:
        pass
