"""A WHIP publisher built on aiortc: how synthetic candidates (load tests, tests) join an interview."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence

import httpx
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCConfiguration

from server.domain.consent import CONSENT_TEXT_VERSION


async def give_consent(http: httpx.AsyncClient, interview_url: str, token: str, emotion_analysis: bool = True) -> None:
    """Agree to recording and AI scoring (and facial emotion analysis, where asked), as the page's consent step does.
    `interview_url`: .../api/v1/interviews/{id}."""
    response = await http.post(
        f"{interview_url}/consent",
        json={"items": {"recording": True, "ai_scoring": True, "emotion_analysis": emotion_analysis}, "text_version": CONSENT_TEXT_VERSION},
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code != 201:
        raise WhipRejected(response.status_code, response.json())


class WhipRejected(Exception):
    def __init__(self, status: int, problem: dict[str, object], retry_after_s: float | None = None) -> None:
        super().__init__(f"WHIP {status}: {problem.get('detail', problem)}")
        self.status = status
        self.problem = problem
        self.retry_after_s = retry_after_s  # what the server's Retry-After asked, if it said

    @property
    def node_busy(self) -> bool:
        """The node has no room now (strained or full): the same offer may be made again after `retry_after_s`."""
        return self.status == 503 and self.problem.get("code") in ("node_busy", "node_full")


def prefer_video_codec(pc: RTCPeerConnection, mime_type: str) -> None:
    """Offer only `mime_type` (and its RTX) on every video transceiver."""
    capabilities = RTCRtpSender.getCapabilities("video").codecs
    chosen = [c for c in capabilities if c.mimeType.lower() in (mime_type.lower(), "video/rtx")]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            transceiver.setCodecPreferences(chosen)


class WhipPublisher:
    """Publishes local tracks to an interview's WHIP endpoint and hangs up with DELETE."""

    def __init__(
        self, base_url: str, interview_id: str, token: str, http: httpx.AsyncClient, configuration: RTCConfiguration | None = None
    ) -> None:
        self.endpoint = f"{base_url.rstrip('/')}/api/v1/interviews/{interview_id}/whip"
        self.token = token
        self.http = http
        self.pc = RTCPeerConnection(configuration or RTCConfiguration(iceServers=[]))
        self.resource: str | None = None
        self.etag: str | None = None  # the ICE session's entity-tag: If-Match of every PATCH (RFC 9725 section 4.3.1)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def publish(self, tracks: Sequence[MediaStreamTrack], video_codec: str | None = None, *, consent: bool = False) -> str:
        """Offer `tracks`; with `consent` the candidate's consent goes first (the node takes no media without one)."""
        if consent:
            await give_consent(self.http, self.endpoint.removesuffix("/whip"), self.token)
        for track in tracks:
            self.pc.addTransceiver(track, direction="sendonly")
        if video_codec:
            prefer_video_codec(self.pc, video_codec)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        response = await self.http.post(
            self.endpoint,
            content=self.pc.localDescription.sdp,
            headers={**self.auth, "Content-Type": "application/sdp"},
        )
        if response.status_code != 201:
            try:
                problem = response.json()
            except json.JSONDecodeError:
                problem = {"detail": response.text}
            retry_after = response.headers.get("retry-after")
            raise WhipRejected(response.status_code, problem, float(retry_after) if retry_after and retry_after.isdigit() else None)
        self.resource = str(httpx.URL(self.endpoint).join(response.headers["location"]))
        self.etag = response.headers.get("etag")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
        return self.resource

    async def close(self) -> None:
        if self.resource is not None:
            resource, self.resource = self.resource, None
            with contextlib.suppress(httpx.HTTPError):
                await self.http.delete(resource, headers=self.auth)
        await self.pc.close()
