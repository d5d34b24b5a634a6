"""Typed, layered configuration (see `schema` for the settings and `layers` for resolution)."""

from selfcodealign.config.layers import (
    config_hash,
    load_config,
    parse_set,
    read_yaml,
    reference_markdown,
    stage_settings,
    to_yaml,
)
from selfcodealign.config.schema import Config

__all__ = [
    "Config",
    "config_hash",
    "load_config",
    "parse_set",
    "read_yaml",
    "reference_markdown",
    "stage_settings",
    "to_yaml",
]
