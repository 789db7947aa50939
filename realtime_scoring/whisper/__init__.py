"""Whisper speech recognition on onnxruntime: weights converted from CTranslate2, no torch."""

from realtime_scoring.whisper.transcriber import Segment, Transcript, WhisperTranscriber

__all__ = ["Segment", "Transcript", "WhisperTranscriber"]
