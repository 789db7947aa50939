"""Transcription scheduling and streaming captions, with the real Whisper model."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import subprocess
import threading
import time

import numpy as np
import pytest

from media.frames import AudioChunk
from realtime_scoring.engine import EngineConfig, create_session
from realtime_scoring.events import AnalysisProgress, FinalTranscript, PartialTranscript, SpeechStarted, UtteranceTranscript
from realtime_scoring.pipeline import ScoringEngine, SessionConfig
from realtime_scoring.transcription import SessionTranscription, TranscriptionConfig, agreed_prefix, extend_stable
from realtime_scoring.transcription_service import (
    EARLY,
    FINAL,
    MAX_PARTIAL_SLOWDOWN,
    PARTIAL,
    PARTIAL_NICENESS,
    SCORED,
    SPECULATIVE,
    TranscriptionService,
)
from realtime_scoring.vad import SileroVadModel, VadConfig
from realtime_scoring.whisper.transcriber import WhisperTranscriber
from tests.conftest import prepared_model_files
from tests.helpers.media_files import read_wav_mono


@pytest.fixture(scope="module")
def transcriber() -> WhisperTranscriber:
    files = prepared_model_files("whisper-base")["whisper-base"]
    config = EngineConfig(device="cpu")
    return WhisperTranscriber(
        create_session(files["encoder.onnx"], config),
        create_session(files["decoder.onnx"], config),
        files["tokenizer.json"],
        files["config.json"],
    )


# sox effects that cut espeak's own leading and trailing silence, so the gaps around a clip are the test's own.
TRIM_SILENCE = ["silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse"]


def spoken(tmp_path_factory: pytest.TempPathFactory, text: str, effects: list[str] | None = None) -> np.ndarray:
    """`text` read by espeak at 150 words a minute, as 16 kHz mono samples."""
    directory = tmp_path_factory.mktemp("speech")
    raw, wav = directory / "raw.wav", directory / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav), *(effects or [])], check=True)
    return read_wav_mono(wav)[0]


ANSWER = "I led the migration of our billing system to a new database without any downtime."


@pytest.fixture(scope="module")
def answer(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return spoken(tmp_path_factory, ANSWER)


@pytest.fixture(scope="module")
def trimmed_answer(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return spoken(tmp_path_factory, ANSWER, TRIM_SILENCE)


@pytest.fixture(scope="module")
def follow_up(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return spoken(tmp_path_factory, "Then I trained the support team.")


@pytest.fixture(scope="module")
def short_reply(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return spoken(tmp_path_factory, "Yes, I did.", TRIM_SILENCE)


async def speak(session: SessionTranscription, audio: np.ndarray, speech: list[tuple[float, float]], closing_silence_s: float) -> None:
    """Feed `audio` in real time as the pipeline would, with the VAD's view taken from `speech` (start, end) spans:
    the utterance starts with the first span, each gap is a pause, and it ends `closing_silence_s` into the last one."""
    chunks = [AudioChunk(audio[i : i + 512], i / 16000) for i in range(0, len(audio) - 511, 512)]
    for chunk in chunks:
        now = chunk.start_s + chunk.duration_s
        if not session.in_utterance and chunk.start_s >= speech[0][0] and now < speech[-1][1]:
            session.start_utterance(chunk.start_s)
        session.observe(chunk)
        pause = next((end for (_, end), (start, _) in zip(speech, [*speech[1:], (np.inf, 0)]) if end <= chunk.start_s < start), None)
        if session.in_utterance and pause == speech[-1][1] and now - pause >= closing_silence_s:
            session.end_utterance(pause + 0.03)
        session.pause(pause if session.in_utterance else None, now)
        await asyncio.sleep(0.032)
    await session.drain()


async def test_a_pause_that_ends_the_utterance_gets_the_final_from_the_decode_started_at_the_pause(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    service = TranscriptionService(transcriber)
    events: list = []
    session = SessionTranscription(service, events.append, TranscriptionConfig(language="en", early_final_after_s=0.15))
    audio = np.concatenate([np.zeros(8000, np.float32), answer, np.zeros(16000, np.float32)])
    speech_end = 0.5 + len(answer) / 16000
    try:
        await speak(session, audio, [(0.5, speech_end)], closing_silence_s=0.4)
    finally:
        await service.close()
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert len(finals) == 1 and "database" in finals[0].text.lower()
    # One decode answered for the end of the utterance: the early one (promoted, or already run), not a second.
    assert service.stats.finals + service.stats.early == 1, vars(service.stats)


async def test_speech_after_a_pause_turns_the_early_decode_into_a_partial_and_the_final_hears_it_all(  # type: ignore[no-untyped-def]
    transcriber, answer, follow_up
) -> None:
    service = TranscriptionService(transcriber)
    events: list = []
    config = TranscriptionConfig(language="en", partial_interval_s=30.0, early_final_after_s=0.15)  # no interval partials
    session = SessionTranscription(service, events.append, config)
    first_end = 0.5 + len(answer) / 16000
    second_start = first_end + 0.3  # shorter than the VAD's 0.4 s: one utterance
    audio = np.concatenate([np.zeros(8000, np.float32), answer, np.zeros(4800, np.float32), follow_up, np.zeros(16000, np.float32)])
    try:
        await speak(session, audio, [(0.5, first_end), (second_start, second_start + len(follow_up) / 16000)], closing_silence_s=0.4)
    finally:
        await service.close()
    partials = [e for e in events if isinstance(e, PartialTranscript)]
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert any("database" in (p.stable + " " + p.unstable).lower() and p.until_s < second_start for p in partials), partials
    assert len(finals) == 1 and "database" in finals[0].text.lower() and "team" in finals[0].text.lower(), finals
    assert service.stats.early >= 1 and service.stats.finals <= 1, vars(service.stats)


async def test_speech_that_resumes_inside_a_group_of_chunks_is_not_lost_to_the_early_final(  # type: ignore[no-untyped-def]
    transcriber, trimmed_answer, short_reply
) -> None:
    """A consumer behind by some chunks hands them over together. When one group holds the end of a pause (whose
    early decode started in the group before), more speech and the end of the utterance, the early decode must not
    become the final: each chunk's pause state reaches the transcriber in turn, as if they had come one by one."""
    files = prepared_model_files("silero-vad")["silero-vad"]
    vad = SileroVadModel(create_session(files["silero_vad.onnx"], EngineConfig(device="cpu", intra_op_threads=1)))
    engine = ScoringEngine(vad, transcriber, None, None)
    events: list = []
    config = SessionConfig(
        vad=VadConfig(min_silence_s=0.8),  # the 0.5 s gap stays inside the utterance
        transcription=TranscriptionConfig(language="en", partial_interval_s=30.0, early_final_after_s=0.15),
    )
    pipeline = engine.new_session(events.append, config)
    gap = np.zeros(8000, np.float32)
    audio = np.concatenate([np.zeros(8000, np.float32), trimmed_answer, gap, short_reply, np.zeros(32000, np.float32)])
    chunks = [AudioChunk(audio[i : i + 512], i / 16000) for i in range(0, len(audio) - 511, 512)]
    boundary = (8000 + len(trimmed_answer) + 5600) // 512  # 0.35 s into the gap
    try:
        await pipeline.process_audio_chunks(chunks[:boundary])
        await pipeline.process_audio_chunks(chunks[boundary:])
        await pipeline.finish(len(audio) / 16000)
    finally:
        await pipeline.close()
        await engine.close()
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert engine.transcription is not None and engine.transcription.stats.early == 1, vars(engine.transcription.stats)
    assert len(finals) == 1 and "database" in finals[0].text.lower() and "yes" in finals[0].text.lower(), finals


