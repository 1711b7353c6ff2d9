import json

from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.metrics import training_fvd
from digan.training import train


def test_periodic_fvd_is_logged_with_the_losses(i3d, tmp_path):
    preset = get_preset("tiny-32").replace_training(batch=4, kimg=0.004, snap_kimg=0.004, sample_seeds=1)
    source = Shapes(32, count=4)
    info = train(preset, source, "shapes", tmp_path, progress=False, fvd=training_fvd(source, preset, 2))
    record = json.loads((info.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["kimg"] == 0.004
    assert record["fvd2_16f"] > 0 and "kvd2_16f" in record and "G_motion" in record
