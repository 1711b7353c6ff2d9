"""The authors' pickles are read as data: known globals become stand-ins, anything else is refused, nothing runs."""

import collections
import io
import os
import pickle
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import torch
from authors_helpers import globals_named, tiny_networks
from authors_writer import Global, Style, TensorCall, dump, legacy_storage_bytes, snapshot_records, write_snapshot

from digan.authors import AuthorsSnapshotError, read_pickle, read_snapshot
from digan.authors.pickle_reader import PersistentObject, SafeUnpickler, read_legacy_storage

README_GLOBALS = {
    "torch_utils.persistence._reconstruct_persistent_obj",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.storage._load_from_bytes",
    "collections.OrderedDict",
    "collections.defaultdict",
    "builtins.dict",
    "typing.Any",
    "omegaconf.dictconfig.DictConfig",
    "omegaconf.base.ContainerMetadata",
    "omegaconf.base.Metadata",
    "omegaconf.nodes.AnyNode",
    "numpy.core.multiarray.scalar",
    "numpy.dtype",
    "dnnlib.util.EasyDict",
    "torch.Size",
    "torch.distributions.beta.Beta",
    "torch.distributions.dirichlet.Dirichlet",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.container.ModuleList",
}


def one_line_error(path, call=read_pickle) -> str:
    with pytest.raises(AuthorsSnapshotError) as e:
        call(path)
    message = str(e.value)
    assert "\n" not in message and isinstance(e.value, ValueError)
    assert str(path) in message
    return message


def marker() -> Path:
    """A path that a run of the file's code would create (in the system's temp folder, as an attacker would)."""
    return Path(tempfile.gettempdir()) / f"digan-pwned-{uuid.uuid4().hex}"


def test_the_fixture_reads_as_records_naming_only_the_globals_its_readme_lists(fixtures):
    path = fixtures / "snapshot-small.pkl"
    assert globals_named(path) == README_GLOBALS
    top = read_pickle(path)
    assert set(top) == {"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"} and top["augment_pipe"] is None
    G = top["G_ema"]
    assert isinstance(G, PersistentObject) and G.class_name == "Generator"
    assert G.module_src.startswith("# The authors' module source was removed")  # kept as text
    fc = G.state["_modules"]["mapping"].state["_modules"]["fc0"].state
    assert fc["weight_gain"] == pytest.approx(0.01 / 512**0.5) and isinstance(fc["weight_gain"], float)
    weight = fc["_parameters"]["weight"]
    assert isinstance(weight, torch.Tensor) and weight.shape == (512, 512) and weight.dtype == torch.float32


@pytest.mark.parametrize("style", [Style(torch18=True), Style(numpy2=True)], ids=["torch-1.8", "numpy-2"])
def test_files_of_other_environments_read_the_same(tmp_path, tiny_preset_authors, style):
    G, D = tiny_networks(tiny_preset_authors)
    plain = read_snapshot(write_snapshot(tmp_path / "a.pkl", tiny_preset_authors, G, D))
    other_path = write_snapshot(tmp_path / "b.pkl", tiny_preset_authors, G, D, style=style)
    other = read_snapshot(other_path)
    assert other.preset == plain.preset
    assert all(torch.equal(other.G_ema[k], plain.G_ema[k]) for k in plain.G_ema)
    state = read_pickle(other_path)["G_ema"].state
    names = globals_named(other_path)
    if style.torch18:
        assert type(state["_parameters"]) is collections.OrderedDict and "_forward_hooks_with_kwargs" not in state
    else:
        assert "numpy._core.multiarray.scalar" in names and "numpy.core.multiarray.scalar" not in names


class Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize(
    "make",
    [
        lambda m: Evil(os.system, f"touch {m}"),
        lambda m: Evil(subprocess.Popen, ["touch", str(m)]),
        lambda m: Evil(eval, f"open({str(m)!r}, 'w')"),
        lambda m: Evil(exec, f"open({str(m)!r}, 'w')"),
        lambda m: Evil(Global("torch", "load"), str(m)),
        lambda m: Evil(Global("builtins", "getattr"), "x", "y"),
        lambda m: Evil(Global("torch_utils.persistence", "persistent_class"), str(m)),
    ],
    ids=["os.system", "subprocess.Popen", "eval", "exec", "torch.load", "getattr", "persistence.persistent_class"],
)
def test_any_other_global_is_refused_and_nothing_runs(tmp_path, make):
    made = marker()
    path = dump({"G": make(made)}, tmp_path / "evil.pkl")
    message = one_line_error(path)
    assert "refused global" in message and "nothing in the file was run" in message
    assert not made.exists() and os.listdir(tmp_path) == ["evil.pkl"]


def test_a_global_hidden_deep_in_a_network_is_refused(tmp_path, tiny_preset_authors):
    made = marker()
    G, D = tiny_networks(tiny_preset_authors)
    records = snapshot_records(tiny_preset_authors, G, D)
    records["D"].state["_modules"]["imageD"].state["_modules"]["b4"].state["hook"] = Evil(os.system, f"touch {made}")
    path = dump(records, tmp_path / "evil.pkl")
    assert "refused global posix.system" in one_line_error(path, read_snapshot)
    assert not made.exists() and os.listdir(tmp_path) == ["evil.pkl"]


def test_module_source_is_kept_as_text_and_never_run(tmp_path, tiny_preset_authors):
    made = marker()
    source = f"import os\nos.system('touch {made}')\nopen({str(tmp_path / 'made')!r}, 'w').write('ran')\n"
    G, D = tiny_networks(tiny_preset_authors)
    path = write_snapshot(tmp_path / "src.pkl", tiny_preset_authors, G, D, style=Style(module_src=source))
    snapshot = read_snapshot(path)
    assert read_pickle(path)["G_ema"].module_src == source
    assert torch.equal(snapshot.D["image.out.weight"], D["image.out.weight"])
    assert not made.exists() and os.listdir(tmp_path) == ["src.pkl"]


@pytest.mark.parametrize(
    "stream, reason",
    [
        (b"\x80\x04}})R.", "a call of a dict"),  # REDUCE on a dict from the data
        (b"\x80\x04}}b.", "setting the state of a dict"),  # BUILD on a plain dict
        (b"\x80\x04](K\x01K\x02u.", "setting items of a list"),  # SETITEMS on a list
        (b"\x80\x04\x8c\x01x\x94Q.", "opcode BINPERSID"),  # persistent ids: only inside a storage
    ],
    ids=["reduce", "build", "setitems", "persid"],
)
def test_stream_objects_cannot_be_called_or_built(tmp_path, stream, reason):
    path = tmp_path / "odd.pkl"
    path.write_bytes(stream)
    assert reason in one_line_error(path)


