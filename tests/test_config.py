"""Presets and `--set section.field=value` overrides."""

import pytest

from digan.config import get_preset


def test_override_reads_each_field_as_its_type():
    base = get_preset("tiny-32")
    p = base.override(
        [
            "training.lr=0.004",
            "training.batch=8",
            "training.mirror=false",
            "training.betas=0,0.9",
            "generator.fine_sigma=none",
            "discriminator.channel_base=128",
            "training.diffaugment=color",
        ]
    )
    assert p.training.lr == 0.004 and p.training.batch == 8 and p.training.mirror is False
    assert p.training.betas == (0.0, 0.9) and p.generator.fine_sigma is None
    assert p.discriminator.channel_base == 128 and p.training.diffaugment == "color"
    assert p.name == base.name and p.generator.resolution == base.generator.resolution
    assert base.override([]) == base


def test_an_optional_field_left_unset_reads_as_a_float():
    p = get_preset("paper-128").override(["generator.fine_sigma=1.5", "training.ema_kimg=2"])
    assert p.generator.fine_sigma == 1.5 and p.training.ema_kimg == 2.0


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr=0.1", "use section.field=value"),
        ("training.lr", "use section.field=value"),
        ("model.lr=1", "use section.field=value"),
        ("training.lrr=1", "training has no field 'lrr'"),
        ("training.batch=x", "invalid literal"),
        ("training.batch=0", "`batch` must be positive"),
        ("training.lr=nan", "finite number"),
        ("training.mirror=maybe", "true or false"),
        ("generator.resolution=48", "power of two"),
    ],
)
def test_bad_overrides_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        get_preset("tiny-32").override([text])
