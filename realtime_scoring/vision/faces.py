"""Face detection with MediaPipe's BlazeFace models: letterbox, SSD decoding and weighted NMS.

The full-range model (192x192 input, one 48x48 grid of anchors) finds the small and turned faces of a group
photo that the short-range one (128x128, made for a face filling a selfie) misses; the detector takes either,
telling them apart by their input size, and decodes both the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from realtime_scoring.vision.image import Region, resample


@dataclass(frozen=True)
class AnchorLayout:
    """One BlazeFace model's SSD anchors (MediaPipe's SsdAnchorsCalculator options for it): layers with these
    strides, `per_layer` anchors per cell each; layers of equal stride share a feature map."""

    input_size: int
    strides: tuple[int, ...]
    per_layer: int

    @property
    def count(self) -> int:
        return sum((self.input_size // stride) ** 2 * self.per_layer for stride in self.strides)


# face_detection_short_range: two anchors per cell (aspect ratio 1 plus the interpolated scale),
# 16x16x2 + 8x8x6 = 896 anchors.
SHORT_RANGE = AnchorLayout(input_size=128, strides=(8, 16, 16, 16), per_layer=2)
# face_detection_full_range: one layer at stride 4, one anchor per cell (no interpolated scale), 48x48 = 2304.
FULL_RANGE = AnchorLayout(input_size=192, strides=(4,), per_layer=1)
LAYOUTS = {layout.input_size: layout for layout in (SHORT_RANGE, FULL_RANGE)}
# Names of the six keypoints, in output order; right and left are the person's own.
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear_tragion", "left_ear_tragion")
SCORE_CLIP = 100.0  # MediaPipe clips the raw score before the sigmoid
IOU_THRESHOLD = 0.3  # MediaPipe's min_suppression_threshold for this model


@dataclass(frozen=True)
class Face:
    """One detected face, in pixels of the frame given to the detector (the box may reach past its edges)."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float
    keypoints: tuple[tuple[float, float], ...]  # (x, y) in KEYPOINTS order

    def scaled(self, factor: float) -> Face:
        """The same face in pixels of an image `factor` times the size (from a thumbnail to its full frame)."""
        return Face(
            box=(self.box[0] * factor, self.box[1] * factor, self.box[2] * factor, self.box[3] * factor),
            score=self.score,
            keypoints=tuple((x * factor, y * factor) for x, y in self.keypoints),
        )


def ssd_anchors(layout: AnchorLayout = FULL_RANGE) -> np.ndarray:
    """Anchor centres [count, 2] as (x, y) in [0, 1]; every anchor is 1x1 (fixed_anchor_size)."""
    layers = []
    for stride, group in itertools.groupby(layout.strides):
        cells = layout.input_size // stride
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) + 0.5) / cells  # anchor offset 0.5
        layers.append(np.repeat(centres, layout.per_layer * len(list(group)), axis=0))
    anchors = np.concatenate(layers).astype(np.float32)
    assert anchors.shape == (layout.count, 2)
    return anchors


def letterbox_region(width: int, height: int) -> Region:
    """The square of frame pixels that fills the model's input: the frame centred, its short side padded."""
    side = float(max(width, height))
    x0, y0 = (width - side) / 2, (height - side) / 2
    return x0, y0, x0 + side, y0 + side


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted non-max suppression.

    Take the best remaining detection and every remaining one overlapping it by IoU > 0.3; the
    output box and keypoints are their score-weighted mean, the score is the best one's. Averaging
    the cluster steadies the box from frame to frame more than keeping the single best anchor.
    The loop runs once per output face, not per anchor.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None), axis=1)
    remaining = np.arange(len(scores))
    results = []
    while remaining.size:
        best = remaining[0]
        top_left = np.maximum(boxes[remaining, :2], boxes[best, :2])
        bottom_right = np.minimum(boxes[remaining, 2:], boxes[best, 2:])
        intersection = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=1)
        union = areas[remaining] + areas[best] - intersection
        iou = np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)
        cluster = iou > IOU_THRESHOLD
        cluster[0] = True  # a degenerate best box (zero area) must still leave the queue
        members = remaining[cluster]
        weights = scores[members] / scores[members].sum()
        results.append((weights @ boxes[members], np.tensordot(weights, keypoints[members], axes=1), float(scores[best])))
        remaining = remaining[~cluster]
    return results