def written(data: bytes):
    def make(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return make


def torch_zip(path: Path) -> Path:
    torch.save({"w": torch.zeros(2)}, path)
    return path


@pytest.mark.parametrize(
    "make, reason",
    [
        (written(b""), "empty file"),
        (lambda p: p.mkdir() or p, "is a directory"),
        (lambda p: p, "no such file"),
        (torch_zip, "a zip archive (a torch.save file?)"),
        (written(bytes(range(1, 64))), "not a pickle of protocol 2 or later (it starts with bytes 01 02 03 04)"),
        (written(b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"ab"), "truncated"),  # BINBYTES8 of 1 TiB
    ],
    ids=["empty", "directory", "missing", "torch-zip", "random", "huge-length"],
)
def test_files_that_are_not_pickles_are_one_line_errors(tmp_path, make, reason):
    path = make(tmp_path / "network-snapshot-000000.pkl")
    assert reason in one_line_error(path, read_snapshot)


def test_a_truncated_snapshot_is_one_line(tmp_path, tiny_snapshot):
    data = tiny_snapshot[0].read_bytes()
    for cut in (len(data) // 3, len(data) - 1):
        path = tmp_path / f"cut-{cut}.pkl"
        path.write_bytes(data[:cut])
        assert "truncated" in one_line_error(path, read_snapshot)


def test_a_pickle_of_other_things_is_not_a_snapshot(tmp_path):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    assert "not a network snapshot of the authors' training loop (it holds weights" in one_line_error(
        path, read_snapshot
    )


def storage_of(payload: bytes):
    return read_legacy_storage(payload).data


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, torch.float64, torch.int64, torch.int32, torch.uint8, torch.bool]
)
def test_legacy_storages_read_back_exactly(dtype):
    values = (torch.arange(7) % 3).to(dtype) if dtype == torch.bool else torch.arange(-3, 4).to(dtype) * 3
    assert torch.equal(storage_of(legacy_storage_bytes(values)), values)


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"storage_name": "ComplexFloatStorage"}, "torch.ComplexFloatStorage is not supported"),
        ({"storage_name": "Evil"}, "refused global torch.Evil inside a storage"),
        ({"numel": 9}, "FloatStorage of 9 elements stored as 4 elements"),
        ({"view": ("k", 0, 2)}, "saved as a view of another"),
        ({"little_endian": False}, "big-endian"),
    ],
)
def test_malformed_storages_are_refused(tmp_path, kwargs, reason):
    payload = legacy_storage_bytes(torch.ones(4), **kwargs)
    path = dump({"w": TensorCall(torch.ones(4), storage=payload)}, tmp_path / "s.pkl")
    assert reason in one_line_error(path)


@pytest.mark.parametrize(
    "args, reason",
    [
        ({"size": (5,)}, "reaches past its storage of 4 elements"),
        ({"size": (2, 2), "stride": (3, 1)}, "reaches past its storage"),
        ({"offset": 2, "size": (3,)}, "reaches past its storage"),
        ({"stride": (-1,)}, "negative offset, size or stride"),
        ({"size": (2, 2), "stride": (1,)}, "malformed offset, size or stride"),
    ],
)
def test_tensors_reaching_outside_their_storage_are_refused(tmp_path, args, reason):
    path = dump({"w": TensorCall(torch.ones(4), **args)}, tmp_path / "t.pkl")
    assert reason in one_line_error(path)


def test_views_inside_a_storage_read(tmp_path):
    path = dump({"w": TensorCall(torch.arange(6.0), offset=1, size=(2, 2), stride=(1, 2))}, tmp_path / "v.pkl")
    assert torch.equal(read_pickle(path)["w"], torch.tensor([[1.0, 3.0], [2.0, 4.0]]))


def test_storage_bytes_are_parsed_as_they_are_read(fixtures):
    """Only tensors stay: the unpickler's memo keeps no storage bytes (the C unpickler would keep the file's
    whole tensor payload in memory twice)."""
    with open(fixtures / "snapshot-small.pkl", "rb") as f:
        reader = SafeUnpickler(io.BufferedReader(f))
        reader.load()
    assert not [v for v in reader.memo.values() if isinstance(v, bytes) and len(v) > 1000]


class ObjectScalar:
    """A numpy scalar of dtype object: what a pickle of an arbitrary object inside a numpy scalar looks like."""

    def __reduce__(self):
        return Global("numpy.core.multiarray", "scalar"), (ObjectDType(), b"\0" * 8)


class ObjectDType:
    def __reduce__(self):
        return Global("numpy", "dtype"), ("O8", False, True), (3, "|", None, None, None, -1, -1, 63)


def test_numpy_scalars_are_numbers_only(tmp_path):
    path = dump({"gain": ObjectScalar()}, tmp_path / "o.pkl")
    assert "a numpy scalar of dtype |O8" in one_line_error(path)
