"""Vision models on sampled video frames: face detection and facial emotion, with their offline converters."""

from realtime_scoring.vision.emotion import LABELS, EmotionClassifier, EmotionScores
from realtime_scoring.vision.faces import Face, FaceDetector

__all__ = ["LABELS", "EmotionClassifier", "EmotionScores", "Face", "FaceDetector"]
