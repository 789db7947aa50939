"""Offer checking and answer creation for one receive-only aiortc peer connection."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiortc import RTCDtlsParameters, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

AUDIO_CODECS = frozenset({"opus"})
VIDEO_CODECS = frozenset({"vp8", "h264"})


class OfferRejected(ValueError):
    """The offer cannot be answered; `code` names why (malformed_sdp, no_audio, unsupported_codec)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def check_offer(sdp: str) -> SessionDescription:
    """Parse an SDP offer and make sure we can receive it: Opus audio, and VP8 or H.264 video if any."""
    if "m=" not in sdp or not sdp.lstrip().startswith("v="):
        raise OfferRejected("malformed_sdp", "the body is not an SDP offer (it must start with 'v=' and have m= lines)")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser signals bad input with asserts and assorted errors
        raise OfferRejected("malformed_sdp", f"the SDP offer could not be parsed: {exc!r}") from exc
    kinds = [m.kind for m in parsed.media]
    if "audio" not in kinds:
        raise OfferRejected("no_audio", "the offer has no audio section: the interview needs the microphone")
    for media in parsed.media:
        names = {codec.name.lower() for codec in media.rtp.codecs}
        wanted = AUDIO_CODECS if media.kind == "audio" else VIDEO_CODECS if media.kind == "video" else None
        if wanted is not None and not names & wanted:
            raise OfferRejected(
                "unsupported_codec",
                f"{media.kind} offers {sorted(names) or 'no codecs'}; supported: {sorted(wanted)}",
            )
        if media.kind in ("audio", "video") and (media.ice is None or not media.ice.usernameFragment):
            raise OfferRejected("malformed_sdp", f"the {media.kind} section has no ICE credentials")
        if media.kind in ("audio", "video"):
            _check_dtls(media.kind, media.dtls)
    mids = {media.rtp.muxId for media in parsed.media}
    for group in parsed.group:
        if missing := [mid for mid in group.items if mid not in mids]:
            raise OfferRejected("malformed_sdp", f"the {group.semantic} group names media that no section has: {missing}")
    return parsed


# Hex digest sizes of the fingerprint algorithms browsers use (RFC 8122), in bytes.
FINGERPRINT_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")


def _check_dtls(kind: str, dtls: RTCDtlsParameters | None) -> None:
    """DTLS needs a setup role and a well-formed certificate fingerprint; without them the negotiation would fail
    deep inside aiortc (a 500 once) or only when the handshake does, long after the 201."""
    if dtls is None or not dtls.fingerprints:
        raise OfferRejected("malformed_sdp", f"the {kind} section has no DTLS setup and fingerprint (a=setup, a=fingerprint)")
    known = [f for f in dtls.fingerprints if f.algorithm.lower() in FINGERPRINT_BYTES]  # others (sha-1) are ignored
    well_formed = [
        f for f in known if _FINGERPRINT.fullmatch(f.value) and len(f.value.split(":")) == FINGERPRINT_BYTES[f.algorithm.lower()]
    ]
    if not known or len(well_formed) != len(known):
        algorithms = "/".join(FINGERPRINT_BYTES)
        raise OfferRejected("malformed_sdp", f"the {kind} section needs a well-formed {algorithms} certificate fingerprint")


async def answer_offer(pc: RTCPeerConnection, offer_sdp: str, prepare: Callable[[RTCPeerConnection], object] | None = None) -> str:
    """Apply the offer and return our answer with all local candidates (aiortc does not trickle).

    `prepare` sees the connection once the offer has made its receivers, before anything can connect. An offer that
    passed `check_offer` can still be one aiortc cannot answer (a fuzzer found mids and bundles that leave a
    transceiver without a transport, and aiortc then fails on an attribute of None): that is the offer's fault, a
    ValueError (422), not a server error."""
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if prepare is not None:
            prepare(pc)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
    except (AttributeError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"the offer cannot be answered ({type(exc).__name__})") from exc
    return pc.localDescription.sdp


_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9-]+)/")


def add_video_bitrate_hints(sdp: str, start_kbps: int, max_kbps: int) -> str:
    """Tell Chromium to start video at `start_kbps` instead of ramping up from a low estimate, and every browser to
    send at most `max_kbps` (`b=AS`, RFC 3556; the receiver drops what goes over, `encoded_frames.py`).

    Against aiortc, Chromium otherwise sent 640x480 as 480x360 for half a minute.
    The x-google-* parameters are ignored by other browsers.
    """
    start_kbps = min(start_kbps, max_kbps)
    hint = f"x-google-start-bitrate={start_kbps};x-google-min-bitrate={start_kbps // 2};x-google-max-bitrate={max_kbps}"
    sections: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    out: list[str] = []
    for section in sections:
        out.extend(_hint_section(section, hint, max_kbps) if section and section[0].startswith("m=video") else section)
    return "\r\n".join(out) + "\r\n"


def _hint_section(lines: list[str], hint: str, max_kbps: int) -> list[str]:
    video_pts = {m.group(1) for line in lines if (m := _RTPMAP.match(line)) and m.group(2).lower() in VIDEO_CODECS}
    with_fmtp = {line[len("a=fmtp:") :].split(" ", 1)[0] for line in lines if line.startswith("a=fmtp:")} & video_pts
    result: list[str] = []
    for original in lines:
        line = original
        if line.startswith("a=fmtp:") and line[len("a=fmtp:") :].split(" ", 1)[0] in video_pts:
            line = f"{line};{hint}"
        result.append(line)
        if line.startswith("c="):  # b= follows the section's c= line (RFC 4566 5)
            result.append(f"b=AS:{max_kbps}")
        if (m := _RTPMAP.match(line)) and m.group(1) in video_pts and m.group(1) not in with_fmtp:
            result.append(f"a=fmtp:{m.group(1)} {hint}")
    return result
