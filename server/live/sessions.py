"""The registry of this node's live interviews and their media sessions: opens peer connections for WHIP offers,
closes them, counts their media, and keeps each session's recording."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from media.answer_recording import AnswerFiles, AnswerRecorder, RecordedAnswer
from media.ingest import MediaConfig, MediaIngest
from media.recording import FILE_SUFFIX, AudioRecorder
from realtime_scoring.answer_scoring import AnswerScorer
from server.cluster.event_bus import EventBus, hr_topic
from server.domain.interview import Interview, InterviewStatus
from server.live.faq import Faq
from server.live.hr_messages import RecordingsReady
from server.live.live_interview import LiveInterview
from server.live.question_flow import InterviewFlowError
from server.rtc.answer_tap import feed_recorder
from server.rtc.encoded_frames import request_key_frame, tap_receivers
from server.rtc.ice import RemoteCandidatePolicy, rtc_configuration
from server.rtc.media_consumers import MediaConsumer, SessionContext
from server.rtc.media_session import MediaSession
from server.rtc.peers import add_video_bitrate_hints, answer_offer
from server.settings import Settings
from server.storage.contract import Store
from server.storage.private_files import private_file

logger = logging.getLogger(__name__)


def recordings_dir(settings: Settings, interview_id: str) -> Path:
    return settings.data_dir / "recordings" / interview_id


async def remove_erased_recordings(settings: Settings, store: Store) -> list[str]:
    """Delete this node's recordings of interviews the store no longer has. With a shared store a candidate may be erased
    through another node, which can delete only its own files; each node sweeps its disk for the rest."""
    root = settings.data_dir / "recordings"
    names = await asyncio.to_thread(lambda: [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else [])
    gone = [name for name in names if await store.get_interview(name) is None]
    for name in gone:
        await asyncio.to_thread(shutil.rmtree, root / name, ignore_errors=True)
    return gone


def recording_path(settings: Settings, interview_id: str, session: MediaSession) -> Path:
    return recordings_dir(settings, interview_id) / f"{int(session.created_at)}-{session.id[:8]}{FILE_SUFFIX}"


# A media session that has received nothing for this long may be replaced by a new publish of the same interview.
STALE_MEDIA_S = 3.0


class SessionCapacityError(Exception):
    """This node takes no new media session now: it carries its maximum (`busy` False), or it is strained (`busy`)."""

    def __init__(self, busy: bool = False) -> None:
        super().__init__("strained" if busy else "full")
        self.busy = busy


class Admission(Protocol):
    """Whether the node's load lets a new media session open (server/ops/node_load.py)."""

    def admits(self, *, resuming: bool = False) -> bool: ...

    def refuse(self) -> None: ...

    @property
    def sample_slowdown(self) -> float: ...


class Placement(Protocol):
    """Told which interviews run live on this node (the node registry, so other nodes can find them)."""

    def hold(self, interview_id: str) -> None: ...

    def release(self, interview_id: str) -> None: ...


