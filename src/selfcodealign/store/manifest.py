"""What a run was made with: package, Python, key library versions, git commits.

Versions are read from installed package metadata, never by importing the libraries, so writing
a manifest costs milliseconds even with torch or vLLM installed.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from selfcodealign import __version__

KEY_LIBRARIES = (
    "torch", "transformers", "vllm", "trl", "peft", "accelerate", "datasets", "openai", "ray",
    "pydantic", "click", "orjson",
)


def library_versions(names: tuple[str, ...] = KEY_LIBRARIES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_info(path: Path) -> dict[str, Any] | None:
    """Commit and dirty flag of the git checkout holding `path`, or None outside one."""
    path = path.resolve()
    if not any((p / ".git").exists() for p in (path, *path.parents)):
        return None
    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def environment() -> dict[str, Any]:
    """The package, interpreter, platform and library versions of this process."""
    package_dir = Path(__file__).resolve().parents[1]
    return {
        "package": "selfcodealign",
        "version": __version__,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "libraries": library_versions(),
        "git": {"package": git_info(package_dir), "workdir": git_info(Path.cwd())},
    }
