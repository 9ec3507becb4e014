"""Typed YAML configs: typos and wrong types are errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from k2m_core.config import ConfigError, load_config, save_config
from k2m_core.train.adapt import AdaptConfig
from k2m_core.train.pretrain import TrainConfig

CONFIGS = Path(__file__).resolve().parent.parent / "training" / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    kind = {"pretrain": TrainConfig, "adapt": AdaptConfig}[path.stem.split("_")[0]]
    cfg = load_config(kind, path)
    assert cfg.batch_size > 0


def test_overrides_reach_nested_fields_with_types(tmp_path: Path) -> None:
    cfg = load_config(
        TrainConfig,
        CONFIGS / "pretrain_smoke.yaml",
        ["model.width=64", "lr=2e-4", "data.val_bank=/x/bank", "device=cpu"],
    )
    assert cfg.model.width == 64
    assert cfg.lr == pytest.approx(2e-4)
    assert cfg.data.val_bank == Path("/x/bank")
    assert cfg.model.keypoint_format == "coco18"  # untouched default


def test_save_then_load_is_identity(tmp_path: Path) -> None:
    cfg = load_config(TrainConfig, CONFIGS / "pretrain_default.yaml", ["augmentation.tilt_deg=5"])
    again = load_config(TrainConfig, save_config(cfg, tmp_path / "c.yaml"))
    assert again == cfg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.widht=64", "model.widht.*width"),
        ("stepz=3", "stepz"),
        ("steps=many", "steps: expected int"),
        ("model=3", "model: expected a mapping"),
        ("lr", "not of the form"),
    ],
)
def test_mistakes_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(TrainConfig, CONFIGS / "pretrain_smoke.yaml", [override])


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config"):
        load_config(TrainConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(TrainConfig, bad)


def test_every_target_domain_shift_is_a_config_knob() -> None:
    """target.domain.* reaches TargetDomainConfig, tuples included, and bad values are named."""
    cfg = load_config(AdaptConfig, None, [
        "target.domain.definition_offset_scale=0", "target.domain.image_size=[1280,720]",
        "target.domain.swap_prob_back=0.3",
    ])  # fmt: skip
    assert cfg.target.domain.definition_offset_scale == 0.0
    assert cfg.target.domain.image_size == (1280, 720)
    assert cfg.target.domain.swap_prob_back == 0.3
    with pytest.raises((ConfigError, ValueError), match="swap_prob_back"):
        load_config(AdaptConfig, None, ["target.domain.swap_prob_back=1.5"])
