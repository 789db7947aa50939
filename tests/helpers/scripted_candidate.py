"""A candidate who answers with scripted recordings over WebRTC (aiortc) and the candidate's websocket, as a
browser would: waits for each question, speaks the answer in real time, and ends it by a spoken closing phrase or
by pressing "done". Used by the turn-taking test and `loadtests/bench_turn_taking.py`."""

from __future__ import annotations

import asyncio
import collections
import fractions
import time
from dataclasses import dataclass

import httpx
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from loadtests.whip_client import WhipPublisher
from tests.helpers.webrtc import CandidateSocket
from tests.tools.make_paused_answers import DONE_AFTER_S, RATE, ScriptedAnswer, read_wav

FRAME_SAMPLES = RATE // 50  # 20 ms, as browsers send Opus


class SpeakingTrack(MediaStreamTrack):
    """A microphone that says the clips it is given, in real time, and is silent in between."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._clips: collections.deque[tuple[np.ndarray, asyncio.Future[float]]] = collections.deque()
        self._offset = 0
        self._start: float | None = None
        self._timestamp = 0

    def say(self, samples: np.ndarray) -> asyncio.Future[float]:
        """Queue a clip; the future gets the monotonic time its last sample went out."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._clips.append((samples, done))
        return done

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            self._timestamp += FRAME_SAMPLES
            await asyncio.sleep(max(0.0, self._start + self._timestamp / RATE - time.time()))
        block = np.zeros(FRAME_SAMPLES, np.float32)
        if self._clips:
            samples, done = self._clips[0]
            piece = samples[self._offset : self._offset + FRAME_SAMPLES]
            block[: len(piece)] = piece
            self._offset += FRAME_SAMPLES
            if self._offset >= len(samples):
                self._clips.popleft()
                self._offset = 0
                if not done.done():
                    done.set_result(time.monotonic())
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update((np.clip(block, -1, 1) * 32767).astype(np.int16).tobytes())
        frame.pts = self._timestamp
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


@dataclass(frozen=True)
class Turn:
    answer: ScriptedAnswer
    question_id: str
    ended_at: float  # monotonic: the closing phrase's last sample went out, or "done" was pressed
    next_at: float  # monotonic: the next question (or the end of the interview) reached the candidate

    @property
    def delay_s(self) -> float:
        return self.next_at - self.ended_at


async def answer_scripted(
    base_url: str,
    http: httpx.AsyncClient,
    interview_id: str,
    token: str,
    answers: list[ScriptedAnswer],
    timeout_s: float = 60.0,
    after_done: np.ndarray | None = None,
) -> list[Turn]:
    """Answer the interview's questions with `answers`, one each; what each turn's end took to bring the next.
    `after_done`: what the candidate goes on saying right after pressing "done"."""
    socket = await CandidateSocket.open(base_url, interview_id, token)
    track = SpeakingTrack()
    publisher = WhipPublisher(base_url, interview_id, token, http)
    turns = []
    try:
        await publisher.publish([track])
        for index, answer in enumerate(answers):
            _, question = await socket.wait_for(lambda m, i=index: m["type"] == "question" and m["index"] == i, timeout_s)
            question_id = question["question"]["id"]
            ended_at = await track.say(read_wav(answer.wav))
            if answer.ends_by == "candidate_done":
                await asyncio.sleep(DONE_AFTER_S)
                ended_at = time.monotonic()
                await socket.send(type="answer.done", question_id=question_id)
                if after_done is not None:
                    track.say(after_done)
            next_at, _ = await socket.wait_for(
                lambda m, i=index: (m["type"] == "question" and m["index"] == i + 1) or m["type"] == "completed", timeout_s
            )
            turns.append(Turn(answer, question_id, ended_at, next_at))
    finally:
        await publisher.close()
        await socket.close()
    return turns
