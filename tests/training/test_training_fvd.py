import json

from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.training.fvd import training_fvd
from digan.training.loop import train


def test_periodic_fvd_is_logged_with_the_losses(i3d, tmp_path):
    preset = get_preset("tiny-32").replace_training(batch=4, kimg=0.004, snap_kimg=0.004, sample_seeds=1)
    source = Shapes(32, count=4)
    info = train(preset, "shapes", source=source, out=tmp_path, progress=False, fvd=training_fvd(source, preset, 2))
    record = json.loads((info.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["kimg"] == 0.004
    assert record["fvd2_16f"] > 0 and "kvd2_16f" in record and "G_motion" in record


def test_periodic_fvd_of_fewer_than_two_clips_is_refused_before_i3d_loads(monkeypatch):
    import pytest

    import digan.training.fvd as snapshot

    monkeypatch.setattr(snapshot, "I3DFeatures", lambda *a, **k: pytest.fail("I3D loaded"))
    for n in (1, 0, -5):
        with pytest.raises(ValueError, match="at least 2 clips"):
            training_fvd(Shapes(32, count=4), get_preset("tiny-32"), n)
