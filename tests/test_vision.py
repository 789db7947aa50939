"""Face detection and facial emotion with the real prepared models, on real photographs."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

import av
import numpy as np
import pytest

from media.frames import VideoFrame
from media.video import FrameSampler
from realtime_scoring.batching import MicroBatcher
from realtime_scoring.engine import EngineConfig, create_session
from realtime_scoring.models.manifest import load_manifest, verified_files
from realtime_scoring.models.prepare import prepare_all
from realtime_scoring.vision.emotion import LABELS, EmotionClassifier
from realtime_scoring.vision.faces import FULL_RANGE, SHORT_RANGE, Face, FaceDetector, ssd_anchors, weighted_nms
from realtime_scoring.vision.image import resample
from realtime_scoring.vision.session import SessionVision

MODEL_DIR = Path(os.environ.get("INTERVIEW_MODEL_DIR", Path(__file__).resolve().parent.parent / "data" / "models"))
# The astronaut's face in skimage's 512x512 photo, found by eye: eyebrows to chin, ear to ear.
ASTRONAUT_FACE = (175.0, 75.0, 275.0, 180.0)


@pytest.fixture(scope="session")
def model_files() -> dict[str, dict[str, Path]]:
    names = ["face-detector", "face-emotion"]
    prepare_all(MODEL_DIR, names=names)
    manifest = load_manifest(MODEL_DIR)
    return {name: verified_files(manifest[name], MODEL_DIR) for name in names}


@pytest.fixture(scope="session")
def detector(model_files: dict[str, dict[str, Path]]) -> FaceDetector:
    path = model_files["face-detector"]["face_detector.onnx"]
    return FaceDetector(create_session(path, EngineConfig(device="cpu")))


@pytest.fixture(scope="session")
def classifier(model_files: dict[str, dict[str, Path]]) -> EmotionClassifier:
    path = model_files["face-emotion"]["emotion.onnx"]
    return EmotionClassifier(create_session(path, EngineConfig(device="cpu")))


def skimage_photo(name: str) -> np.ndarray:
    # scikit-image is installed without its dependencies, only for these public-domain photos.
    spec = importlib.util.find_spec("skimage")
    assert spec is not None and spec.submodule_search_locations, "scikit-image (for its sample photos) is not installed"
    with av.open(str(Path(spec.submodule_search_locations[0]) / "data" / name)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skimage_photo("astronaut.png")


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def shifted(box: tuple[float, float, float, float], dx: float, dy: float) -> tuple[float, float, float, float]:
    return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy


def assert_same_faces(a: list[Face], b: list[Face], tolerance: float = 1e-3) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.box, y.box, atol=tolerance)
        np.testing.assert_allclose(x.keypoints, y.keypoints, atol=tolerance)
        assert x.score == pytest.approx(y.score, abs=1e-5)


def test_astronaut_face_is_found_once_with_eyes_nose_and_mouth_inside_the_box(detector: FaceDetector, astronaut: np.ndarray) -> None:
    (face,) = detector.detect(astronaut)
    assert face.score > 0.7
    assert iou(face.box, ASTRONAUT_FACE) > 0.7
    x0, y0, x1, y1 = face.box
    right_eye, left_eye, nose, mouth, right_ear, left_ear = face.keypoints
    # Her right eye is on the image's left; eyes above the nose above the mouth, all inside the box.
    assert x0 < right_eye[0] < nose[0] < left_eye[0] < x1
    assert y0 < right_eye[1] < nose[1] < mouth[1] < y1
    assert right_ear[0] < right_eye[0] and left_ear[0] > left_eye[0]


def test_face_box_maps_back_to_frame_pixels_through_the_letterbox(detector: FaceDetector, astronaut: np.ndarray) -> None:
    landscape = np.zeros((480, 640, 3), dtype=np.uint8)
    landscape[:, 64:576] = astronaut[16:496]  # 480 rows of the photo, 64 px from the left edge
    (face,) = detector.detect(landscape)
    assert face.score > 0.7
    # Smaller in the model's input than the 512-pixel photo (640 -> 128), so the box is a little looser.
    assert iou(face.box, shifted(ASTRONAUT_FACE, 64, -16)) > 0.65
    # The 640x480 frame is letterboxed into the same model input as this 640x640 one with black
    # bars drawn in: the faces must differ by exactly the 80-pixel bar.
    square = np.zeros((640, 640, 3), dtype=np.uint8)
    square[80:560] = landscape
    (same,) = detector.detect(square)
    np.testing.assert_allclose(face.box, shifted(same.box, 0, -80), atol=1e-3)
    np.testing.assert_allclose(face.keypoints, np.array(same.keypoints) - [0, 80], atol=1e-3)


def test_a_thumbnail_from_the_decoder_finds_the_face_the_full_frame_does(
    detector: FaceDetector, classifier: EmotionClassifier, astronaut: np.ndarray
) -> None:
    landscape = np.zeros((480, 640, 3), dtype=np.uint8)
    landscape[:, 64:576] = astronaut[16:496]
    decoded = av.VideoFrame.from_ndarray(landscape, format="rgb24").reformat(format="yuv420p")  # as a decoder gives it
    sampled = FrameSampler(fps=5.0, max_side=640).convert(decoded, time_s=0.0)
    assert sampled.thumbnail is not None
    (full,) = detector.detect(sampled.rgb)
    (small,) = detector.detect(sampled.thumbnail)
    mapped = small.scaled(sampled.rgb.shape[1] / sampled.thumbnail.shape[1])
    assert iou(mapped.box, full.box) > 0.9, (mapped.box, full.box)
    assert np.abs(np.array(mapped.keypoints) - np.array(full.keypoints)).max() < 10
    (from_full,), (from_small,) = classifier.classify(sampled.rgb, [full]), classifier.classify(sampled.rgb, [mapped])
    assert from_small.dominant == from_full.dominant == "happy"
    assert max(abs(from_small.probabilities[k] - from_full.probabilities[k]) for k in LABELS) < 0.1


def test_portrait_frame_is_padded_left_and_right(detector: FaceDetector, astronaut: np.ndarray) -> None:
    portrait = np.zeros((640, 480, 3), dtype=np.uint8)
    portrait[64:576] = astronaut[:, 16:496]
    (face,) = detector.detect(portrait)
    assert face.score > 0.7
    assert iou(face.box, shifted(ASTRONAUT_FACE, -16, 64)) > 0.65


def test_two_people_side_by_side_give_two_faces(detector: FaceDetector, astronaut: np.ndarray) -> None:
    head = astronaut[0:320, 64:384]  # head and shoulders; the whole photo twice would make faces too small
    canvas = np.zeros((480, 640, 3), dtype=np.uint8)
    canvas[80:400, 0:320] = head
    canvas[80:400, 320:640] = head
    faces = detector.detect(canvas)
    assert len(faces) == 2
    left, right = sorted(faces, key=lambda face: face.box[0])
    expected_left = shifted(ASTRONAUT_FACE, -64, 80)
    assert iou(left.box, expected_left) > 0.6
    assert iou(right.box, shifted(expected_left, 320, 0)) > 0.6


def test_profile_of_the_cameraman_is_found(detector: FaceDetector) -> None:
    # A second, unrelated face: grey photo, three-quarter profile, looking through a camera. His face (hairline to
    # chin, ear to nose tip, marked by eye) is about (182, 120)-(255, 192): the box must sit on it, at about its size.
    (face,) = detector.detect(skimage_photo("camera.png"))
    assert face.score > 0.6
    x0, y0, x1, y1 = face.box
    assert 182 < (x0 + x1) / 2 < 255 and 120 < (y0 + y1) / 2 < 192
    assert 0.7 < (x1 - x0) / 73 < 1.4 and 0.7 < (y1 - y0) / 72 < 1.4


def test_black_frame_and_noise_have_no_face(detector: FaceDetector) -> None:
    rng = np.random.default_rng(7)
    black = np.zeros((480, 640, 3), dtype=np.uint8)
    noise = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    assert detector.detect(black) == []
    assert detector.detect(noise) == []


def test_batch_detection_equals_one_frame_at_a_time(detector: FaceDetector, astronaut: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    wide = np.zeros((480, 640, 3), dtype=np.uint8)
    wide[:, 64:576] = astronaut[16:496]
    frames = [
        astronaut,
        np.zeros((480, 640, 3), dtype=np.uint8),
        wide,
        astronaut[:, ::-1].copy(),
        rng.integers(0, 256, size=(360, 640, 3), dtype=np.uint8),
    ]
    batched = detector.detect_batch(frames)
    assert [len(faces) for faces in batched] == [1, 0, 1, 1, 0]
    for frame, faces in zip(frames, batched):
        assert_same_faces(faces, detector.detect(frame))


def test_smiling_astronaut_is_happy(detector: FaceDetector, classifier: EmotionClassifier, astronaut: np.ndarray) -> None:
    faces = detector.detect(astronaut)
    (scores,) = classifier.classify(astronaut, faces)
    assert tuple(scores.probabilities) == LABELS
    assert sum(scores.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert scores.dominant == "happy"
    assert scores.probabilities["happy"] > 0.8


def test_mirrored_face_keeps_its_emotion(detector: FaceDetector, classifier: EmotionClassifier, astronaut: np.ndarray) -> None:
    mirrored = astronaut[:, ::-1].copy()
    (face,) = detector.detect(mirrored)
    (original,) = detector.detect(astronaut)
    # The mirrored box is the original reflected about the image's vertical centre line.
    np.testing.assert_allclose(face.box, (512 - original.box[2], original.box[1], 512 - original.box[0], original.box[3]), atol=6.0)
    (scores,) = classifier.classify(mirrored, [face])
    assert scores.dominant == "happy"


def test_frowning_cameraman_is_not_happy(detector: FaceDetector, classifier: EmotionClassifier) -> None:
    # A negative control: a concentrated, unsmiling face must not read as happy. Which of
    # sad/neutral/angry wins is not stable for a profile, so only "not happy" is pinned.
    photo = skimage_photo("camera.png")
    (scores,) = classifier.classify(photo, detector.detect(photo))
    assert scores.dominant != "happy"
    assert scores.probabilities["happy"] < 0.2


def test_each_face_gets_its_own_emotion_in_one_call(detector: FaceDetector, classifier: EmotionClassifier, astronaut: np.ndarray) -> None:
    canvas = np.zeros((480, 640, 3), dtype=np.uint8)
    canvas[80:400, 0:320] = astronaut[0:320, 64:384]
    # The cameraman's head, enlarged so that both faces are well above the short-range model's minimum size.
    canvas[80:400, 320:640] = resample(skimage_photo("camera.png"), (100, 60, 300, 260), (320, 320)).round().astype(np.uint8)
    faces = sorted(detector.detect(canvas), key=lambda face: face.box[0])
    assert len(faces) == 2 and min(face.score for face in faces) > 0.6
    astronaut_scores, cameraman_scores = classifier.classify(canvas, faces)
    assert astronaut_scores.dominant == "happy"
    assert cameraman_scores.dominant != "happy"
    assert classifier.classify(canvas, []) == []


def test_full_range_anchor_grid_is_48x48_one_per_cell() -> None:
    anchors = ssd_anchors(FULL_RANGE)
    assert anchors.shape == (2304, 2)
    np.testing.assert_allclose(anchors[0], [1 / 96, 1 / 96])  # stride 4: cell (0, 0)
    np.testing.assert_allclose(anchors[1], [3 / 96, 1 / 96])  # then along the row (x first)
    np.testing.assert_allclose(anchors[48], [1 / 96, 3 / 96])
    np.testing.assert_allclose(anchors[-1], [95 / 96, 95 / 96])


def test_short_range_anchor_grid_is_16x16x2_then_8x8x6_centred_in_cells() -> None:
    anchors = ssd_anchors(SHORT_RANGE)
    assert anchors.shape == (896, 2)
    np.testing.assert_allclose(anchors[:2], [[1 / 32, 1 / 32]] * 2)  # stride 8: cell (0, 0), two anchors
    np.testing.assert_allclose(anchors[2], [3 / 32, 1 / 32])  # then along the row (x first)
    np.testing.assert_allclose(anchors[511], [31 / 32, 31 / 32])
    np.testing.assert_allclose(anchors[512:518], [[1 / 16, 1 / 16]] * 6)  # stride 16: six anchors a cell
    np.testing.assert_allclose(anchors[-1], [15 / 16, 15 / 16])


def test_weighted_nms_averages_overlapping_boxes_by_score_and_keeps_separate_ones() -> None:
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [3.0, 3.0, 4.0, 4.0]])
    keypoints = np.zeros((3, 6, 2))
    keypoints[1] = 1.0
    scores = np.array([0.6, 0.9, 0.7])
    (box, points, score), (other_box, _, other_score) = weighted_nms(boxes, keypoints, scores)
    assert score == 0.9  # the best of the cluster's scores, not an average
    np.testing.assert_allclose(box, [0.06, 0.0, 1.06, 1.0])  # (0.9 * 0.1 + 0.6 * 0) / 1.5
    np.testing.assert_allclose(points, np.full((6, 2), 0.6))
    assert other_score == 0.7
    np.testing.assert_allclose(other_box, boxes[2])


@pytest.mark.parametrize("border", ["zero", "edge"])
def test_a_region_at_scale_one_is_the_pixels_themselves_with_the_border_outside(border: str) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (96, 128, 3)).astype(np.uint8)
    letterboxed = resample(image, (-4, -16, 124, 112), (128, 128), border=border)  # type: ignore[arg-type]
    expected = np.pad(image, ((16, 16), (4, 0), (0, 0)), mode="constant" if border == "zero" else "edge")[:, :128]
    np.testing.assert_array_equal(letterboxed, expected.astype(np.float32))
    # Half a pixel off, the filter blends neighbours: no longer a copy.
    assert not np.array_equal(resample(image, (0.5, 0, 32.5, 32), (32, 32)), image[:32, :32].astype(np.float32))


async def test_a_corrupt_frame_batched_with_other_sessions_frames_fails_alone(detector: FaceDetector, astronaut: np.ndarray) -> None:
    batcher = MicroBatcher("faces", detector.detect_batch, max_wait_s=0.05)  # long enough to gather all three
    corrupt = np.zeros((10, 10), dtype=np.float64)
    try:
        results = await asyncio.gather(
            batcher.submit(astronaut), batcher.submit(corrupt), batcher.submit(astronaut), return_exceptions=True
        )
    finally:
        await batcher.close()
    assert batcher.stats.batches == 1 and batcher.stats.max_batch == 3
    assert isinstance(results[1], ValueError)
    assert len(results[0]) == 1 and len(results[2]) == 1  # the others' faces were found


async def test_frames_waiting_when_the_detector_closes_end_the_analysis_instead_of_counting_as_failures(
    detector: FaceDetector, astronaut: np.ndarray
) -> None:
    batcher = MicroBatcher("faces", detector.detect_batch, max_wait_s=5.0)  # the frames stay queued
    vision = SessionVision(batcher, None, lambda event: None)
    frames = [VideoFrame(astronaut, i / 5, 512, 512) for i in range(3)]
    task = asyncio.create_task(vision.process_many(frames))
    await asyncio.sleep(0.05)
    await batcher.close()  # as the engine does at shutdown
    with pytest.raises(asyncio.CancelledError):
        await task