class FaceDetector:
    """Finds faces in RGB frames; one instance (and session) serves every interview."""

    def __init__(self, session: ort.InferenceSession, min_score: float = 0.5) -> None:
        (model_input,) = session.get_inputs()
        shape = model_input.shape[1:]
        layout = LAYOUTS.get(shape[1]) if len(shape) == 3 and shape[0] == 3 and shape[1] == shape[2] else None
        if layout is None:
            sizes = " or ".join(f"[N,3,{size},{size}]" for size in LAYOUTS)
            raise ValueError(f"face detector expects NCHW {sizes}, the model takes {model_input.shape}")
        outputs = {output.name: output.shape for output in session.get_outputs()}
        if outputs.get("regressors", [None])[1:] != [layout.count, 16] or outputs.get("classificators", [None])[1:] != [layout.count, 1]:
            raise ValueError(
                f"face detector outputs {outputs}, expected regressors [N,{layout.count},16] and classificators [N,{layout.count},1]"
            )
        self._session = session
        self._input_name = model_input.name
        self.layout = layout
        self._anchors = ssd_anchors(layout)
        self.min_score = min_score

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self.detect_batch([rgb])[0]

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces in each frame, best first, from one model run over all frames (any sizes)."""
        if not frames:
            return []
        regions = []
        tensors = []
        for rgb in frames:
            if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                raise ValueError(f"expected an RGB uint8 frame [H,W,3], got {rgb.dtype} {rgb.shape}")
            region = letterbox_region(rgb.shape[1], rgb.shape[0])
            regions.append(region)
            tensors.append(resample(rgb, region, (self.layout.input_size, self.layout.input_size), border="zero"))
        batch = np.ascontiguousarray((np.stack(tensors) / 127.5 - 1.0).transpose(0, 3, 1, 2), dtype=np.float32)  # [-1,1] NCHW
        regressors, classificators = self._session.run(["regressors", "classificators"], {self._input_name: batch})
        return [self._decode(r, c[:, 0], region) for r, c, region in zip(regressors, classificators, regions)]

    def _decode(self, raw: np.ndarray, logits: np.ndarray, region: Region) -> list[Face]:
        # float64: exp(100) overflows float32 (MediaPipe gets 0 from inf there, as this gets it without a warning).
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
        keep = scores >= self.min_score
        if not keep.any():
            return []
        raw, scores, anchors = raw[keep], scores[keep], self._anchors[keep]
        # Offsets are in input pixels (x_scale = w_scale = the input size) relative to a 1x1 anchor; MediaPipe's
        # reverse_output_order means the layout is x, y, w, h, then (x, y) per keypoint.
        size = self.layout.input_size
        centres = anchors + raw[:, 0:2] / size
        half_sizes = raw[:, 2:4] / size / 2
        boxes = np.concatenate([centres - half_sizes, centres + half_sizes], axis=1)
        keypoints = anchors[:, None, :] + raw[:, 4:16].reshape(-1, len(KEYPOINTS), 2) / size
        # From [0, 1] of the letterboxed input back to frame pixels.
        x0, y0, x1, _ = region
        origin, side = np.array([x0, y0]), x1 - x0
        faces = []
        for box, points, score in weighted_nms(boxes, keypoints, scores):
            left, top, right, bottom = (box.reshape(2, 2) * side + origin).ravel().tolist()
            pixels = (points * side + origin).tolist()
            faces.append(Face(box=(left, top, right, bottom), score=score, keypoints=tuple((x, y) for x, y in pixels)))
        return faces


def check_model(files: dict[str, Path]) -> str:
    """Smoke test for `models verify`: a batch of two black frames through the graph, which must find nothing."""
    from realtime_scoring.engine import EngineConfig, create_session

    detector = FaceDetector(create_session(files["face_detector.onnx"], EngineConfig(device="cpu", intra_op_threads=1)))
    black = np.zeros((480, 640, 3), dtype=np.uint8)
    found = detector.detect_batch([black, black])
    return f"2 black frames -> {sum(map(len, found))} faces"
