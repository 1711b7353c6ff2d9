"""The preset is rebuilt from what the file records; what this project's networks cannot express is named."""

import math

import pytest
from authors_helpers import tiny_networks
from authors_writer import dump, meta_states, snapshot_records, write_snapshot

from digan.authors import AuthorsSnapshotError, read_pickle, read_snapshot, rebuild_preset
from digan.authors.configuration import plain, resolve
from digan.authors.pickle_reader import Refused, submodule
from digan.config import get_preset


def rebuilt(path):
    top = read_pickle(path)
    return rebuild_preset(top["G_ema"], top["D"], top["training_set_kwargs"])


@pytest.mark.parametrize("name", ["paper-128", "small-64", "tiny-32"])
def test_a_file_of_a_preset_rebuilds_that_preset(tmp_path, name):
    """Full-size networks written as shapes only (zero-stride tensors): the paper's file in 180 kB."""
    preset = get_preset(name)
    G, D = meta_states(preset)
    found = rebuilt(write_snapshot(tmp_path / "shapes.pkl", preset, G, D))
    assert found.generator == preset.generator and found.discriminator == preset.discriminator
    assert found.training.clip_frames == 16 and found.training.mirror


@pytest.mark.parametrize(
    "overrides",
    [
        [
            "generator.input_resolution=16",
            "generator.fmm_rank=3",
            "generator.fourier_features=24",
            "generator.extra_layers=2",
            "generator.channel_base=2048",
            "generator.channel_max=96",
        ],
        [
            "generator.mapping_layers=4",
            "generator.mapping_lr_multiplier=0.1",
            "generator.w_avg_beta=0.99",
            "generator.temporal_sigma=0.5",
            "generator.spatial_sigma=2.0",
            "generator.z_dim=64",
            "generator.w_dim=48",
            "generator.motion_dim=32",
            "discriminator.mbstd_group=2",
            "discriminator.mbstd_channels=2",
            "discriminator.channel_base=4096",
            "discriminator.channel_max=32",
        ],
        [
            "generator.resolution=64",
            "generator.input_resolution=64",
            "generator.extra_layers=0",
            "discriminator.resolution=64",
            "generator.fine_sigma=1.5",
        ],
    ],
    ids=["widths-rank-grid", "mapping-sigmas-D", "one-scale"],
)
def test_other_configurations_are_read_from_the_file(tmp_path, overrides):
    preset = get_preset("paper-128").override(overrides)
    G, D = meta_states(preset)
    found = rebuilt(write_snapshot(tmp_path / "shapes.pkl", preset, G, D))
    expected = preset.generator
    if expected.input_resolution == expected.resolution:  # one scale: there is no finer sigma to record
        expected = type(expected)(**{**expected.__dict__, "fine_sigma": None})
    assert found.generator == expected and found.discriminator == preset.discriminator


def test_the_fixture_gives_its_readme_configuration(authors_small):
    g, d = authors_small.preset.generator, authors_small.preset.discriminator
    assert (g.resolution, g.input_resolution, g.channel_base, g.channel_max) == (32, 8, 256, 512)
    assert [g.width(r) for r in (4, 8, 16, 32)] == [64, 32, 16, 8]
    assert (g.fmm_rank, g.fourier_features, g.extra_layers, g.mapping_layers) == (2, 16, 1, 2)
    assert (g.z_dim, g.w_dim, g.motion_dim) == (512, 512, 512)
    assert g.spatial_sigma == math.sqrt(10) and g.fine_sigma is None and g.temporal_sigma == 0.25
    assert (d.resolution, d.channel_base, d.channel_max, d.mbstd_group, d.mbstd_channels) == (32, 256, 512, 4, 1)


def test_omegaconf_nodes_read_as_their_content(fixtures):
    """The fixture's modules hold their config as omegaconf 2.0 nodes (with parent links); G's keywords as a dict."""
    G = read_pickle(fixtures / "snapshot-small.pkl")["G_ema"]
    node = submodule(G, "synthesis.b16.coord_fuser").state["cfg"]
    assert node.kind == "omegaconf.dictconfig.DictConfig"
    assert plain(node) == G.state["_init_kwargs"]["cfg"]["coords"]


def test_references_resolve_against_the_generator_node():
    cfg = {"coords": {"low": {"n": 16}, "res": {"8": "${coords.low}"}}, "input": {"fuser": "${coords}"}}
    out = resolve(cfg, cfg)
    assert out["input"]["fuser"]["res"]["8"] == {"n": 16}
    for bad, reason in (
        ({"a": "x${b}", "b": 1}, "only whole-value references"),
        ({"a": "${nope}"}, "refers to a key the configuration does not have"),
        ({"a": "${b}", "b": "${a}"}, "a cycle of ${...} references"),
    ):
        with pytest.raises(Refused, match=reason.replace("$", r"\$").replace("{", r"\{").replace(".", r"\.")):
            resolve(bad, bad)


