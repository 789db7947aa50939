"""WHIP ingest driven by a real aiortc client: media arrives decoded, the question flow runs, bad input is refused."""

from __future__ import annotations

import asyncio
import fractions
import gc
import io
import re
import stat
import time
from pathlib import Path

import av
import httpx
import numpy as np
import psutil
import pytest
from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from loadtests.attackers import ForgedVideo, vp8_claiming
from loadtests.whip_client import WhipPublisher, WhipRejected, give_consent
from media.audio import MAX_AHEAD_S
from media.files import read_audio
from media.frames import AudioChunk
from media.recording import recorded_clock_start_s
from server.live.chat import ESCALATED
from server.ops.node_load import LoadLevel
from server.rtc.ice import parse_trickle_fragment
from server.settings import Settings
from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.media_files import best_envelope_correlation, read_wav_mono
from tests.helpers.waiting import wait_until
from tests.helpers.webrtc import CandidateSocket, CapturingConsumer, CountingTrack

pytestmark = pytest.mark.webrtc


async def publish(server: LiveServer, interview_id: str, token: str, tracks, codec: str | None = None) -> WhipPublisher:  # type: ignore[no-untyped-def]
    publisher = WhipPublisher(server.url, interview_id, token, server.http)
    await publisher.publish(tracks, video_codec=codec)
    return publisher


@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_decoded_media_matches_what_the_client_sent(
    capturing_server: LiveServer, capture: CapturingConsumer, speech_wav: Path, face_y4m: Path, codec: str
) -> None:
    server = capturing_server
    interview, token = await server.schedule()
    socket = await CandidateSocket.open(server.url, interview.id, token)
    video_player, audio_player = MediaPlayer(str(face_y4m), loop=True), MediaPlayer(str(speech_wav))
    video = CountingTrack(video_player.video)
    publisher = await publish(server, interview.id, token, [audio_player.audio, video], codec)
    try:
        connected_at, _ = await socket.wait_for(lambda m: m["type"] == "media" and m["state"] == "connected")
        question_at, question = await socket.wait_for(lambda m: m["type"] == "question")
        assert question["question"]["id"] == "q1" and question["index"] == 0 and question["total"] == 3
        assert question_at >= connected_at, "the first question waits for the candidate's media"

        # Six seconds of the speech clip (and of video at 30 fps) go out; then nearly every frame sent by then
        # must have been decoded (frames still in flight are not losses, so the check waits for them).
        await wait_until(lambda: video.frames >= 180, timeout=30, what="six seconds of video sent")
        sent = video.frames
        ingest = capture.ingests[0]
        await wait_until(lambda: ingest.stats.video_frames >= 0.9 * sent, timeout=10, what=f"90 % of {sent} sent frames decoded")

        state = await server.interview_state(interview.id)
        assert state["media"]["state"] == "connected"
        assert state["media"]["tracks"] == ["audio", "video"]
        assert state["media"]["stats"]["video_width"] == 640 and state["media"]["stats"]["video_height"] == 480

        frames = list(capture.frames)
        assert frames and frames[0].rgb.shape == (480, 640, 3) and frames[0].rgb.dtype == np.uint8
        span = frames[-1].time_s - frames[0].time_s
        configured = Settings.model_fields["video_sample_fps"].default
        assert 0.7 * configured <= (len(frames) - 1) / span <= 1.3 * configured, f"video is sampled near the configured {configured} fps"

        chunks = list(capture.chunks)
        assert all(len(c.samples) == 512 and c.samples.dtype == np.float32 for c in chunks)
        starts = np.array([c.start_s for c in chunks])
        assert np.allclose(np.diff(starts), 0.032, atol=1e-6), "chunks are contiguous on the media clock"
        received = np.concatenate([c.samples for c in chunks])
        reference, rate = read_wav_mono(speech_wav)
        r = best_envelope_correlation(received, 16_000, reference, rate)
        assert r >= 0.9, f"loudness envelope correlation {r:.3f}"
    finally:
        await publisher.close()
        await socket.close()
        video_player.video.stop()
        audio_player.audio.stop()


