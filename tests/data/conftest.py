"""Fixtures of the data tests: folders of videos, of frame folders, and a UCF-101 tree."""

import pytest
from data_helpers import clip, frame_folder, write_avi

from digan.data import write_video


@pytest.fixture
def video_folder(tmp_path):
    root = tmp_path / "videos"
    write_video(root / "a" / "v1.mp4", clip(12, seed=1))
    write_avi(root / "a" / "v10.avi", clip(10, seed=2))
    write_video(root / "b" / "v2.gif", clip(9, seed=3))
    return root


@pytest.fixture
def frames_root(tmp_path):
    root = tmp_path / "frames"
    frame_folder(root / "train" / "vid2", clip(11, seed=4))
    frame_folder(root / "train" / "vid10", clip(13, seed=5), fmt="jpg")
    return root


@pytest.fixture
def ucf_root(tmp_path):
    root = tmp_path / "UCF-101"
    names = {"ApplyEyeMakeup": ["g01_c01", "g08_c01"], "HandstandPushups": ["g01_c01", "g09_c02"]}
    k = 0
    for cls, ids in names.items():
        for i in ids:
            write_avi(root / cls / f"v_{cls}_{i}.avi", clip(8, h=12, w=16, seed=k))
            k += 1
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    # The real lists spell one class 'HandStandPushups' while its folder is 'HandstandPushups'.
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nHandStandPushups/v_HandStandPushups_g09_c02.avi 37\r\n"
    )
    (lists / "testlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nHandStandPushups/v_HandStandPushups_g01_c01.avi\n"
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g99_c01.avi\n"
    )
    return root