def edit_cfg(records, change):
    for net in ("G", "G_ema"):
        change(records[net].state["_init_kwargs"]["cfg"])


def edit_module(path, key, value):
    def change(records):
        for net in ("G", "G_ema"):
            submodule_call(records[net], path).state[key] = value

    return change


def submodule_call(record, path):
    for name in path.split("."):
        record = record.state["_modules"][name]
    return record


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda r: edit_cfg(r, lambda c: c.update(upsampling_mode="bilinear")), "cfg.upsampling_mode is 'bilinear'"),
        (lambda r: edit_cfg(r, lambda c: c.update(use_noise=True)), "cfg.use_noise is True"),
        (lambda r: edit_cfg(r, lambda c: c["fmm"].update(activation="none")), "cfg.fmm.activation is 'none'"),
        (
            lambda r: edit_cfg(r, lambda c: c["coords"].update(per_resolution=False)),
            "cfg.coords.per_resolution is False",
        ),
        (lambda r: edit_cfg(r, lambda c: c["input"].update(type="const")), "cfg.input.type is 'const'"),
        (lambda r: edit_cfg(r, lambda c: c.update(num_extra_convs={"16": 1})), "cfg.num_extra_convs.16 is 1"),
        (lambda r: edit_cfg(r, lambda c: c.update(shiny=True)), "cfg.shiny is a setting this converter does not know"),
        (
            lambda r: edit_cfg(r, lambda c: c["coords"]["low_res_cfg"].update(log_emb_size=8)),
            "cfg.coords.res_configs.8.log_emb_size is 8",
        ),
        (
            edit_module("synthesis.b16.coord_fuser", "fourier_scale", 9.0),
            "fourier_scale differs between the finer scales",
        ),
        (
            edit_module("synthesis.b16.coord_fuser", "log_emb_size", 4),
            "G_ema.synthesis.b16.coord_fuser.log_emb_size is 4",
        ),
        (
            edit_module("synthesis.b4.input.input.coord_fuser", "motion_sigma", 0.5),
            "motion_sigma differs between scales",
        ),
        (lambda r: r["G_ema"].state["_init_kwargs"].update(c_dim=10), "G_ema._init_kwargs.c_dim is 10"),
        (lambda r: r["G_ema"].state["_init_kwargs"].update(ours=False), "G_ema._init_kwargs.ours is False"),
        (
            lambda r: r["D"].state["_init_kwargs"].update(block_kwargs={"freeze_layers": 2}),
            "D._init_kwargs.block_kwargs.freeze_layers is a setting this converter does not know",
        ),
        (
            lambda r: r["G"].state["_init_kwargs"]["synthesis_kwargs"].update(channel_base=512),
            "G and G_ema differ in configuration",
        ),
        (
            lambda r: (
                r["D"]
                .state["_modules"]["imageD"]
                .state["_modules"]["b4"]
                .state["_modules"]["mbstd"]
                .state.update(group_size=2)
            ),
            "the motion and image discriminators differ",
        ),
    ],
    ids=[
        "upsampling",
        "noise",
        "fmm",
        "per-resolution",
        "input",
        "extra-convs",
        "unknown-key",
        "log-basis",
        "fine-sigmas",
        "module-log-basis",
        "motion-sigma",
        "conditional",
        "not-ours",
        "block-kwargs",
        "G-vs-G_ema",
        "two-Ds",
    ],
)
def test_what_the_networks_cannot_express_is_named(tmp_path, tiny_preset_authors, change, named):
    G, D = tiny_networks(tiny_preset_authors)
    records = snapshot_records(tiny_preset_authors, G, D)
    change(records)
    path = dump(records, tmp_path / "odd.pkl")
    with pytest.raises(AuthorsSnapshotError) as e:
        read_snapshot(path)
    assert named in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda r: r["G_ema"].state["_init_kwargs"].pop("cfg"), "G_ema is a Generator without DIGAN's configuration"),
        (lambda r: setattr(r["D"], "class_name", "Discriminator"), "D is a Discriminator, not DIGAN's pair"),
    ],
    ids=["generator", "discriminator"],
)
def test_a_stylegan2_ada_snapshot_is_not_taken_for_digan(tmp_path, tiny_preset_authors, change, named):
    G, D = tiny_networks(tiny_preset_authors)
    records = snapshot_records(tiny_preset_authors, G, D)
    change(records)
    with pytest.raises(AuthorsSnapshotError, match="StyleGAN2-ADA") as e:
        read_snapshot(dump(records, tmp_path / "stylegan2.pkl"))
    assert named in str(e.value)


def test_the_clip_length_and_flips_come_from_the_dataset_record(tmp_path, tiny_preset_authors):
    G, D = tiny_networks(tiny_preset_authors)
    records = snapshot_records(tiny_preset_authors, G, D, training_set_kwargs={"nframes": 32, "xflip": False})
    preset = read_snapshot(dump(records, tmp_path / "n.pkl")).preset
    assert preset.training.clip_frames == 32 and not preset.training.mirror
