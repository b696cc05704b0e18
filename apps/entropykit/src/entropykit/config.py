"""Load a library's dataclass config from YAML plus ``--set a.b=value`` overrides.

The dataclass is the schema (omegaconf structured config): an unknown key or a value of the wrong
type is a :class:`~entropykit.errors.ConfigError` whose message lists the valid keys. A dataclass
may validate values in ``__post_init__`` by raising ``ValueError``; that becomes a ConfigError too.

A config file may carry a ``run:`` section (every run directory's ``config.yaml`` does: seed,
device, command). It is not part of the library config: :func:`load_config` skips it and
:func:`read_run_section` returns it, so a saved ``config.yaml`` can be passed back with
``--config``.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from entropykit.errors import ConfigError

T = TypeVar("T")

RUN_SECTION = "run"


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def describe_keys(cls: type, prefix: str = "") -> list[str]:
    """All settable keys of a (nested) dataclass as ``"a.b: type = default"`` lines."""
    hints = typing.get_type_hints(cls)
    lines: list[str] = []
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        tp = hints.get(field.name, field.type)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            lines += describe_keys(tp, prefix=f"{key}.")
            continue
        if field.default is not dataclasses.MISSING:
            default = repr(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = repr(field.default_factory())
        else:
            default = "(required)"
        lines.append(f"{key}: {_type_name(tp)} = {default}")
    return lines


def _valid_keys_message(cls: type) -> str:
    return "valid keys:\n  " + "\n  ".join(describe_keys(cls))


def _suggest(key: str, cls: type) -> str:
    keys = [line.split(":", 1)[0] for line in describe_keys(cls)]
    close = difflib.get_close_matches(key, keys, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of keys to values, not a {type(data).__name__}"
        )
    return data


def read_run_section(path: str | Path | None) -> dict[str, Any]:
    """The ``run:`` section of a config file (empty when there is none or no file)."""
    if path is None:
        return {}
    section = _read_yaml(Path(path)).get(RUN_SECTION) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"the 'run:' section of {path} must be a mapping")
    return section


def parse_overrides(overrides: Sequence[str]) -> list[str]:
    """Check that each override looks like ``key=value`` (values are parsed as YAML)."""
    checked = []
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"override {item!r} must look like key=value, for example --set train.lr=0.001"
            )
        checked.append(item)
    return checked


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    base: T | None = None,
) -> T:
    """Build a ``cls`` instance: defaults (or ``base``) <- YAML file <- overrides, validated.

    Args:
        cls: a dataclass type.
        path: optional YAML file; its ``run:`` section is ignored here.
        overrides: ``"a.b=value"`` strings; values are parsed as YAML (``3`` is an int, ``[1, 2]``
            a list, ``null`` None).
        base: start from this instance instead of the defaults (the ``--quick`` preset).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"config class must be a dataclass type, got {cls!r}")
    layers = []
    if path is not None:
        data = _read_yaml(Path(path))
        data.pop(RUN_SECTION, None)
        layers.append(("config file " + str(path), OmegaConf.create(data)))
    if overrides:
        layers.append(("--set", OmegaConf.from_dotlist(parse_overrides(overrides))))

    merged = OmegaConf.structured(base if base is not None else cls)
    for source, layer in layers:
        try:
            merged = OmegaConf.merge(merged, layer)
        except ConfigKeyError as exc:
            key = exc.full_key or str(exc.key)
            raise ConfigError(
                f"unknown config key '{key}' in {source}{_suggest(key, cls)}; "
                f"{_valid_keys_message(cls)}"
            ) from None
        except ValidationError as exc:
            key = exc.full_key or str(exc.key)
            raise ConfigError(
                f"wrong type for config key '{key}' in {source}: {exc.msg.splitlines()[0]}; "
                f"{_valid_keys_message(cls)}"
            ) from None
        except OmegaConfBaseException as exc:
            raise ConfigError(f"invalid configuration in {source}: {exc}") from None
    try:
        return typing.cast(T, OmegaConf.to_object(merged))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        raise ConfigError(f"invalid configuration at '{key}': {exc}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML-ready dict of a dataclass instance (paths and enums as strings)."""
    from omegaconf import OmegaConf

    if config is None:
        return {}
    node = OmegaConf.structured(config)
    return typing.cast(dict[str, Any], OmegaConf.to_container(node, resolve=True, enum_to_str=True))
