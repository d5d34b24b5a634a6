"""Records and their stable ids.

Every record that flows between stages is a JSON object with an `id` derived from its lineage
(`make_id(parent_id, stage, index)`), so rerunning a stage recreates exactly the same ids and the
run store can skip what is already written. `parent` is the lineage link; the store adds
`input_id` to a stored line when the stage input that made it has another id, which is how
resume knows that an input is finished. Stage-specific record types add their own fields on top
of `Record`; anything model- or timing-related goes into `meta`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

R = TypeVar("R", bound="Record")

ID_HEX_CHARS = 16  # 64 bits: collision odds about 1e-7 at the paper's 2.4M responses


def make_id(*parts: object) -> str:
    """A stable id from lineage parts (parent id, stage name, index, content, ...)."""
    h = hashlib.blake2b(digest_size=ID_HEX_CHARS // 2)
    for part in parts:
        h.update(str(part).encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


@dataclass
class Record:
    """Fields every stage record has."""

    id: str
    parent: str  # id of the record this one was made from ("" for records mined from a corpus)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """Build from a JSON object, ignoring keys the store adds (`input_id`, `reason`)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
