"""Facial emotion of detected faces with FER's 7-class mini-Xception model (FER2013 labels)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from realtime_scoring.vision.faces import Face
from realtime_scoring.vision.image import resample

# The model's output order (FER2013's class indices).
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64
# ITU-R BT.601 luma, what OpenCV's RGB2GRAY (used by `fer` for training-time preprocessing) computes.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class EmotionScores:
    """Probabilities of the seven emotions for one face; they sum to 1."""

    probabilities: dict[str, float]

    @property
    def dominant(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)


def face_crop_region(box: tuple[float, float, float, float], margin: float) -> tuple[float, float, float, float]:
    """A square around the face box, its longer side grown by `margin` on each side.

    `fer` squares the detector's box the same way and adds a few pixels, so the model sees the
    whole face at the framing it was trained on rather than a stretched one.
    """
    x0, y0, x1, y1 = box
    half = max(x1 - x0, y1 - y0) * (0.5 + margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - half, cy - half, cx + half, cy + half


class EmotionClassifier:
    """Classifies the emotion of faces found by `FaceDetector`; one instance serves every interview."""

    def __init__(self, session: ort.InferenceSession, margin: float = 0.1) -> None:
        (model_input,) = session.get_inputs()
        if model_input.shape[1:] != [1, INPUT_SIZE, INPUT_SIZE]:
            raise ValueError(f"emotion model expects [N,1,{INPUT_SIZE},{INPUT_SIZE}], the model takes {model_input.shape}")
        (model_output,) = session.get_outputs()
        if model_output.shape[1:] != [len(LABELS)]:
            raise ValueError(f"emotion model outputs {model_output.shape}, expected [N,{len(LABELS)}]")
        self._session = session
        self._input_name = model_input.name
        self.margin = margin

    def classify(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[EmotionScores]:
        """Emotion of each face in `rgb` (uint8 [H,W,3]), in the order of `faces`, from one model run."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 frame [H,W,3], got {rgb.dtype} {rgb.shape}")
        if not faces:
            return []
        # Edge pixels repeat where the crop leaves the frame: a black bar would read as a face feature.
        crops = np.stack([resample(rgb, face_crop_region(face.box, self.margin), (INPUT_SIZE, INPUT_SIZE)) for face in faces])
        grey = crops @ _LUMA
        batch = ((grey / 255.0 - 0.5) * 2.0).astype(np.float32)[:, None]  # [N,1,64,64] in [-1, 1]
        # The graph ends in Softmax (the TFLite model's last op), so its outputs are probabilities already.
        (probabilities,) = self._session.run(None, {self._input_name: batch})
        return [EmotionScores(dict(zip(LABELS, map(float, row)))) for row in probabilities]


def check_model(files: dict[str, Path]) -> str:
    """Smoke test for `models verify`: one grey face-sized square through the graph."""
    from realtime_scoring.engine import EngineConfig, create_session

    classifier = EmotionClassifier(create_session(files["emotion.onnx"], EngineConfig(device="cpu", intra_op_threads=1)))
    grey = np.full((128, 128, 3), 128, dtype=np.uint8)
    (scores,) = classifier.classify(grey, [Face(box=(32.0, 32.0, 96.0, 96.0), score=1.0, keypoints=())])
    return f"grey square -> {scores.dominant}, probabilities sum to {sum(scores.probabilities.values()):.3f}"
