"""The building blocks of the configuration schema: a documented field and a strict section."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def setting(default: Any, description: str, *, affects_output: bool = True, **kw: Any) -> Any:
    """A documented field; `affects_output=False` keeps it out of stage fingerprints."""
    extra: dict[str, Any] | None = None if affects_output else {"affects_output": False}
    return Field(default, description=description, json_schema_extra=extra, **kw)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
