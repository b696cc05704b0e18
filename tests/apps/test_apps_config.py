"""Config loading: dataclass defaults <- YAML <- --set overrides, and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from entropykit.config import (
    config_to_dict,
    describe_keys,
    load_config,
    parse_overrides,
    read_run_section,
)
from entropykit.errors import ConfigError, UsageError
from entropykit_shared import FabricConfig


@dataclass
class Optim:
    lr: float = 0.001
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class Cfg:
    epochs: int = 10
    name: str = "base"
    data_dir: Path | None = None
    use_amp: bool = False
    optim: Optim = field(default_factory=Optim)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_defaults_without_file_or_overrides() -> None:
    cfg = load_config(Cfg)
    assert cfg == Cfg()
    assert isinstance(cfg.optim, Optim)


def test_file_then_overrides_take_precedence(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", {"epochs": 3, "optim": {"lr": 0.1}, "name": "file"})
    cfg = load_config(Cfg, path, ["optim.lr=0.5", "optim.betas=[0.8, 0.9]", "use_amp=true"])
    assert cfg.epochs == 3
    assert cfg.name == "file"
    assert cfg.optim.lr == 0.5
    assert cfg.optim.betas == [0.8, 0.9]
    assert cfg.use_amp is True


def test_override_values_are_converted_to_the_field_type(tmp_path: Path) -> None:
    cfg = load_config(Cfg, None, ["epochs=7", f"data_dir={tmp_path}", "optim.lr=1"])
    assert cfg.epochs == 7
    assert cfg.data_dir == tmp_path
    assert isinstance(cfg.optim.lr, float)


def test_base_preset_is_the_starting_point() -> None:
    cfg = load_config(Cfg, None, ["name=x"], base=Cfg(epochs=2))
    assert (cfg.epochs, cfg.name) == (2, "x")


def test_unknown_key_lists_valid_keys_and_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(Cfg, None, ["optim.lrr=0.1"])
    message = str(info.value)
    assert "unknown config key 'optim.lrr'" in message
    assert "did you mean 'optim.lr'" in message
    for key in ("epochs: int = 10", "optim.lr: float = 0.001", "use_amp: bool = False"):
        assert key in message


def test_unknown_key_in_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", {"epochz": 3})
    with pytest.raises(ConfigError, match=r"unknown config key 'epochz' in config file .*c\.yaml"):
        load_config(Cfg, path)


def test_wrong_type_is_an_error_with_valid_keys() -> None:
    with pytest.raises(ConfigError, match="wrong type for config key 'epochs'") as info:
        load_config(Cfg, None, ["epochs=many"])
    assert "valid keys" in str(info.value)


def test_post_init_validation_becomes_config_error() -> None:
    with pytest.raises(ConfigError, match="epochs must be at least 1"):
        load_config(Cfg, None, ["epochs=0"])


@pytest.mark.parametrize("bad", ["epochs", "=3", "  =1"])
def test_malformed_override(bad: str) -> None:
    with pytest.raises(ConfigError, match="must look like key=value"):
        parse_overrides([bad])


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Cfg, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Cfg, bad)
    listing = write(tmp_path / "list.yaml", [1, 2])
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(Cfg, listing)


def test_config_error_is_a_usage_error() -> None:
    assert issubclass(ConfigError, UsageError)


def test_run_section_is_skipped_and_readable(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", {"run": {"seed": 5, "device": "cpu"}, "epochs": 4})
    assert load_config(Cfg, path).epochs == 4
    assert read_run_section(path) == {"seed": 5, "device": "cpu"}
    assert read_run_section(None) == {}


def test_saved_config_round_trips(tmp_path: Path) -> None:
    cfg = Cfg(epochs=3, data_dir=tmp_path, optim=Optim(lr=0.2))
    data = config_to_dict(cfg)
    assert data["optim"] == {"lr": 0.2, "betas": [0.9, 0.999]}
    path = write(
        tmp_path / "saved.yaml", {"run": {"seed": 1}, **{**data, "data_dir": str(tmp_path)}}
    )
    assert load_config(Cfg, path) == cfg


def test_non_dataclass_is_rejected() -> None:
    with pytest.raises(TypeError, match="dataclass"):
        load_config(dict)  # type: ignore[arg-type]


def test_describe_keys_flattens_nested_sections() -> None:
    keys = describe_keys(Cfg)
    assert keys[0] == "epochs: int = 10"
    assert "optim.betas: list[float] = [0.9, 0.999]" in keys
    assert len(keys) == 6


@dataclass
class WithFabric:
    epochs: int = 1
    fabric: FabricConfig = field(default_factory=FabricConfig)


def test_fabric_section_is_settable() -> None:
    cfg = load_config(WithFabric, None, ["fabric.devices=4", "fabric.strategy=ddp"])
    assert cfg.fabric == FabricConfig(devices="4", strategy="ddp")
    with pytest.raises(ConfigError, match=r"fabric\.num_nodes"):
        load_config(WithFabric, None, ["fabric.num_nodes=two"])
