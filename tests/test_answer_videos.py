"""Each answer's video as the candidate sent it, from a real aiortc publisher: one file a question, served with
range requests behind HR's key, playable, aligned with the interview's clock, erased with the interview."""

from __future__ import annotations

import io
import stat

import av
import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from loadtests.whip_client import WhipPublisher
from tests.conftest import API_KEY, LiveServer
from tests.helpers.waiting import wait_until
from tests.helpers.webrtc import CandidateSocket

pytestmark = pytest.mark.webrtc
HR = {"X-API-Key": API_KEY}


@pytest.mark.parametrize(("codec", "media_type"), [("video/VP8", "video/webm"), ("video/H264", "video/mp4")])
async def test_each_answer_is_kept_as_the_video_the_candidate_sent(live_server: LiveServer, codec: str, media_type: str) -> None:
    server = live_server
    interview, token = await server.schedule(questions=2)
    socket = await CandidateSocket.open(server.url, interview.id, token)
    publisher = WhipPublisher(server.url, interview.id, token, server.http)
    await publisher.publish([AudioStreamTrack(), VideoStreamTrack()], video_codec=codec)
    try:
        for question_id in ("q1", "q2"):
            await socket.wait_for(lambda m, q=question_id: m["type"] == "question" and m["question"]["id"] == q)
            session = server.services.registry.media_of(interview.id)
            assert session is not None
            passed = session.tap_counts().passed
            await wait_until(lambda s=session, p=passed: s.tap_counts().passed > p + 160, what="two seconds of answer")
            await socket.send(type="answer.done", question_id=question_id)
        await socket.wait_for(lambda m: m["type"] == "completed")
    finally:
        await publisher.close()
        await socket.close()

    base = f"{server.url}/api/v1/interviews/{interview.id}/recordings"

    async def answers() -> list[dict[str, object]]:
        listing = (await server.http.get(base, headers=HR)).json()["recordings"]
        return [r for r in listing if r["question_index"] is not None]

    await wait_until(lambda: server.services.registry.media_sessions == 0, what="session closed")
    recorded = await answers()
    assert [(r["question_index"], r["media_type"]) for r in recorded] == [(0, media_type), (1, media_type)]
    first, second = recorded
    # One after the other on the interview's clock: the second starts about where the first ends.
    assert float(first["starts_s"]) + 1.5 < float(second["starts_s"])  # type: ignore[arg-type]
    assert abs(float(first["starts_s"]) + float(first["seconds"]) - float(second["starts_s"])) < 1.0  # type: ignore[arg-type]
    folder = server.settings.data_dir / "recordings" / interview.id
    for answer in recorded:
        url = f"{server.url}{answer['url']}"
        assert stat.S_IMODE((folder / str(answer["name"])).stat().st_mode) == 0o600
        # A player seeks with range requests.
        part = await server.http.get(url, headers={**HR, "Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100, part.headers
        assert part.headers["content-range"].startswith("bytes 0-99/")
        whole = await server.http.get(url, headers=HR)
        assert whole.status_code == 200 and whole.headers["content-type"] == media_type
        assert whole.headers["cache-control"] == "private, no-store"
        with av.open(io.BytesIO(whole.content)) as container:
            pictures = list(container.decode(video=0))
        assert len(pictures) >= 20 and pictures[0].key_frame  # plays from its first frame, without re-encoding
        with av.open(io.BytesIO(whole.content)) as container:
            assert sum(frame.samples for frame in container.decode(audio=0)) > 48_000  # and its sound, over a second
        assert (await server.http.get(url)).status_code == 401

    assert (await server.http.delete(f"{server.url}/api/v1/interviews/{interview.id}", headers=HR)).status_code == 204
    assert not folder.exists()
