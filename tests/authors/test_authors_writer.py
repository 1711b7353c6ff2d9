"""The synthetic writer writes what the authors' code writes: same modules, attributes, tensors and globals."""

from authors_helpers import globals_named
from authors_writer import write_snapshot

from digan.authors import read_pickle
from digan.authors.pickle_reader import module_tensors


def tree(record, prefix=""):
    """Every module's kind and the names of its state, by path."""
    out = {prefix: (record.kind, sorted(record.state))}
    for name, child in (record.state.get("_modules") or {}).items():
        if child is not None:
            out.update(tree(child, f"{prefix}{name}."))
    return out


def test_the_writer_writes_the_fixture_from_its_converted_networks(fixtures, authors_small, tmp_path):
    fixture = fixtures / "snapshot-small.pkl"
    ours = write_snapshot(
        tmp_path / "ours.pkl", authors_small.preset, authors_small.G_ema, authors_small.D, authors_small.G
    )
    theirs, written = read_pickle(fixture), read_pickle(ours)
    assert globals_named(ours) == globals_named(fixture)
    for net in ("G", "G_ema", "D"):
        assert tree(written[net]) == tree(theirs[net])
        a, b = module_tensors(theirs[net]), module_tensors(written[net])
        assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
        assert all((a[k] - b[k]).abs().max() < 1e-6 for k in a)  # the fold there and back: float rounding
    for key in ("G_ema", "D"):
        assert written[key].state["_init_kwargs"] == theirs[key].state["_init_kwargs"]
