"""MinHash LSH near-dedup with its index sharded by band over Ray actors.

`ShardedDeduper` gives exactly the answers of `overlap.minhash.Deduper` (the first document of
each cluster is kept, a candidate counts only when the signatures agree on the threshold share
of positions), with the index spread over `shards` actors: band b's table lives on shard
b % shards, and the signature and key of document i on shard i % shards, so no process holds
the whole index. Per batch of documents (in order) there are three rounds of one call per shard:

1. lookup: each shard returns, for every document, the indexed document its bands point to;
2. fetch: the signatures of those candidates come from their owners;
3. insert: after the driver has decided each document in order (candidates from the index,
   then from the earlier unique documents of the same batch, checked band by band as the local
   Deduper does), the unique documents' band keys and signatures go to their shards.

The index is state that Ray cannot recompute: a lost shard stops the stage with an error, and
the rerun rebuilds the index from the stored seeds (the seeds stage's resume does that anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selfcodealign.errors import StoreError
from selfcodealign.overlap.minhash import Deduper, check_batch

Sketch = tuple[Any, list[int]]


class LSHShard:
    """A Ray actor: the tables of some bands, and the documents it owns."""

    def __init__(self) -> None:
        self.table: dict[int, int] = {}
        self.owned: dict[int, tuple[str, Any]] = {}

    def lookup(self, band_keys: list[list[int]]) -> list[list[int | None]]:
        get = self.table.get
        return [[get(key) for key in keys] for keys in band_keys]

    def fetch(self, indices: list[int]) -> dict[int, tuple[str, Any]]:
        return {i: self.owned[i] for i in indices}

    def insert(self, entries: list[tuple[list[int], int]],
               owned: list[tuple[int, str, Any]]) -> int:
        for band_keys, index in entries:
            for band_key in band_keys:
                self.table.setdefault(band_key, index)
        for index, doc_key, sig in owned:
            self.owned[index] = (doc_key, sig)
        return len(self.owned)


class ShardedDeduper:
    """Deduper's check/add with the index on Ray actors (see the module docstring)."""

    def __init__(self, ray: Any, threshold: float, num_perm: int, shingle_size: int,
                 shards: int) -> None:
        self.ray = ray
        self.sketcher = Deduper(threshold, num_perm, shingle_size)  # parameters and sketches
        self.threshold = threshold
        self.bands, self.rows = self.sketcher.bands, self.sketcher.rows
        remote = ray.remote(LSHShard)
        self.shards = [remote.options(num_cpus=0, max_restarts=0).remote()
                       for _ in range(max(1, shards))]
        self.count = 0

    def sketches(self, texts: Sequence[str]) -> list[Sketch]:
        return self.sketcher.sketches(texts)

    def _call(self, calls: list[Any]) -> list[Any]:
        from ray.exceptions import RayActorError

        try:
            return list(self.ray.get(calls))
        except RayActorError as exc:
            raise StoreError(f"an LSH index shard was lost ({type(exc).__name__}); rerun to "
                             "rebuild the index from the stored seeds and continue") from None

    def _split(self, bands: list[int], shard: int) -> list[int]:
        return bands[shard::len(self.shards)]

    def check_sketches(self, keys: Sequence[str], sketches: Sequence[Sketch]
                       ) -> list[str | None]:
        """For each document in order: an earlier near-duplicate's key, or None (indexed)."""
        return check_batch(self.batch(sketches), keys)

    def batch(self, sketches: Sequence[Sketch]) -> _ShardedBatch:
        """A view for deciding a batch in order (rounds 1 and 2 happen here, 3 at commit)."""
        return _ShardedBatch(self, sketches)

    def _register(self, key: str, sig: Any, bands: list[int], known: dict[int, tuple[str, Any]],
                  batch_table: dict[int, int]) -> int:
        index, self.count = self.count, self.count + 1
        known[index] = (key, sig)
        for band_key in bands:
            batch_table.setdefault(band_key, index)
        return index

    def _insert(self, new: list[tuple[list[int], int]],
                known: dict[int, tuple[str, Any]]) -> None:
        if not new:
            return
        count = len(self.shards)
        self._call([shard.insert.remote(
            [(self._split(bands, s), index) for bands, index in new],
            [(index, *known[index]) for _, index in new if index % count == s])
            for s, shard in enumerate(self.shards)])

    def add(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        """Index documents without checking them (rebuilding the index on resume)."""
        known: dict[int, tuple[str, Any]] = {}
        batch_table: dict[int, int] = {}
        new = [(bands, self._register(key, sig, bands, known, batch_table))
               for key, (sig, bands) in zip(keys, self.sketches(texts), strict=True)]
        self._insert(new, known)

    def close(self) -> None:
        for shard in self.shards:
            self.ray.kill(shard)
        self.shards = []


class _ShardedBatch:
    """One batch against the sharded index: candidates looked up and fetched up front, then
    decided in order exactly as the local Deduper would, then inserted at `commit`."""

    def __init__(self, owner: ShardedDeduper, sketches: Sequence[Sketch]) -> None:
        self.owner, self.sketches = owner, sketches
        count = len(owner.shards)
        found = owner._call([shard.lookup.remote([owner._split(b, s) for _, b in sketches])
                             for s, shard in enumerate(owner.shards)])
        # candidates[doc][band]: the indexed document band `band` of `doc` points to
        self.candidates = [[found[b % count][doc][b // count] for b in range(owner.bands)]
                           for doc in range(len(sketches))]
        wanted: list[set[int]] = [set() for _ in range(count)]
        for row in self.candidates:
            for index in row:
                if index is not None:
                    wanted[index % count].add(index)
        self.known: dict[int, tuple[str, Any]] = {}
        for part in owner._call([shard.fetch.remote(sorted(wanted[s]))
                                 for s, shard in enumerate(owner.shards)]):
            self.known.update(part)
        self.table: dict[int, int] = {}  # band key -> the first registered document here
        self.new: list[tuple[list[int], int]] = []

    def match(self, i: int) -> str | None:
        sig, bands = self.sketches[i]
        seen: set[int] = set()
        for band_key, indexed in zip(bands, self.candidates[i], strict=True):
            index = indexed if indexed is not None else self.table.get(band_key)
            if index is None or index in seen:
                continue
            other_key, other_sig = self.known[index]
            if float((other_sig == sig).mean()) >= self.owner.threshold:
                return other_key
            seen.add(index)
        return None

    def register(self, i: int, key: str) -> None:
        sig, bands = self.sketches[i]
        index = self.owner._register(key, sig, bands, self.known, self.table)
        self.new.append((bands, index))

    def commit(self) -> None:
        self.owner._insert(self.new, self.known)
        self.new = []
