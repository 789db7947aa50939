"""A WHIP publisher built on aiortc: how synthetic candidates (load tests, tests) join an interview."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence

import httpx
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCConfiguration


class WhipRejected(Exception):
    def __init__(self, status: int, problem: dict[str, object]) -> None:
        super().__init__(f"WHIP {status}: {problem.get('detail', problem)}")
        self.status = status
        self.problem = problem


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

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def publish(self, tracks: Sequence[MediaStreamTrack], video_codec: str | None = None) -> str:
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
            raise WhipRejected(response.status_code, problem)
        self.resource = str(httpx.URL(self.endpoint).join(response.headers["location"]))
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
        return self.resource

    async def close(self) -> None:
        if self.resource is not None:
            resource, self.resource = self.resource, None
            with contextlib.suppress(httpx.HTTPError):
                await self.http.delete(resource, headers=self.auth)
        await self.pc.close()
