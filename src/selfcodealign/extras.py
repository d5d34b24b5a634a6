"""Optional dependencies: import them lazily and fail with the pip extra to install.

Heavy libraries live behind extras (`vllm`, `hf`, `openai`, `train`, `ray`). A module that needs
one calls `require("transformers", extra="hf")` at the point of use, never at import time, so
`import selfcodealign` and `selfcodealign --help` stay fast and work with the core install only.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from selfcodealign.errors import MissingExtraError

# Which extra provides which importable top-level module.
EXTRA_OF_MODULE: dict[str, str] = {
    "vllm": "vllm",
    "torch": "hf",
    "transformers": "hf",
    "openai": "openai",
    "httpx": "openai",
    "trl": "train",
    "peft": "train",
    "accelerate": "train",
    "datasets": "train",
    "ray": "ray",
    "numpy": "seeds",
    "ahocorasick": "seeds",
    "pyarrow": "seeds",
}


def install_hint(extra: str) -> str:
    return f"pip install 'selfcodealign[{extra}]'"


def require(module: str, *, extra: str | None = None, feature: str | None = None) -> ModuleType:
    """Import `module` or raise MissingExtraError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = extra or EXTRA_OF_MODULE.get(top)
        what = feature or f"module '{module}'"
        hint = f"; install it with: {install_hint(extra)}" if extra else ""
        raise MissingExtraError(f"{what} needs '{top}', which is not installed{hint}") from exc


def available(module: str) -> bool:
    """True when `module` can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
