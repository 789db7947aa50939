"""How many people are on camera: photographs of real groups, a group filmed hand-held, one face for minutes.

The photographs come from a registry package (tests/tools/prepare_group_photos.py), with the number of people whose
face shows in each counted by eye; the videos are those photos, and single portraits, filmed by a moving camera.
Everything runs through what an interview runs: the decoder's thumbnail, the detector, each second's agreed count.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from realtime_scoring.pipeline import ScoringEngine
from realtime_scoring.vision.faces import FaceDetector
from realtime_scoring.vision.session import agreed_count
from tests.helpers.face_counts import COUNTS_FILE, face_seconds, group_photo_counts, sampled_thumbnail
from tests.helpers.media_files import astronaut_png, make_handheld_video
from tests.test_vision import MODEL_DIR, detector, model_files  # noqa: F401 - fixtures

PHOTOS = Path(os.environ.get("INTERVIEW_GROUP_PHOTOS_DIR", Path(__file__).resolve().parents[1] / "data" / "test-photos"))
needs_photos = pytest.mark.skipif(
    not (PHOTOS / COUNTS_FILE).is_file(), reason=f"no group photos in {PHOTOS}: run python -m tests.tools.prepare_group_photos"
)


@pytest.fixture
async def engine() -> AsyncIterator[ScoringEngine]:
    engine = ScoringEngine.load(MODEL_DIR, transcribe=False, embeddings=False, emotion=False)
    yield engine
    await engine.close()


@needs_photos
def test_people_in_photographs_of_real_groups_are_counted_exactly(detector: FaceDetector) -> None:  # noqa: F811
    found = {}
    for name, people in group_photo_counts(PHOTOS).items():
        found[name] = (len(detector.detect(sampled_thumbnail(PHOTOS / name))), people)
    exact = [name for name, (seen, people) in found.items() if seen == people]
    # The short-range detector counted 2 of these 6 (it missed small and turned faces); the issue asks for 5.
    assert len(exact) >= 5, found


@needs_photos
async def test_four_people_filmed_hand_held_read_as_four_in_nine_seconds_of_ten(engine: ScoringEngine, tmp_path: Path) -> None:
    # Four people close together, two of them with their faces turned and tilted.
    video = make_handheld_video(tmp_path / "four.webm", PHOTOS / "sample4.jpg", seconds=30)
    seconds = await face_seconds(engine, video)
    assert len(seconds) >= 29
    four = sum(second.faces == 4 for second in seconds)
    assert four >= 0.9 * len(seconds), [second.faces for second in seconds]
    assert all(second.multiple_faces for second in seconds if second.faces == 4)


async def test_one_face_filmed_for_two_minutes_reads_as_one_in_99_seconds_of_100(engine: ScoringEngine, tmp_path: Path) -> None:
    # A portrait filmed close (a candidate at a phone) and a three-quarter profile behind a camera, a minute each.
    portraits = [make_handheld_video(tmp_path / "astronaut.webm", astronaut_png(), seconds=60, zoom=1.3)]
    portraits.append(make_handheld_video(tmp_path / "cameraman.webm", astronaut_png().with_name("camera.png"), seconds=60, zoom=1.3))
    seconds = [second for video in portraits for second in await face_seconds(engine, video)]
    assert len(seconds) >= 118
    one = sum(second.faces == 1 for second in seconds)
    assert one >= 0.99 * len(seconds), [second.faces for second in seconds]
    assert sum(second.multiple_faces for second in seconds) <= 0.01 * len(seconds)


def test_a_second_counts_what_most_of_its_frames_saw() -> None:
    assert agreed_count([1, 2, 1], previous=None) == 1  # a shadow seen as a face in one frame
    assert agreed_count([4, 3, 4], previous=None) == 4  # a turned face missed in one frame
    assert agreed_count([0, 0, 1], previous=1) == 0  # the candidate left: two frames agree


def test_a_tie_keeps_the_previous_count_and_otherwise_takes_the_lowest() -> None:
    assert agreed_count([2, 1], previous=1) == 1
    assert agreed_count([2, 1], previous=2) == 2
    assert agreed_count([2, 1], previous=None) == 1  # a second face is flagged once frames agree on it
    assert agreed_count([3, 1], previous=2) == 1
    assert agreed_count([], previous=2) == 2 and agreed_count([], previous=None) == 0