async def test_an_utterance_that_starts_in_the_chunk_where_the_last_one_ended_is_transcribed(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    service = TranscriptionService(transcriber)
    events: list = []
    session = SessionTranscription(service, events.append, TranscriptionConfig(language="en", partial_interval_s=30.0))
    chunks = [AudioChunk(answer[i : i + 512], i / 16000) for i in range(0, len(answer) - 511, 512)]
    half = len(chunks) // 2
    boundary = chunks[half]
    try:
        session.start_utterance(0.0)
        for chunk in chunks[: half + 1]:
            session.observe(chunk)
        # The VAD ends one segment and starts the next within one chunk, and that chunk's view is a pause long enough
        # for an early final: the new utterance has no audio yet (its pre-roll chunk went to the last one), so no
        # early final is asked for it until it has.
        session.end_utterance(boundary.start_s)
        session.start_utterance(boundary.start_s + 0.01)
        session.pause(boundary.start_s - 0.2, boundary.start_s + boundary.duration_s)
        for chunk in chunks[half + 1 :]:
            session.observe(chunk)
        session.end_utterance(chunks[-1].start_s + chunks[-1].duration_s)
        await session.drain()
    finally:
        await service.close()
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert len(finals) == 2 and finals[1].start_s > boundary.start_s and finals[1].text, finals


async def test_a_promoted_early_final_overtakes_partials_and_no_newer_decode_replaces_it(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    service = TranscriptionService(transcriber)
    clip = answer[: 16000 * 2]
    try:
        busy = service.submit(clip, "en", 0, key="a")
        await asyncio.sleep(0.05)  # the worker is now decoding `busy`
        partial = service.submit(clip, "en", PARTIAL, key="b")
        replaced = service.submit(clip, "en", EARLY, key="c")
        early = service.submit(clip, "en", EARLY, key="c")
        service.promote(early)
        order: list[str] = []
        for name, job in (("partial", partial), ("early", early)):
            job.future.add_done_callback(lambda _, name=name: order.append(name))
        await asyncio.gather(busy.future, partial.future, early.future)
    finally:
        await service.close()
    assert replaced.future.result() is None, "an early decode is replaced by its session's newer one"
    assert order == ["early", "partial"] and early.future.result().text
    assert service.stats.finals == 2 and service.stats.early == 0 and service.stats.partials == 1


async def test_a_burst_of_finals_is_shared_out_over_the_idle_workers(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    sizes: list[int] = []

    class Counting:
        def transcribe_batch(self, clips, language=None, prompt=None, beam_size=1):  # type: ignore[no-untyped-def]
            sizes.append(len(clips))
            return transcriber.transcribe_batch(clips, language, prompt, beam_size)

    for workers, expected in ((2, [2, 2]), (1, [4])):
        sizes.clear()
        service = TranscriptionService(Counting(), workers=workers)
        try:
            jobs = [service.submit(answer[: 16000 * 2], "en", 0, key=i) for i in range(4)]  # every session paused at once
            results = await asyncio.gather(*(job.future for job in jobs))
        finally:
            await service.close()
        assert sorted(sizes) == expected and all(r.text for r in results), (workers, sizes)


async def test_partials_run_on_their_own_lower_priority_thread_beside_two_finals(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int, int]] = []  # (clip count, thread niceness, decodes running at the time)
    running = 0
    lock = threading.Lock()

    class Recording:
        def transcribe_batch(self, clips, language=None, prompt=None, beam_size=1):  # type: ignore[no-untyped-def]
            nonlocal running
            with lock:
                running += 1
                calls.append((len(clips[0]), os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), running))
            try:
                return transcriber.transcribe_batch(clips, language, prompt, beam_size)
            finally:
                with lock:
                    running -= 1

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    service = TranscriptionService(Recording(), workers=2)
    partial_clip, final_clip = answer[: 16000 * 3], answer[: 16000 * 2]
    try:
        partial = service.submit(partial_clip, "en", PARTIAL, key="a")
        await asyncio.sleep(0.05)  # the partial is decoding
        finals = [service.submit(final_clip, "en", 0, key=k) for k in ("b", "c")]
        await asyncio.gather(partial.future, *(f.future for f in finals))
    finally:
        await service.close()
    by_kind = {length: (nice, together) for length, nice, together in calls}
    assert by_kind[len(partial_clip)][0] == base + PARTIAL_NICENESS
    assert by_kind[len(final_clip)][0] == base
    assert len(calls) == 3 and max(together for _, _, together in calls) == 3, calls  # two finals beside the partial


async def test_a_final_keeps_a_beam_while_the_recogniser_keeps_up_and_decodes_greedily_behind(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    beams: dict[int, int] = {}  # clip length -> beam size it was decoded with

    class Recording:
        def transcribe_batch(self, clips, language=None, prompt=None, beam_size=1):  # type: ignore[no-untyped-def]
            beams.update((len(clip), beam_size) for clip in clips)
            return transcriber.transcribe_batch(clips, language, prompt, beam_size)

    service = TranscriptionService(Recording(), beam_size=4)
    alone = {FINAL: 16000, EARLY: 16000 + 320, SPECULATIVE: 16000 + 640, PARTIAL: 16000 + 960}
    try:
        for priority, length in alone.items():  # one at a time: the recogniser keeps up
            await service.submit(answer[:length], "en", priority, key=priority).future
        assert {priority: beams[length] for priority, length in alone.items()} == {FINAL: 4, EARLY: 4, SPECULATIVE: 4, PARTIAL: 1}
        assert service.stats.beam_searched == 3

        beams.clear()  # every session pauses at once: finals queue up, and the recogniser falls behind
        burst = [service.submit(answer[: 16000 + 32 * n], "en", FINAL, key=f"burst-{n}") for n in range(4)]
        await asyncio.gather(*(job.future for job in burst))
    finally:
        await service.close()
    assert set(beams.values()) == {1}, beams


def test_local_agreement_counts_shared_leading_words_and_characters() -> None:
    assert agreed_prefix("I led the", "I led the migration") == 3
    assert agreed_prefix("I lead the", "I led the") == 1
    assert agreed_prefix("Hello, world", "hello world again") == 2
    assert agreed_prefix("我负责数据库", "我负责数据迁移") == 5


async def test_finals_overtake_partials_and_a_newer_partial_replaces_a_queued_one(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    service = TranscriptionService(transcriber)
    done: list[str] = []

    async def job(name: str, final: bool, key: object) -> object:
        result = await service.transcribe(answer[: 16000 * 3], "en", final=final, key=key)
        done.append(name)
        return result

    try:
        busy = asyncio.create_task(job("busy", True, "a"))
        await asyncio.sleep(0.05)  # the worker is now decoding `busy`
        old_partial = asyncio.create_task(job("old partial", False, "b"))
        await asyncio.sleep(0)
        new_partial = asyncio.create_task(job("new partial", False, "b"))
        await asyncio.sleep(0)
        final = asyncio.create_task(job("final", True, "c"))
        results = await asyncio.gather(busy, old_partial, new_partial, final)
    finally:
        await service.close()
    assert results[1] is None, "the superseded partial is never decoded"
    assert done.index("final") < done.index("new partial")
    assert results[3].text and results[3].text == results[0].text
    assert service.stats.partials_superseded == 1 and service.stats.partials == 1 and service.stats.finals == 2


async def test_a_shedding_recogniser_drops_partials_decodes_each_final_once_with_the_beam_and_reports_waits(  # type: ignore[no-untyped-def]
    transcriber, answer
) -> None:
    service = TranscriptionService(transcriber, beam_size=4)
    try:
        first = service.submit(answer[: 16000 * 3], "en", FINAL, "a")
        queued_partial = service.submit(answer[: 16000 * 2], "en", PARTIAL, "b")
        second = service.submit(answer[: 16000 * 3], "en", FINAL, "c", beam=True)
        asked_at = time.perf_counter()
        assert service.oldest_wait_s(asked_at + 1.0) >= 1.0, "a queued final's wait counts from when it was asked for"
        service.shedding = True
        assert queued_partial.future.done() and queued_partial.future.result() is None, "a queued partial is dropped"
        assert service.submit(answer[:16000], "en", PARTIAL, "d").future.result() is None, "a new partial is never queued"
        results = await asyncio.gather(first.future, second.future)
        assert service.oldest_wait_s() == 0.0
        assert first.beam_size_used == 4, "a caption final keeps the beam: greedy, it would be decoded again for its score"
        assert second.beam_size_used == 4, "what is scored keeps its beam"
        service.shedding = False
        partial = await service.transcribe(answer[: 16000 * 2], "en", final=False, key="e")
    finally:
        await service.close()
    assert all(r is not None and r.text for r in results) and partial is not None and partial.text
    assert service.stats.partials_shed == 2 and service.stats.partials == 1 and service.stats.finals == 2


async def test_captions_go_before_scored_utterances_and_only_their_wait_is_the_nodes_backlog(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    service = TranscriptionService(transcriber, beam_size=2)
    finished: list[str] = []
    try:
        busy = service.submit(answer[: 16000 * 2], "en", FINAL, "a")
        await asyncio.sleep(0.05)  # the one worker is now decoding `busy`
        scored = service.submit(answer[: 16000 * 3], "en", SCORED, "u", beam=True)
        caption = service.submit(answer[:16000], "en", FINAL, "c")
        for name, job in (("scored", scored), ("caption", caption)):
            job.future.add_done_callback(lambda _, name=name: finished.append(name))
        later = time.perf_counter() + 1.0
        assert service.oldest_wait_s(later) >= 1.0, "a caption final waiting is backlog"
        await caption.future
        assert service.oldest_wait_s(later) == 0.0, "a scored decode waiting behind captions is not"
        await asyncio.gather(busy.future, scored.future)
    finally:
        await service.close()
    assert finished == ["caption", "scored"]
    assert scored.beam_size_used == 2 and service.stats.scored == 1 and service.stats.finals == 2


async def test_queued_finals_of_several_sessions_run_as_one_batch(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    service = TranscriptionService(transcriber)
    try:
        first = asyncio.create_task(service.transcribe(answer[:16000], "en", final=True, key=0))
        await asyncio.sleep(0.05)
        queued = [asyncio.create_task(service.transcribe(answer[: 16000 * 3], "en", final=True, key=i)) for i in range(1, 5)]
        results = await asyncio.gather(first, *queued)
    finally:
        await service.close()
    assert service.stats.finals == 5 and service.stats.batches == 2
    assert all("migration" in r.text.lower() or "led" in r.text.lower() for r in results[1:])


async def test_captions_grow_with_a_stable_prefix_then_end_in_a_final(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    service = TranscriptionService(transcriber)
    events: list = []
    session = SessionTranscription(service, events.append, TranscriptionConfig(language="en", partial_interval_s=0.5))
    audio = np.concatenate([np.zeros(8000, np.float32), answer, np.zeros(8000, np.float32)])
    chunks = [AudioChunk(audio[i : i + 512], i / 16000) for i in range(0, len(audio) - 511, 512)]
    speech_start, speech_end = 0.5, 0.5 + len(answer) / 16000
    try:
        started = False
        for chunk in chunks:
            if not started and chunk.start_s >= speech_start:
                session.start_utterance(chunk.start_s)
                started = True
            session.observe(chunk)
            if chunk.start_s >= speech_end and session.in_utterance:
                session.end_utterance(speech_end)
            await asyncio.sleep(0.032)  # real time, so partials can run while audio arrives
        await session.drain()
    finally:
        await service.close()
    partials = [e for e in events if isinstance(e, PartialTranscript)]
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert len(partials) >= 2 and len(finals) == 1
    assert events.index(finals[0]) > events.index(partials[0])
    for earlier, later in itertools.pairwise(partials):
        assert later.stable.startswith(earlier.stable), (earlier.stable, later.stable)
    assert "database" in finals[0].text.lower() and finals[0].language == "en"
    assert finals[0].start_s <= speech_start and finals[0].end_s >= speech_end - 0.1


async def partial_ends(service: TranscriptionService, config: TranscriptionConfig, audio: np.ndarray) -> list[float]:
    """Where each partial caption of one utterance (all of `audio`, fed in real time) ended; closes `service`."""
    events: list = []
    session = SessionTranscription(service, events.append, config)
    chunks = [AudioChunk(audio[i : i + 512], i / 16000) for i in range(0, len(audio) - 511, 512)]
    try:
        session.start_utterance(0.0)
        for chunk in chunks:
            session.observe(chunk)
            await asyncio.sleep(0.032)
        session.end_utterance(len(audio) / 16000)
        await session.drain()
    finally:
        await service.close()
    return [e.until_s for e in events if isinstance(e, PartialTranscript)]


async def test_partials_come_less_often_as_the_utterance_grows(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    growth = 0.5
    config = TranscriptionConfig(language="en", partial_interval_s=0.5, partial_interval_growth=growth)
    ends = await partial_ends(TranscriptionService(transcriber), config, answer)
    assert len(ends) >= 2, ends
    # Each gap is at least half the speech heard before it (and at least the base interval).
    for earlier, later in itertools.pairwise(ends):
        assert later - earlier >= max(0.5, growth * earlier) - 0.001, ends


async def test_partial_captions_wait_longer_as_the_recogniser_fills(transcriber, answer) -> None:  # type: ignore[no-untyped-def]
    class Slow:
        def transcribe_batch(self, clips, language=None, prompt=None, beam_size=1):  # type: ignore[no-untyped-def]
            time.sleep(0.5)  # a recogniser with more to do than it can keep up with
            return transcriber.transcribe_batch(clips, language, prompt, beam_size)

    service = TranscriptionService(Slow(), workers=1)
    try:
        assert service.partial_slowdown() == 1.0, "an idle recogniser: captions as often as ever"
        for key in range(6):  # three seconds and more of the ten the recogniser looks back over
            await service.submit(answer[:8000], "en", FINAL, key=key).future
        slowdown = service.partial_slowdown(time.perf_counter() + 1.0)
        assert 1.3 <= slowdown < MAX_PARTIAL_SLOWDOWN, slowdown
    finally:
        await service.close()

    busy = TranscriptionService(transcriber)
    busy.partial_slowdown = lambda now=None: 3.0  # type: ignore[method-assign]
    ends = await partial_ends(busy, TranscriptionConfig(language="en", partial_interval_s=0.5, partial_interval_growth=0.0), answer)
    assert len(ends) >= 2, ends
    assert all(later - earlier >= 1.5 - 0.001 for earlier, later in itertools.pairwise(ends)), ends


def test_stable_words_are_never_rewritten_when_the_decoder_changes_its_mind() -> None:
    hypotheses = [
        "I led the",
        "I led the team",
        "I lead the team to",
        "I lead the team to win",
        "I led the team to win it",
        "I led the team to win it all",
    ]
    stable: list[str] = []
    previous = ""
    seen = []
    for text in hypotheses:
        stable = extend_stable(stable, previous, text)
        previous = text
        seen.append(" ".join(stable))
    # "lead" never replaces the settled "led"; agreement resumes once the decoder returns to it.
    assert seen == ["", "I led the", "I led the", "I led the", "I led the", "I led the team to win it"]


def vad_engine(transcriber: WhisperTranscriber, final_beam_size: int = 1) -> ScoringEngine:
    files = prepared_model_files("silero-vad")["silero-vad"]
    vad = SileroVadModel(create_session(files["silero_vad.onnx"], EngineConfig(device="cpu", intra_op_threads=1)))
    return ScoringEngine(vad, transcriber, None, None, final_beam_size=final_beam_size)


async def run_pipeline(
    engine: ScoringEngine, audio: np.ndarray, turn_end_s: float | None = None, *, real_time: bool = False, told_at_s: float | None = None
) -> list[tuple[float, object]]:
    """Feed `audio` through the pipeline chunk by chunk; each event with the media time reached when it came.
    `turn_end_s`: where the candidate's turn ends, told to the pipeline once the audio reaches `told_at_s` (by
    default at once: a press of "done"; later for a spoken closing phrase, known once its caption is decoded)."""
    timed: list[tuple[float, object]] = []
    clock = {"now": 0.0}
    config = SessionConfig(transcription=TranscriptionConfig(language="en", partial_interval_s=30.0))
    pipeline = engine.new_session(lambda e: timed.append((clock["now"], e)), config)
    chunks = [AudioChunk(audio[i : i + 512], i / 16000) for i in range(0, len(audio) - 511, 512)]
    try:
        for chunk in chunks:
            clock["now"] = chunk.start_s + chunk.duration_s
            if turn_end_s is not None and clock["now"] >= (turn_end_s if told_at_s is None else told_at_s):
                pipeline.end_turn(turn_end_s)
                turn_end_s = None
            await pipeline.process_audio_chunks([chunk])
            await asyncio.sleep(0.032 if real_time else 0)
            if not real_time and pipeline.transcription is not None:
                await pipeline.transcription.drain()
        await pipeline.finish(len(audio) / 16000)
    finally:
        await pipeline.close()
        await engine.close()
    return timed


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(16000 * seconds), np.float32)


async def test_a_sentence_with_a_hesitation_is_captioned_in_two_parts_and_scored_whole(  # type: ignore[no-untyped-def]
    transcriber, tmp_path_factory
) -> None:
    first = spoken(tmp_path_factory, "I led the migration of our billing system", TRIM_SILENCE)
    second = spoken(tmp_path_factory, "to a new database without any downtime.", TRIM_SILENCE)
    apart = spoken(tmp_path_factory, "Then I trained the support team.", TRIM_SILENCE)
    audio = np.concatenate([silence(0.5), first, silence(1.5), second, silence(3.0), apart, silence(3.0)])
    events = [e for _, e in await run_pipeline(vad_engine(transcriber), audio)]
    captions = [e.text.lower() for e in events if isinstance(e, FinalTranscript)]
    scored = [e for e in events if isinstance(e, UtteranceTranscript)]
    assert len(captions) == 3 and "billing" in captions[0] and "downtime" in captions[1], captions
    assert [u.parts for u in scored] == [2, 1], scored
    assert all(w in scored[0].text.lower() for w in ("migration", "billing", "database", "downtime")), scored[0]
    assert "support team" in scored[1].text.lower(), scored[1]


async def test_a_turn_ended_in_a_pause_is_transcribed_without_waiting_for_the_pause_to_end(  # type: ignore[no-untyped-def]
    transcriber, tmp_path_factory
) -> None:
    first = spoken(tmp_path_factory, "I led the migration of our billing system", TRIM_SILENCE)
    second = spoken(tmp_path_factory, "to a new database without any downtime.", TRIM_SILENCE)
    second_end = 0.5 + (len(first) + 24000 + len(second)) / 16000
    audio = np.concatenate([silence(0.5), first, silence(1.5), second, silence(4.0)])
    turn_end = second_end + 0.6  # the candidate presses "done" 0.6 s after speaking
    timed = await run_pipeline(vad_engine(transcriber), audio, turn_end, real_time=True)
    scored = [(t, e) for t, e in timed if isinstance(e, UtteranceTranscript)]
    assert len(scored) == 1 and scored[0][1].parts == 2 and "downtime" in scored[0][1].text.lower(), scored
    came_at = scored[0][0]
    print(f"\nthe joined utterance's transcript came {came_at - turn_end:.2f} s of audio after the turn ended")
    # Without the turn's end it would wait out the 2 s a pause needs to end an utterance.
    assert came_at < second_end + 2.0, (came_at, second_end)
    progress = [e.settled_s for t, e in timed if isinstance(e, AnalysisProgress) and t <= came_at + 0.2]
    assert max(progress) >= turn_end  # the line is past the turn's end: the answer can close


async def test_speech_just_after_a_turn_ends_takes_no_pre_roll_from_it_and_holds_its_answer_open_no_longer(  # type: ignore[no-untyped-def]
    transcriber, tmp_path_factory
) -> None:
    first = spoken(tmp_path_factory, "I led the migration of our billing system", TRIM_SILENCE)
    second = spoken(tmp_path_factory, "Then I trained the support team.", TRIM_SILENCE)
    audio = np.concatenate([silence(0.5), first, silence(1.2), second, silence(3.0)])  # a pause short enough to join them
    alone = await run_pipeline(vad_engine(transcriber), audio)
    second_start = [e.time_s for _, e in alone if isinstance(e, SpeechStarted)][1]
    pre_roll_start = [e.start_s for _, e in alone if isinstance(e, FinalTranscript)][1]
    assert pre_roll_start < second_start - 0.05, (pre_roll_start, second_start)
    turn_end = (pre_roll_start + second_start) / 2  # "done" pressed just before speaking again, inside the pre-roll
    timed = await run_pipeline(vad_engine(transcriber), audio, turn_end)
    scored = [e for _, e in timed if isinstance(e, UtteranceTranscript)]
    assert [u.parts for u in scored] == [1, 1] and "billing" in scored[0].text.lower() and "support" in scored[1].text.lower(), scored
    assert scored[1].start_s >= turn_end, (scored[1].start_s, turn_end)
    # The line reaches the turn's end while the next utterance goes on, not once its transcript is in: the answer
    # closes there, and the candidate's next question does not wait for what they said after pressing "done".
    reached = next(t for t, e in timed if isinstance(e, AnalysisProgress) and e.settled_s >= turn_end - 0.001)
    second_came = next(t for t, e in timed if e is scored[1])
    assert reached < second_start + 0.5 < second_came, (reached, second_start, second_came)


@pytest.mark.parametrize("pause_s", [1.2, 2.5], ids=["in-the-utterance-it-ends", "after-that-utterance-closed"])
async def test_speech_that_began_before_a_late_turn_end_came_loses_its_pre_roll_from_before_that_end(  # type: ignore[no-untyped-def]
    transcriber, tmp_path_factory, pause_s: float
) -> None:
    # A closing phrase's end is known only once its caption is decoded: by then the candidate may speak again, after
    # a pause that would have joined their speech into the utterance the turn's end splits, or one that closed it.
    first = spoken(tmp_path_factory, "I led the migration of our billing system", TRIM_SILENCE)
    second = spoken(tmp_path_factory, "Then I trained the support team.", TRIM_SILENCE)
    third = spoken(tmp_path_factory, "and wrote their guide.", TRIM_SILENCE)  # joins the second: one utterance
    audio = np.concatenate([silence(0.5), first, silence(pause_s), second, silence(1.0), third, silence(3.0)])
    alone = await run_pipeline(vad_engine(transcriber), audio)
    second_start = [e.time_s for _, e in alone if isinstance(e, SpeechStarted)][1]
    pre_roll_start = [e.start_s for _, e in alone if isinstance(e, FinalTranscript)][1]
    turn_end = (pre_roll_start + second_start) / 2
    timed = await run_pipeline(vad_engine(transcriber), audio, turn_end, told_at_s=second_start + 0.4)
    started = [t for t, e in timed if isinstance(e, SpeechStarted)]
    assert started[1] < second_start + 0.4, "the next segment began before the turn's end was told"
    scored = [e for _, e in timed if isinstance(e, UtteranceTranscript)]
    assert [u.parts for u in scored] == [1, 2] and "support" in scored[1].text.lower(), scored
    assert scored[1].start_s >= turn_end, (scored[1].start_s, turn_end)
    reached = next(t for t, e in timed if isinstance(e, AnalysisProgress) and e.settled_s >= turn_end - 0.001)
    second_came = next(t for t, e in timed if e is scored[1])
    assert reached < second_start + 0.6 < second_came, (reached, second_start, second_came)


async def test_what_is_scored_keeps_the_beam_while_captions_decode_greedily_behind(  # type: ignore[no-untyped-def]
    transcriber, tmp_path_factory
) -> None:
    """Captions go greedy while the recogniser is behind; what is scored is decoded with the beam all the same, so the
    same audio gives the same scored transcript at any load (and in a replay, which is never behind)."""

    class Marked:  # each transcript says which beam decoded it
        def transcribe_batch(self, clips, language=None, prompt=None, beam_size=1):  # type: ignore[no-untyped-def]
            found = transcriber.transcribe_batch(clips, language, prompt, beam_size)
            return [dataclasses.replace(t, text=f"[beam {beam_size}] {t.text}") for t in found]

    first = spoken(tmp_path_factory, "I led the migration of our billing system", TRIM_SILENCE)
    second = spoken(tmp_path_factory, "to a new database without any downtime.", TRIM_SILENCE)
    apart = spoken(tmp_path_factory, "Then I trained the support team.", TRIM_SILENCE)
    audio = np.concatenate([silence(0.5), first, silence(1.5), second, silence(3.0), apart, silence(3.0)])
    engine = vad_engine(Marked(), final_beam_size=3)  # type: ignore[arg-type]
    assert engine.transcription is not None
    engine.transcription.busy_share = lambda now=None, workers_only=False: 1.0  # type: ignore[method-assign] # always behind
    events = [e for _, e in await run_pipeline(engine, audio)]
    captions = [e.text for e in events if isinstance(e, FinalTranscript)]
    scored = [e for e in events if isinstance(e, UtteranceTranscript)]
    assert len(captions) == 3 and all(c.startswith("[beam 1]") for c in captions), captions
    assert [u.parts for u in scored] == [2, 1], scored
    assert all(u.text.startswith("[beam 3]") for u in scored), scored
    assert "support team" in scored[1].text.lower(), scored[1]


async def test_a_decode_that_stops_before_the_speech_does_goes_on_from_its_last_words(  # type: ignore[no-untyped-def]
    transcriber, tmp_path_factory
) -> None:
    """Whisper now and then ends a long decode with seconds of speech still after its last words. The utterance's
    speech segments show it, and what is after those words is decoded too, with the text so far as the prompt."""
    calls: list[tuple[float, str | None]] = []

    class StopsEarly:  # without a prompt, a long clip is read only as far as its first 55 % (as if Whisper stopped there)
        def transcribe_batch(self, clips, language=None, prompt=None, beam_size=1):  # type: ignore[no-untyped-def]
            calls.extend((len(c) / 16000, prompt) for c in clips)
            heard = [c[: int(len(c) * 0.55)] if prompt is None and len(c) > 5 * 16000 else c for c in clips]
            return transcriber.transcribe_batch(heard, language, prompt, beam_size)

    first = spoken(tmp_path_factory, "I led the migration of our billing system", TRIM_SILENCE)
    second = spoken(tmp_path_factory, "to a new database without any downtime.", TRIM_SILENCE)
    audio = np.concatenate([silence(0.5), first, silence(1.5), second, silence(3.0)])
    events = [e for _, e in await run_pipeline(vad_engine(StopsEarly()), audio)]  # type: ignore[arg-type]
    scored = [e for e in events if isinstance(e, UtteranceTranscript)]
    assert len(scored) == 1 and scored[0].parts == 2, scored
    assert all(w in scored[0].text.lower() for w in ("migration", "billing", "database", "downtime")), scored[0]
    assert [s.start_s for s in scored[0].segments] == sorted(s.start_s for s in scored[0].segments)
    assert scored[0].segments[-1].end_s > scored[0].end_s - 1.0, scored[0].segments  # its words now reach its end
    goes_on = [(seconds, prompt) for seconds, prompt in calls if prompt]
    assert len(goes_on) == 1 and "billing" in str(goes_on[0][1]).lower() and goes_on[0][0] < len(audio) / 16000 / 2, calls
