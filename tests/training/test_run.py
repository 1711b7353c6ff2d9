import json

import pytest

from digan.training.run import read_metrics, training_seconds


def test_training_seconds_sums_each_snapshots_clips_over_its_rate(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"kimg": 1.0, "clips_per_s": 100.0}, {"kimg": 3.0, "clips_per_s": 50.0}, {"kimg": 4.0, "clips_per_s": 10.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"kimg": 5.0, "clips_')  # a line cut short by a kill
    records = read_metrics(path)
    assert len(records) == 3
    assert training_seconds(records, 3.0) == pytest.approx(1000 / 100 + 2000 / 50)
    assert training_seconds(records, 4.0) == pytest.approx(10 + 40 + 100)
    assert training_seconds(records, 0.5) == 0.0


def test_training_seconds_counts_a_rewritten_snapshot_line_once():
    # a resumed run may write a snapshot's line again: the later one stands, not both
    records = [{"kimg": 2.0, "clips_per_s": 10.0}, {"kimg": 2.0, "clips_per_s": 20.0}]
    assert training_seconds(records, 2.0) == pytest.approx(100.0)


def test_crafted_run_files_nested_past_the_parser_are_one_line_or_skipped(tmp_path):
    """training_options.json and metrics.jsonl are read back too: nesting past Python's parser (RecursionError)
    is the file's problem in one line, or a metrics line skipped like one cut short."""
    from digan.checkpoint import CheckpointError
    from digan.training.run import MetricsLog, read_options

    from json_mutations import DEEP

    (tmp_path / "training_options.json").write_text(DEEP)
    with pytest.raises(CheckpointError, match=r"unreadable \(ValueError: nested too deeply\)"):
        read_options(tmp_path)
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"kimg": 1.0, "x": 2}) + "\n" + DEEP + "\n")
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"kimg": 1.0, "x": 2}]
    MetricsLog(tmp_path).keep_until(5.0)
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"kimg": 1.0, "x": 2}]
