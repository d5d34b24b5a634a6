from __future__ import annotations

import sys

import pytest

from selfcodealign.errors import MissingExtraError
from selfcodealign.extras import available, require


def test_missing_extra_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes the import fail
    with pytest.raises(MissingExtraError) as info:
        require("transformers", feature="the transformers backend")
    assert str(info.value) == (
        "the transformers backend needs 'transformers', which is not installed; "
        "install it with: pip install 'selfcodealign[hf]'"
    )


def test_submodules_and_explicit_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'selfcodealign\[vllm\]'"):
        require("vllm.sampling_params")
    monkeypatch.setitem(sys.modules, "somelib", None)
    with pytest.raises(MissingExtraError, match=r"selfcodealign\[ray\]"):
        require("somelib", extra="ray")
    with pytest.raises(MissingExtraError, match=r"not installed$"):
        require("somelib")


def test_present_modules_import() -> None:
    assert require("json").dumps([1]) == "[1]"
    assert available("json") and not available("no_such_module_xyz")
