"""Typed events the scoring pipeline emits, on the session's media clock (seconds)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    time_s: float


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """One utterance: speech from start_s to end_s, followed by at least the VAD's min silence."""

    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class AnswerEnded:
    """The candidate has been silent long enough after speaking for the answer to count as finished."""

    time_s: float
    silence_s: float


ScoringEvent = SpeechStarted | SpeechEnded | AnswerEnded