async def test_questions_advance_on_answer_done_until_the_interview_completes(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(questions=2)
    socket = await CandidateSocket.open(live_server.url, interview.id, token)
    _, hello = await socket.wait_for(lambda m: m["type"] == "hello")
    assert hello["interview"]["candidate_name"] == "Alex Chen" and hello["interview"]["status"] == "scheduled"

    await socket.send(type="answer.done", question_id="q1")
    _, error = await socket.wait_for(lambda m: m["type"] == "error")
    assert error["code"] == "not_in_progress"

    publisher = await publish(live_server, interview.id, token, [AudioStreamTrack(), VideoStreamTrack()])
    try:
        await socket.wait_for(lambda m: m["type"] == "question" and m["question"]["id"] == "q1")
        await socket.wait_for(lambda m: m["type"] == "levels")
        await socket.send(type="answer.text", question_id="q1", text="I would cache the hot keys.")
        await socket.send(type="answer.done", question_id="q2")
        _, stale = await socket.wait_for(lambda m: m["type"] == "error" and m["code"] == "not_current_question")
        assert "q2" in stale["message"]
        await socket.send(type="answer.done", question_id="q1")
        await socket.wait_for(lambda m: m["type"] == "question" and m["question"]["id"] == "q2")
        await socket.send(type="chat", text="Can I have a glass of water?")
        await socket.send(type="answer.done", question_id="q2")
        await socket.wait_for(lambda m: m["type"] == "completed")
        await socket.wait_for(lambda m: m["type"] == "media" and m["state"] == "closed")

        state = await live_server.interview_state(interview.id)
        assert state["interview"]["status"] == "completed"
        assert state["media"] is None
        assert [(a["question_id"], a["kind"], a["text"]) for a in state["answers"]] == [
            ("q1", "text", "I would cache the hot keys."),
            ("q2", "chat", "Can I have a glass of water?"),
            ("q2", "chat.system", ESCALATED["en"]),  # the FAQ does not cover it: HR is asked
        ]
        with pytest.raises(WhipRejected) as rejected:
            await publish(live_server, interview.id, token, [AudioStreamTrack()])
        assert rejected.value.status == 409 and rejected.value.problem["code"] == "interview_closed"
    finally:
        await publisher.close()
        await socket.close()


async def test_reconnecting_socket_gets_the_current_question(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule()
    publisher = await publish(live_server, interview.id, token, [AudioStreamTrack()])
    try:
        await wait_until(lambda: live_server.services.registry.find_live(interview.id).media_connected, what="media")
        socket = await CandidateSocket.open(live_server.url, interview.id, token)
        _, question = await socket.wait_for(lambda m: m["type"] == "question")
        assert question["question"]["id"] == "q1"
        await socket.close()
    finally:
        await publisher.close()


async def offer_sdp(*tracks) -> tuple[RTCPeerConnection, str]:  # type: ignore[no-untyped-def]
    pc = RTCPeerConnection()
    for track in tracks:
        pc.addTransceiver(track, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def post_offer(
    server: LiveServer, interview_id: str, token: str | None, body: str | bytes, content_type: str = "application/sdp"
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await server.http.post(f"{server.url}/api/v1/interviews/{interview_id}/whip", content=body, headers=headers)


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["detail"]


async def test_bad_offers_get_clear_errors_and_leave_no_session(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule()
    _other, other_token = await live_server.schedule()
    pc, good = await offer_sdp(AudioStreamTrack(), VideoStreamTrack())
    video_pc, video_only = await offer_sdp(VideoStreamTrack())
    try:
        assert_problem(await post_offer(live_server, interview.id, None, good), 401, "missing_token")
        assert_problem(await post_offer(live_server, interview.id, "not-a-token", good), 401, "invalid_token")
        expired = live_server.services.signer.issue(interview.id, int(time.time()) - 5)
        assert_problem(await post_offer(live_server, interview.id, expired, good), 401, "invalid_token")
        assert_problem(await post_offer(live_server, interview.id, other_token, good), 403, "wrong_interview")
        assert_problem(await post_offer(live_server, interview.id, token, good, "text/plain"), 415, "unsupported_media_type")
        assert_problem(await post_offer(live_server, interview.id, token, "hello, server"), 400, "malformed_sdp")
        assert_problem(await post_offer(live_server, interview.id, token, "v=0\r\nm=audio x\r\n"), 400, "malformed_sdp")
        assert_problem(await post_offer(live_server, interview.id, token, b"\xff\xfe" * 10), 400, "malformed_sdp")
        oversized = good + "a=x-padding:" + "p" * (64 * 1024) + "\r\n"
        assert_problem(await post_offer(live_server, interview.id, token, oversized), 413, "body_too_large")
        assert_problem(await post_offer(live_server, interview.id, token, video_only), 422, "no_audio")
        pcmu_only = good.replace("opus/48000/2", "PCMU/8000")
        assert_problem(await post_offer(live_server, interview.id, token, pcmu_only), 422, "unsupported_codec")
        # DTLS: no setup role (a 500 once), or a fingerprint that no certificate can match (accepted, then the
        # handshake failed silently).
        no_setup = "\r\n".join(line for line in good.splitlines() if not line.startswith("a=setup")) + "\r\n"
        assert_problem(await post_offer(live_server, interview.id, token, no_setup), 400, "malformed_sdp")
        no_fingerprint = "\r\n".join(line for line in good.splitlines() if not line.startswith("a=fingerprint")) + "\r\n"
        assert_problem(await post_offer(live_server, interview.id, token, no_fingerprint), 400, "malformed_sdp")
        garbled = re.sub(r"a=fingerprint:sha-256 \S+", "a=fingerprint:sha-256 ZZ:not:hex", good)
        assert_problem(await post_offer(live_server, interview.id, token, garbled), 400, "malformed_sdp")
        # Found by the fuzz campaign: a BUNDLE group naming a mid no section has made aiortc fail on None (a 500).
        unbundled = re.sub(r"a=group:BUNDLE 0 1", "a=group:BUNDLE 2 1", good)
        assert unbundled != good
        assert_problem(await post_offer(live_server, interview.id, token, unbundled), 400, "malformed_sdp")
        assert_problem(
            await post_offer(live_server, "nope", live_server.services.signer.issue("nope", int(time.time()) + 60), good),
            404,
            "interview_not_found",
        )
        # No media without the candidate's consent to recording and AI scoring.
        unconsented, unconsented_token = await live_server.schedule(consent=False)
        assert_problem(await post_offer(live_server, unconsented.id, unconsented_token, good), 409, "consent_required")
        registry = live_server.services.registry
        assert registry.media_sessions == 0 and registry.live_interviews == 0
    finally:
        await pc.close()
        await video_pc.close()


async def test_second_session_is_refused_while_the_first_keeps_streaming(capturing_server: LiveServer, capture: CapturingConsumer) -> None:
    server = capturing_server
    interview, token = await server.schedule()
    first = await publish(server, interview.id, token, [AudioStreamTrack(), VideoStreamTrack()])
    try:
        await wait_until(lambda: capture.ingests and capture.ingests[0].stats.audio_chunks > 10, what="audio")
        with pytest.raises(WhipRejected) as rejected:
            await publish(server, interview.id, token, [AudioStreamTrack()])
        assert rejected.value.status == 409 and rejected.value.problem["code"] == "session_exists"
        before = capture.ingests[0].stats.audio_chunks
        await wait_until(lambda: capture.ingests[0].stats.audio_chunks > before + 5, what="the first session still receiving audio")
        assert len(capture.ingests) == 1
    finally:
        await first.close()


class FallsSilentTrack(AudioStreamTrack):
    """Audio for a while, then nothing: what the server sees of a candidate whose network dropped."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.left = frames

    async def recv(self):  # type: ignore[no-untyped-def]
        if self.left <= 0:
            await asyncio.Event().wait()
        self.left -= 1
        return await super().recv()


class FasterThanRealTimeTrack(AudioStreamTrack):
    """An attacker's sender: 20 ms audio frames every 10 ms, two seconds of audio for every second that passes (under
    the node's frame-rate limit, which refuses anything much faster before it is decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_s = 0.0

    async def recv(self):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.01)
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.time_base, frame.pts = 48_000, fractions.Fraction(1, 48_000), round(self.sent_s * 48_000)
        self.sent_s += 0.02
        return frame


async def test_audio_sent_faster_than_real_time_never_moves_the_interview_clock_ahead_of_the_wall_clock(
    capturing_server: LiveServer, capture: CapturingConsumer
) -> None:
    # Answer time limits run on the interview's clock: a sender that could run it ahead could skip them.
    server = capturing_server
    interview, token = await server.schedule()
    track = FasterThanRealTimeTrack()
    publisher = await publish(server, interview.id, token, [track])
    try:
        await wait_until(lambda: capture.ingests, what="the session")
        ingest = capture.ingests[0]
        # Received, not only sent: ten seconds of audio frames within about five seconds.
        await wait_until(lambda: ingest.stats.audio_frames * 0.02 > 10 and capture.chunks, timeout=20, what="10 s of audio received")
        now = ingest.now_s()
        assert now < 9, "the attack ran faster than real time"
        assert server.services.registry.media_of(interview.id) is not None, "within the frame-rate limit: not ended"
        assert max(c.start_s + c.duration_s for c in capture.chunks) <= now + MAX_AHEAD_S
        assert ingest.stats.audio_seconds <= now + MAX_AHEAD_S, "no more audio analysed than time has passed"
        assert ingest.stats.audio_ahead_dropped_s > 1, "what came too early is counted as dropped"
    finally:
        await publisher.close()


def remb_received(publisher: WhipPublisher) -> list[int]:
    """The bitrates the node asks the publisher's video sender for (RTCP REMB), as they arrive."""
    sender = next(s for s in publisher.pc.getSenders() if s.kind == "video")
    handle, asked = sender._handle_rtcp_packet, []

    async def recording(packet: object) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            asked.append(unpack_remb_fci(packet.fci)[0])
        await handle(packet)  # type: ignore[arg-type]

    sender._handle_rtcp_packet = recording  # type: ignore[method-assign]
    return asked


@pytest.mark.parametrize(
    ("frame", "fps", "reason"),
    [
        (vp8_claiming(16383, 16383), 15, "video_too_large"),  # a header alone pinned ~885 MB per session
        (vp8_claiming(4096, 4096), 15, "video_too_large"),
        (vp8_claiming(64, 64), 300, "frame_rate_too_high"),
        (vp8_claiming(64, 64) + bytes(60_000), 15, "bitrate_too_high"),  # ~7 Mbit/s
    ],
    ids=["16383-header", "4096", "300-fps", "7-mbps"],
)
async def test_video_over_the_limits_is_never_decoded_and_the_session_ends_saying_why(
    capturing_server: LiveServer, capture: CapturingConsumer, frame: bytes, fps: float, reason: str
) -> None:
    server = capturing_server
    interview, token = await server.schedule()
    socket = await CandidateSocket.open(server.url, interview.id, token)
    honest, honest_token = await server.schedule()
    honest_publisher = await publish(server, honest.id, honest_token, [AudioStreamTrack(), VideoStreamTrack()], "video/VP8")
    publisher = await publish(server, interview.id, token, [AudioStreamTrack(), ForgedVideo(frame, fps)], "video/VP8")
    asked_bitrates = remb_received(publisher)
    try:
        _, ended = await socket.wait_for(lambda m: m["type"] == "media" and m["state"] == "refused", timeout=20)
        assert ended["reason"] == reason
        if reason == "bitrate_too_high":  # asked to slow down (RTCP REMB, beside aiortc's own estimates) before it was ended
            assert server.settings.media_max_video_kbps * 1000 in asked_bitrates, asked_bitrates
        attacked = capture.ingests[1]  # the honest candidate published first
        await wait_until(lambda: server.services.registry.media_of(interview.id) is None, what="the attacker's session closed")
        metrics = (await server.http.get(f"{server.url}/metrics")).text
        refused = float(re.search(r"^interview_media_encoded_frames_refused_total (\S+)$", metrics, re.M).group(1))  # type: ignore[union-attr]
        assert refused >= fps * server.settings.media_over_limit_grace_s * 0.5
        if reason == "video_too_large":
            assert attacked.stats.video_frames == 0, "not one forged frame reached a decoder"
        # The honest interview beside it keeps its media.
        session = server.services.registry.media_of(honest.id)
        assert session is not None and session.connected
        frames = session.ingest.stats.video_frames
        await wait_until(lambda: session.ingest.stats.video_frames > frames + 15, what="honest video still decoded")
    finally:
        await publisher.close()
        await honest_publisher.close()
        await socket.close()


class SilentTrack(MediaStreamTrack):
    """An attacker's sender: connects (ICE, DTLS) and never sends a frame, to hold one of the node's slots."""

    kind = "audio"

    async def recv(self):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()


async def test_a_session_that_connects_and_never_sends_media_gives_its_slot_back(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", media_silence_timeout_s=2.0, max_live_sessions=1)
    async with serving(settings) as server:
        interview, token = await server.schedule()
        socket = await CandidateSocket.open(server.url, interview.id, token)
        publisher = await publish(server, interview.id, token, [SilentTrack()])
        try:
            # Generous bounds: on a loaded 2-core CI machine ICE and DTLS alone have taken most of 10 s.
            await socket.wait_for(lambda m: m["type"] == "media" and m["state"] == "connected", timeout=30)
            await socket.wait_for(lambda m: m["type"] == "media" and m["state"] == "failed", timeout=30)
            assert server.services.registry.media_sessions == 0
            other, other_token = await server.schedule()  # the node's one slot is free again
            honest = await publish(server, other.id, other_token, [AudioStreamTrack()])
            await honest.close()
        finally:
            await publisher.close()
            await socket.close()


async def test_a_session_whose_media_stopped_is_replaced_by_a_new_publish(capturing_server: LiveServer, capture: CapturingConsumer) -> None:
    server = capturing_server
    interview, token = await server.schedule()
    first = await publish(server, interview.id, token, [FallsSilentTrack(frames=50)])  # one second of audio
    second = None
    try:
        await wait_until(lambda: capture.ingests and capture.ingests[0].stats.audio_chunks > 10, what="audio")
        old_session = server.services.registry.media_of(interview.id)
        assert old_session is not None
        # Right after the media stops the session is still protected; once silent for a few seconds it is not.
        await wait_until(lambda: old_session.ingest.silent_for_s() > 3.2, timeout=10, what="silence")
        second = await publish(server, interview.id, token, [AudioStreamTrack()])
        live = server.services.registry.find_live(interview.id)
        assert live is not None and live.media is not old_session and old_session.closing
        assert server.services.registry.media_of(interview.id) is live.media
        assert server.services.registry.media_sessions == 1
        await wait_until(lambda: len(capture.ingests) == 2 and capture.ingests[1].stats.audio_chunks > 10, what="new audio")
    finally:
        await first.close()
        if second is not None:
            await second.close()


async def test_a_sessions_audio_is_recorded_for_hr_exactly_as_the_models_heard_it_and_erased_with_the_candidate(
    live_server: LiveServer, speech_wav: Path
) -> None:
    server = live_server
    hr = {"X-API-Key": API_KEY}
    await server.http.put(f"{server.url}/api/v1/candidates/cand-rec", json={"name": "Rec Candidate"}, headers=hr)
    # Scheduled from the stored candidate, so erasing the candidate erases this interview.
    created = await server.http.post(
        f"{server.url}/api/v1/interviews",
        headers=hr,
        json={
            "job": {"title": "Backend engineer", "language": "en"},
            "candidate_id": "cand-rec",
            "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
        },
    )
    interview_id, token = created.json()["interview"]["id"], created.json()["invite_token"]
    await give_consent(server.http, f"{server.url}/api/v1/interviews/{interview_id}", token)
    player = MediaPlayer(str(speech_wav), loop=True)
    assert player.audio is not None
    publisher = await publish(server, interview_id, token, [player.audio])
    session = server.services.registry.media_of(interview_id)
    assert session is not None
    heard: list[AudioChunk] = []  # what the models get from here on
    session.ingest.audio_taps.append(heard.append)
    await wait_until(lambda: session.ingest.stats.audio_seconds >= 2.5, what="2.5 s of audio received")
    heard_before_hang_up = session.ingest.stats.audio_seconds
    await publisher.close()  # WHIP DELETE: the session closes and its recording is kept
    base = f"{server.url}/api/v1/interviews/{interview_id}/recordings"
    await wait_until(lambda: server.services.registry.media_sessions == 0, what="session closed")
    listing = [r for r in (await server.http.get(base, headers=hr)).json()["recordings"] if r["media_type"] == "audio/flac"]
    # The recording holds what the server heard: at least what it had before the hang-up, at most all it received.
    assert len(listing) == 1 and listing[0]["starts_s"] >= 0
    assert heard_before_hang_up - 0.1 <= listing[0]["seconds"] <= session.ingest.stats.audio_seconds + 0.1, listing[0]
    # The candidate's voice is the service user's alone, and only what was recorded is on disk.
    folder = server.settings.data_dir / "recordings" / interview_id
    assert listing[0]["name"] in [p.name for p in folder.iterdir()]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE((folder / listing[0]["name"]).stat().st_mode) == 0o600
    audio = await server.http.get(server.url + listing[0]["url"], headers=hr)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/flac"
    with av.open(io.BytesIO(audio.content)) as container:
        assert container.streams.audio[0].codec_context.name == "flac"
    # Every sample the models heard, losslessly, with the file's first sample where the listing puts it on the clock.
    (server.settings.data_dir / "downloaded.flac").write_bytes(audio.content)
    starts_s = recorded_clock_start_s(server.settings.data_dir / "downloaded.flac")
    assert starts_s is not None and abs(starts_s - listing[0]["starts_s"]) < 0.001
    recorded = np.concatenate([c.samples for c in read_audio(server.settings.data_dir / "downloaded.flac", 512)])
    assert heard and abs(recorded.size / 16_000 - listing[0]["seconds"]) < 0.01
    first = round((heard[0].start_s - starts_s) * 16_000)
    models_heard = np.concatenate([c.samples for c in heard])
    assert np.abs(models_heard).max() > 0.05, "the speech reached the models"
    assert first >= 0 and np.array_equal(recorded[first : first + models_heard.size], models_heard)
    assert (await server.http.get(f"{base}/{listing[0]['name']}")).status_code == 401
    assert (await server.http.get(f"{base}/../../secret_key", headers=hr)).status_code == 404
    assert (await server.http.get(f"{base}/0-deadbeef.ogg", headers=hr)).status_code == 404

    assert (await server.http.delete(f"{server.url}/api/v1/candidates/cand-rec", headers=hr)).status_code == 204
    assert not (server.settings.data_dir / "recordings" / interview_id).exists()
    assert (await server.http.get(server.url + listing[0]["url"], headers=hr)).status_code == 404


async def test_trickle_patch_and_delete_follow_whip(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule()
    publisher = await publish(live_server, interview.id, token, [AudioStreamTrack()])
    resource = publisher.resource
    assert resource is not None
    first_session = publisher.etag
    assert first_session is not None and first_session.startswith('"')
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": first_session}
    local = publisher.pc.localDescription.sdp
    ufrag = next(line for line in local.splitlines() if line.startswith("a=ice-ufrag:"))
    pwd = next(line for line in local.splitlines() if line.startswith("a=ice-pwd:"))
    frag = f"{ufrag}\r\n{pwd}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
    try:
        good = frag + "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n"
        assert (await live_server.http.patch(resource, content=good, headers=auth)).status_code == 204
        private = frag + "a=candidate:2 1 udp 2130706431 10.1.2.3 50000 typ host\r\n"
        assert (await live_server.http.patch(resource, content=private, headers=auth)).status_code == 204
        # Connected before ICE is restarted under it: the hang-up below then reaches the client over the kept pair.
        await wait_until(lambda: publisher.pc.connectionState == "connected", what="connected")
        unconditional = {k: v for k, v in auth.items() if k != "If-Match"}
        assert_problem(await live_server.http.patch(resource, content=good, headers=unconditional), 428, "precondition_required")
        assert_problem(
            await live_server.http.patch(resource, content=good, headers={**auth, "If-Match": '"not-this-one"'}), 412, "ice_session_changed"
        )
        assert_problem(await live_server.http.patch(resource, content="garbage here", headers=auth), 400, "malformed_sdpfrag")
        # An ICE restart (If-Match: *): our new credentials and candidates, and a new ICE session's entity-tag. (This
        # aiortc client cannot follow one: the browser test restarts ICE for real and keeps its media flowing.)
        restart = "a=ice-ufrag:zzzz\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
        assert_problem(
            await live_server.http.patch(resource, content="m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n", headers={**auth, "If-Match": "*"}),
            422,
            "ice_credentials_missing",
        )
        restarted = await live_server.http.patch(resource, content=restart, headers={**auth, "If-Match": "*"})
        assert restarted.status_code == 200 and restarted.headers["content-type"].startswith("application/trickle-ice-sdpfrag")
        second_session = restarted.headers["etag"]
        assert second_session not in (first_session, None)
        answer = parse_trickle_fragment(restarted.text)
        assert answer.ice_ufrag and answer.ice_pwd and answer.candidates and answer.end_of_candidates
        assert answer.ice_ufrag not in local and answer.ice_ufrag not in publisher.pc.remoteDescription.sdp
        assert_problem(await live_server.http.patch(resource, content=good, headers=auth), 412, "ice_session_changed")
        renewed = {**auth, "If-Match": second_session}
        newer = restart.replace("zzzz", "yyyy")
        assert (await live_server.http.patch(resource, content=restart, headers=renewed)).status_code == 204, "same ICE session"
        assert (await live_server.http.patch(resource, content=newer, headers=renewed)).status_code == 200, "new credentials restart"
        assert_problem(
            await live_server.http.patch(resource, content=good, headers={**auth, "Content-Type": "text/plain"}),
            415,
            "unsupported_media_type",
        )
        assert_problem(
            await live_server.http.patch(resource, content=good, headers={**auth, "Authorization": "Bearer x"}), 401, "invalid_token"
        )
        deleted = await live_server.http.delete(resource, headers={"Authorization": f"Bearer {token}"})
        assert deleted.status_code == 200
        assert live_server.services.registry.media_sessions == 0
        assert_problem(await live_server.http.delete(resource, headers={"Authorization": f"Bearer {token}"}), 404, "session_not_found")
        await wait_until(lambda: publisher.pc.connectionState in ("closed", "failed"), what="client sees hang-up")
    finally:
        await publisher.close()


async def test_full_node_answers_503_with_retry_after(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data", max_live_sessions=1)) as live:
        (a, token_a), (b, token_b) = await live.schedule(), await live.schedule()
        first = await publish(live, a.id, token_a, [AudioStreamTrack()])
        _, offer = await offer_sdp(AudioStreamTrack())
        response = await post_offer(live, b.id, token_b, offer)
        assert_problem(response, 503, "node_full")
        assert response.headers["retry-after"] == "15"
        await first.close()


async def test_a_node_whose_event_loop_falls_behind_refuses_new_interviews_and_takes_back_one_under_way(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data", admission_control=True, overload_window_s=1.0)) as live:
        (a, token_a), (b, token_b) = await live.schedule(), await live.schedule()
        socket = await CandidateSocket.open(live.url, a.id, token_a)
        first = await publish(live, a.id, token_a, [AudioStreamTrack()])
        await socket.wait_for(lambda m: m["type"] == "question")  # interview a is under way
        load = live.services.node_load
        hogging = True

        async def hog_the_loop() -> None:  # what a node carrying more than it can does to its event loop
            while hogging:
                time.sleep(0.25)  # noqa: ASYNC251 - blocking the loop is the point
                await asyncio.sleep(0.05)

        hog = asyncio.create_task(hog_the_loop())
        again: WhipPublisher | None = None
        try:
            await wait_until(lambda: load.level >= LoadLevel.STRAINED, what="the probe sees the loop lag")
            _, offer = await offer_sdp(AudioStreamTrack())
            refused = await post_offer(live, b.id, token_b, offer)
            assert_problem(refused, 503, "node_busy")
            assert refused.headers["retry-after"] == "15"
            nodes = (await live.http.get(f"{live.url}/api/v1/nodes", headers={"X-API-Key": API_KEY})).json()
            assert nodes["nodes"][0]["accepting_interviews"] is False, "a load balancer can see it takes no new interviews"

            await first.close()  # interview a's candidate loses the connection...
            await wait_until(lambda: live.services.registry.media_sessions == 0, what="the old session closed")
            again = await publish(live, a.id, token_a, [AudioStreamTrack()])  # ...and is taken back, strained or not
        finally:
            hogging = False
            await hog
        await wait_until(lambda: load.level == LoadLevel.OK, timeout=15, what="the node keeps up again")
        admitted = await publish(live, b.id, token_b, [AudioStreamTrack()])
        assert load.refused == 1
        assert again is not None
        await asyncio.gather(admitted.close(), again.close(), socket.close())


async def test_fifty_connect_disconnect_cycles_leave_nothing_behind(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule()
    registry = live_server.services.registry
    process = psutil.Process()

    async def cycle() -> None:
        publisher = await publish(live_server, interview.id, token, [AudioStreamTrack(), VideoStreamTrack()])
        await wait_until(
            lambda: registry.find_live(interview.id) is not None and registry.find_live(interview.id).media_connected, what="connected"
        )
        await publisher.close()

    for _ in range(3):  # warm-up: codecs, thread pools, first allocations
        await cycle()
    await wait_until(lambda: registry.media_sessions == 0 and registry.live_interviews == 0, what="warm-up teardown")
    gc.collect()
    tasks_before = len(asyncio.all_tasks())
    rss_before = process.memory_info().rss
    for _ in range(50):
        await cycle()
    await wait_until(lambda: registry.media_sessions == 0 and registry.live_interviews == 0, what="teardown")
    # Closing tasks end a few loop turns after their session: wait for them rather than a fixed time.
    await wait_until(lambda: len(asyncio.all_tasks()) <= tasks_before, what=f"tasks back to {tasks_before}")
    gc.collect()
    peer_connections = [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection)]
    growth_mb = (process.memory_info().rss - rss_before) / 2**20
    print(f"\n50 connect/disconnect cycles: RSS growth {growth_mb:.1f} MiB, tasks {tasks_before} -> {len(asyncio.all_tasks())}")
    assert len(asyncio.all_tasks()) <= tasks_before
    assert peer_connections == []
    assert growth_mb < 100, f"RSS grew {growth_mb:.1f} MiB over 50 cycles"


async def test_sessions_that_never_connect_or_vanish_are_freed(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data", ice_connect_timeout_s=1.0)) as live:
        registry = live.services.registry
        (silent, silent_token), (gone, gone_token) = await live.schedule(), await live.schedule()

        # An offer whose sender never answers connectivity checks.
        pc, offer = await offer_sdp(AudioStreamTrack())
        await pc.close()
        assert (await post_offer(live, silent.id, silent_token, offer)).status_code == 201
        assert registry.media_sessions == 1
        await wait_until(lambda: registry.media_sessions == 0, timeout=5, what="unconnected session to expire")

        # A candidate that connects, then disappears without DELETE.
        publisher = await publish(live, gone.id, gone_token, [AudioStreamTrack()])
        await wait_until(lambda: registry.find_live(gone.id) is not None and registry.find_live(gone.id).media_connected, what="connected")
        await publisher.pc.close()
        await wait_until(lambda: registry.media_sessions == 0, timeout=40, what="vanished session to be freed")
        assert registry.live_interviews == 0
        assert (await live.interview_state(gone.id))["media"] is None
