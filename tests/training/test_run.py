import json
import os

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


def test_the_metrics_log_is_strict_json_with_null_for_a_number_that_is_not_finite(tmp_path):
    """A metric that could not be computed (NaN, inf) is written as null: json.loads with parse_constant refusing
    NaN and Infinity reads every line, as strict JSON readers (jq, JavaScript's JSON.parse) do."""
    from digan.training.run import MetricsLog

    log = MetricsLog(tmp_path)
    log.write({"kimg": 0.004, "D_image": 1.25, "fvd64_16f": float("nan"), "clips_per_s": float("inf"), "n": 3})

    def refuse(token):
        raise AssertionError(f"bare {token} in metrics.jsonl")

    line = (tmp_path / "metrics.jsonl").read_text()
    assert json.loads(line, parse_constant=refuse) == {
        "kimg": 0.004,
        "D_image": 1.25,
        "fvd64_16f": None,
        "clips_per_s": None,
        "n": 3,
    }
    assert read_metrics(tmp_path / "metrics.jsonl")[0]["fvd64_16f"] is None


def test_only_process_0_of_a_run_holds_its_folder_and_every_process_stops_when_it_is_refused(tmp_path, monkeypatch):
    """torchrun: the run's own processes must not refuse each other; another run's must all be refused."""
    from digan.training.distributed import Distributed
    from digan.training.run import hold_run
    from digan.utils.lock import LOCK_NAME, FolderInUse, FolderLock

    with hold_run(tmp_path, Distributed(rank=0, world=1)):
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\ndigan train\n"
        with pytest.raises(FolderInUse, match=f"in use by process {os.getpid()} \\(digan train\\)"):
            with hold_run(tmp_path, Distributed()):
                pass
    monkeypatch.setattr(Distributed, "any", lambda self, flag: flag)  # this process alone: no group to ask
    with FolderLock(tmp_path, "digan train"):
        with hold_run(tmp_path, Distributed(rank=1, world=2)):  # process 1 of a run whose process 0 holds it
            pass
    monkeypatch.setattr(Distributed, "any", lambda self, flag: True)  # process 0 was refused
    with pytest.raises(FolderInUse, match="process 0 of this run was refused"):
        with hold_run(tmp_path, Distributed(rank=1, world=2)):
            pass


def test_crafted_run_files_nested_past_the_parser_are_one_line_or_skipped(tmp_path):
    """training_options.json and metrics.jsonl are read back too: nesting past Python's parser (RecursionError)
    is the file's problem in one line, or a metrics line skipped like one cut short."""
    from json_mutations import DEEP

    from digan.checkpoint import CheckpointError
    from digan.training.run import MetricsLog, read_options

    (tmp_path / "training_options.json").write_text(DEEP)
    with pytest.raises(CheckpointError, match=r"unreadable \(ValueError: nested too deeply\)"):
        read_options(tmp_path)
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"kimg": 1.0, "x": 2}) + "\n" + DEEP + "\n")
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"kimg": 1.0, "x": 2}]
    MetricsLog(tmp_path).keep_until(5.0)
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"kimg": 1.0, "x": 2}]