class SessionRegistry:
    """Every live interview and media session on this node; creates and tears down peer connections."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        consumer: MediaConsumer,
        scorer: AnswerScorer,
        bus: EventBus,
        faq: Faq | None = None,
        observe_final_lag: Callable[[float], None] | None = None,
        placement: Placement | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._settings = settings
        self._placement = placement
        self._admission = admission
        self._bus = bus
        self._faq = faq
        self._observe_final_lag = observe_final_lag
        self._scorer = scorer
        self._store = store
        self._consumer = consumer
        self._rtc_configuration = rtc_configuration(settings.ice_servers)
        self.candidate_policy = RemoteCandidatePolicy(tuple(settings.ice_allowed_networks))
        self.media_config: MediaConfig = settings.media
        self._live: dict[str, LiveInterview] = {}
        self._media: dict[str, MediaSession] = {}
        self._pending_writes: set[asyncio.Future[None]] = set()
        self._closed_media_totals: dict[str, float] = {}

    @property
    def live_interviews(self) -> int:
        return len(self._live)

    @property
    def media_sessions(self) -> int:
        return len(self._media)

    def media_session(self, session_id: str) -> MediaSession | None:
        return self._media.get(session_id)

    def media_of(self, interview_id: str) -> MediaSession | None:
        """The interview's media session on this node, if it has one (a replaced one is gone from `_media` first)."""
        return next((s for s in self._media.values() if s.context.interview_id == interview_id), None)

    async def live_interview(self, interview: Interview) -> LiveInterview:
        live = self._live.get(interview.id)
        if live is None:
            live = LiveInterview(
                interview,
                self._store,
                self._forget_live,
                self._pending_writes,
                self._scorer,
                self._settings,
                self._bus,
                self._faq,
                observe_final_lag=self._observe_final_lag,
            )
            self._live[interview.id] = live
            if self._placement is not None:
                self._placement.hold(interview.id)
            await live.restore()
        return live

    def find_live(self, interview_id: str) -> LiveInterview | None:
        return self._live.get(interview_id)

    async def end_interview(self, interview_id: str) -> None:
        """Stop whatever this node runs for an interview being cancelled or erased: its media and its flow."""
        live = self._live.get(interview_id)
        if live is None:
            return
        if (session := self.media_of(interview_id)) is not None:
            await self.close_media(session, "closed")
        live.stop()

    def _forget_live(self, live: LiveInterview) -> None:
        if self._live.get(live.id) is live:
            del self._live[live.id]
            if self._placement is not None:
                self._placement.release(live.id)

    async def open_media(self, live: LiveInterview, offer_sdp: str, *, emotion: bool) -> tuple[MediaSession, str]:
        """Answer a WHIP offer for `live`; the caller has checked auth, size, codecs and consent (`emotion`: the
        candidate agreed to facial emotion analysis)."""
        if (previous := self.media_of(live.id)) is not None:
            # A session still streaming is protected; one whose media stopped (the candidate's network dropped and
            # they publish again) is replaced now rather than after ICE's consent checks give up, half a minute on.
            if previous.active and previous.ingest.silent_for_s() < STALE_MEDIA_S:
                raise InterviewFlowError("session_exists", "this interview already has a live media session")
            previous.replaced = True  # the interview stays live on this node for the new session
            await self.close_media(previous, "closed")
        if len(self._media) >= self._settings.max_live_sessions:
            raise SessionCapacityError()
        # An interview under way (its candidate reconnecting) is never refused for load: only new ones wait.
        resuming = previous is not None or live.interview.status == InterviewStatus.IN_PROGRESS
        if self._admission is not None and not self._admission.admits(resuming=resuming):
            self._admission.refuse()
            raise SessionCapacityError(busy=True)
        offer_sdp, _ = self.candidate_policy.filter_sdp(offer_sdp)

        pc = RTCPeerConnection(configuration=self._rtc_configuration)
        context = SessionContext(
            live.id,
            live.interview.language,
            emotion=emotion and self._settings.emotion_analysis,
            tenant=live.interview.tenant,
            captions_watched=live.captions_watched,
        )
        # The connection's media clock is mapped onto the interview's here, once: its times are interview time.
        admission = self._admission
        slowdown = (lambda: admission.sample_slowdown) if admission is not None else None
        ingest = MediaIngest(self.media_config, starts_at_s=live.now_s(), sample_slowdown=slowdown)
        session = MediaSession(context, live, pc, ingest, on_closed=self._session_closed)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            session.ingest.add_track(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if state == "connected":
                session.connected_at = time.time()
                await live.on_media_connected(session)
            elif state in ("failed", "closed") and not session.closing:
                session.spawn(self.close_media(session, state), "close")

        def tap(connection: RTCPeerConnection) -> None:
            session.taps = tap_receivers(connection, self._settings.media_limits, session.frames_refused)

        try:
            answer = await answer_offer(pc, offer_sdp, prepare=tap)
        except BaseException:
            try:
                await pc.close()
            except Exception:  # a half-negotiated connection aiortc cannot close (transceivers without transports)
                logger.warning("a peer connection refused at negotiation did not close cleanly", exc_info=True)
            raise
        asked_kbps = min(self._settings.video_send_kbps, self._settings.media_max_video_kbps)
        answer = add_video_bitrate_hints(answer, self._settings.video_start_bitrate_kbps, asked_kbps)
        self._media[session.id] = session
        live.attach_media(session)
        if self._settings.recording:
            # The candidate's voice: created the service user's alone before the recorder opens it.
            path = await asyncio.to_thread(private_file, recording_path(self._settings, live.id, session))
            session.recorder = AudioRecorder(path)
            session.ingest.audio_taps.append(session.recorder.write)
        if self._settings.answer_recordings:
            session.answer_recorder = self._answer_recorder(live.id, session)
            feed_recorder(session.taps, session.answer_recorder, ingest.now_s)
        session.start_consumer(self._consumer)
        session.spawn(self._watch(session), "watch")
        return session, answer

    def _answer_recorder(self, interview_id: str, session: MediaSession) -> AnswerRecorder:
        video = [tap for tap in session.taps if tap.guard.kind == "video"]
        files = AnswerFiles(
            recordings_dir(self._settings, interview_id),
            name=lambda index, n: f"q{index + 1:02d}-{int(session.created_at)}-{session.id[:8]}-{n}",
            expects_video=bool(video),
            max_bytes=self._settings.answer_recordings_max_mb * 1024 * 1024,
            create_file=private_file,  # the candidate's face and voice: the service user's alone
        )

        def ask_for_key_frame() -> None:
            for tap in video:
                if tap.receiver is not None:
                    session.spawn(request_key_frame(tap.receiver), "key-frame")

        return AnswerRecorder(files, ask_for_key_frame)

    async def _watch(self, session: MediaSession) -> None:
        """Free the slot of a session that never connects, or connects and sends nothing (or stops sending): an
        invite holder could otherwise hold slots with connections that carry no interview."""
        await asyncio.sleep(self._settings.ice_connect_timeout_s)
        if session.connected_at is None:
            logger.info("media session %s did not connect in time", session.id)
            session.spawn(self.close_media(session, "failed"), "close")
            return
        limit_s = self._settings.media_silence_timeout_s
        while not session.closing:
            silent_s = session.ingest.silent_for_s()
            if silent_s >= limit_s:
                logger.info("media session %s: no media for %.0f s", session.id, silent_s)
                session.spawn(self.close_media(session, "failed"), "close")
                return
            await asyncio.sleep(max(0.5, limit_s - silent_s))

    async def close_media(self, session: MediaSession, state: str = "closed") -> None:
        await session.close(state)

    async def _session_closed(self, session: MediaSession) -> None:
        """A session closed (by the page, the interview's end, a failure or shutdown): count it, keep its recording."""
        if self._media.pop(session.id, None) is not None:
            for name, value in _counters(session).items():
                self._closed_media_totals[name] = self._closed_media_totals.get(name, 0) + value
        for answer in session.recorded_answers:
            await self._register_answer(session, answer)
        if session.recorded_answers:  # a review page open on the interview shows the videos now
            ready = RecordingsReady(interview_id=session.context.interview_id)
            self._bus.publish(hr_topic(session.context.tenant), ready.model_dump(mode="json"))
        recorder = session.recorder
        if recorder is None:
            return
        registered = False
        if recorder.seconds > 0 and not recorder.failed:
            try:
                await self._store.add_recording(
                    session.context.interview_id,
                    recorder.path.name,
                    round(recorder.starts_s or 0.0, 3),
                    round(recorder.seconds, 3),
                )
                registered = True
            except Exception:  # the interview may have been erased meanwhile
                logger.exception("media session %s: recording not registered", session.id)
        if not registered:  # nothing heard, or nobody may hear it: no file stays behind
            await asyncio.to_thread(recorder.path.unlink, missing_ok=True)

    async def _register_answer(self, session: MediaSession, answer: RecordedAnswer) -> None:
        """List an answer's file with the interview, or delete it (the interview was erased meanwhile)."""
        try:
            await self._store.add_recording(
                session.context.interview_id,
                answer.path.name,
                round(answer.starts_s, 3),
                round(answer.seconds, 3),
                question_index=answer.question_index,
                media_type=answer.media_type,
            )
        except Exception:
            logger.exception("media session %s: answer recording not registered", session.id)
            await asyncio.to_thread(answer.path.unlink, missing_ok=True)

    def media_totals(self) -> dict[str, float]:
        """Media counters of every session since this node started (closed ones and live ones)."""
        totals = dict(self._closed_media_totals)
        for session in self._media.values():
            for name, value in _counters(session).items():
                totals[name] = totals.get(name, 0) + value
        return totals

    def analysis_audio_dropped(self) -> int:
        """Audio chunks the live sessions' analysis fell too far behind to take (the node's load probe reads it often)."""
        return sum(session.ingest.audio.dropped for session in self._media.values())

    async def close_all(self) -> None:
        """Close every media session, then wait for the transcripts and observations they still write."""
        await asyncio.gather(*(self.close_media(s) for s in list(self._media.values())), return_exceptions=True)
        await asyncio.gather(*list(self._pending_writes), return_exceptions=True)


def _counters(session: MediaSession) -> dict[str, float]:
    """A session's media counters: its ingest's, and its encoded frames refused or dropped before decoding."""
    counters = {name: value for name, value in asdict(session.ingest.stats).items() if isinstance(value, (int, float))}
    taps = session.tap_counts()
    counters["encoded_frames_refused"] = taps.refused
    counters["encoded_frames_dropped"] = taps.dropped
    return counters
