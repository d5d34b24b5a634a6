"""Resolving a Config from its layers, and what is derived from a resolved one.

Layers, later wins: defaults -> YAML file -> `--set key.sub=value` -> explicit flags. Keys are
checked against the schema before validation so an unknown key names its layer and the valid keys;
values are validated once, after merging, and errors name the layer the bad value came from.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ValidationError

from selfcodealign import registry
from selfcodealign.config.schema import Config
from selfcodealign.errors import ConfigError

# --- layering -------------------------------------------------------------------------------

DEFAULTS = "defaults"


def _section_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_mapping_field(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is dict


def _unknown_key(model: type[BaseModel], prefix: str, key: object, origin: str) -> ConfigError:
    valid = sorted(model.model_fields)
    where = f"'{prefix.rstrip('.')}'" if prefix else "the top level"
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ConfigError(
        f"unknown config key '{prefix}{key}' (from {origin}); valid keys at {where}: "
        f"{', '.join(valid)}{hint}"
    )


def _check_keys(model: type[BaseModel], data: Mapping[Any, Any], prefix: str, origin: str,
                problems: list[ConfigError]) -> None:
    """Collect keys that no field declares, recursing into sections."""
    for key, value in data.items():
        if not isinstance(key, str) or key not in model.model_fields:
            problems.append(_unknown_key(model, prefix, key, origin))
            continue
        sub = _section_model(model.model_fields[key].annotation)
        if sub is None:
            continue
        if not isinstance(value, Mapping):
            problems.append(ConfigError(
                f"config key '{prefix}{key}' (from {origin}) is a section and needs a mapping of "
                f"settings, not {value!r}"
            ))
            continue
        _check_keys(sub, value, f"{prefix}{key}.", origin, problems)


def _check_path(path: list[str], origin: str) -> None:
    """Check a dotted override path against the schema (dict-valued fields take any sub-key)."""
    model: type[BaseModel] = Config
    for depth, part in enumerate(path):
        prefix = "".join(p + "." for p in path[:depth])
        if part not in model.model_fields:
            raise _unknown_key(model, prefix, part, origin)
        annotation = model.model_fields[part].annotation
        sub = _section_model(annotation)
        rest = path[depth + 1 :]
        if sub is not None:
            if not rest:
                raise ConfigError(
                    f"'{'.'.join(path)}' (from {origin}) is a section; set one of its keys: "
                    f"{', '.join(sorted(sub.model_fields))}"
                )
            model = sub
            continue
        if rest and not (_is_mapping_field(annotation) and len(rest) == 1):
            raise ConfigError(f"'{'.'.join(path[: depth + 1])}' (from {origin}) has no sub-keys")
        return


def _merge(base: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value


def _put(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        node = tree.get(part)
        if not isinstance(node, dict):
            node = tree[part] = {}
        tree = node
    tree[path[-1]] = value


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping, with one-line errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML in {path}{line}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfigError(f"{path} must hold a mapping of config sections, not a {kind}")
    return data


def parse_set(item: str) -> tuple[list[str], Any]:
    """Parse one `--set key.sub=value`; the value is read as YAML (numbers, bools, lists)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set expects key.sub=value, got {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def load_config(
    path: str | Path | None = None,
    sets: Iterable[str] = (),
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Resolve defaults -> YAML file -> `--set` overrides -> explicit flags into a Config.

    `flags` maps dotted keys to values given by dedicated command-line options; `None` values
    mean "flag not given" and are skipped.
    """
    tree: dict[str, Any] = {}
    origins: dict[str, str] = {}
    problems: list[ConfigError] = []  # every bad key at once, not one per attempt
    if path is not None:
        data = read_yaml(path)
        _check_keys(Config, data, "", str(path), problems)
        if not problems:
            _merge(tree, data)
        origins.update({leaf: str(path) for leaf in _leaves(data)})
    overrides = [(*parse_set(item), f"--set {item}") for item in sets]
    overrides += [(key.split("."), v, "a command-line flag") for key, v in (flags or {}).items()]
    for keys, value, origin in overrides:
        if value is None and origin == "a command-line flag":
            continue
        try:
            _check_path(keys, origin)
        except ConfigError as exc:
            problems.append(exc)
            continue
        _put(tree, keys, value)
        origins[".".join(keys)] = origin
    if problems:
        raise ConfigError("; ".join(str(p) for p in problems) if len(problems) == 1 else
                          f"{len(problems)} config problems: "
                          + "; ".join(str(p) for p in problems))
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins)) from None


def _describe(exc: ValidationError, origins: Mapping[str, str]) -> str:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        origin = next(
            (origins[k] for k in sorted(origins, key=len, reverse=True)
             if loc == k or loc.startswith(k + ".")),
            DEFAULTS,
        )
        problems.append(f"'{loc}' (from {origin}): {err['msg']}, got {err.get('input')!r}")
    return "invalid config: " + "; ".join(problems)


# --- outputs of a resolved config ------------------------------------------------------------


def to_yaml(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def config_hash(config: Config | Mapping[str, Any]) -> str:
    data = config.model_dump(mode="json") if isinstance(config, Config) else config
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _affects_output(model: type[BaseModel], name: str) -> bool:
    extra = model.model_fields[name].json_schema_extra
    return not (isinstance(extra, dict) and extra.get("affects_output") is False)


def _flatten(model: BaseModel, dumped: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        if not _affects_output(type(model), name):
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out.update(_flatten(value, dumped[name], f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = dumped[name]
    return out


def stage_settings(config: Config, stage: str) -> dict[str, Any]:
    """The output-affecting settings of `stage`, flat and JSON-ready: its resume fingerprint."""
    try:
        spec = registry.get(stage)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    dumped = config.model_dump(mode="json")
    flat = _flatten(config, dumped, "")
    out: dict[str, Any] = {}
    for dep in spec.fingerprint:
        if dep.startswith("backend.") and stage == "seeds" and not config.seeds.judge:
            continue  # the model touches seeds only through the optional docstring judge
        out.update({k: v for k, v in flat.items() if k == dep or k.startswith(dep + ".")})
    return dict(sorted(out.items()))


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "").replace("pathlib.", "")
    return text.replace("|", "\\|")  # escaped for Markdown tables


def reference_markdown() -> str:
    """The configuration reference (docs/config.md), generated from the models."""
    lines = [
        "# Configuration reference",
        "",
        "Generated by `selfcodealign config reference`; do not edit by hand.",
        "Layers, later wins: defaults -> `--config FILE.yaml` -> `--set key.sub=value` -> flags.",
        "Settings marked *operational* may change when a stage is resumed; every other setting a",
        "stage depends on is part of its fingerprint: a change makes resume refuse (`--force`).",
        "",
    ]
    for name, field in Config.model_fields.items():
        section = _section_model(field.annotation)
        assert section is not None
        lines += [f"## `{name}`", "", (section.__doc__ or "").strip(), ""]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        defaults = section().model_dump(mode="json")
        for key, sub in section.model_fields.items():
            note = "" if _affects_output(section, key) else " *(operational)*"
            default = orjson.dumps(defaults[key]).decode()
            lines.append(
                f"| `{name}.{key}` | `{_type_name(sub.annotation)}` | "
                f"`{default}` | "
                f"{sub.description}{note} |"
            )
        lines.append("")
    return "\n".join(lines)
