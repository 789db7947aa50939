"""ICE candidate policy, trickle fragments, SDP offer checks and rewrites, invite tokens and settings."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from pathlib import Path

import jwt
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from server.domain.invites import InvalidInvite, InviteSigner
from server.rtc.ice import RemoteCandidatePolicy, parse_trickle_fragment
from server.rtc.peers import OfferRejected, add_video_bitrate_hints, check_offer
from server.settings import Settings

SECRET = "unit-test-secret-0123456789abcdef"


def candidate(address: str, transport: str = "udp", port: int = 50000, kind: str = "host") -> str:
    line = f"a=candidate:1 1 {transport} 2130706431 {address} {port} typ {kind}"
    return line + (" tcptype active" if transport == "tcp" else "")


# RemoteCandidatePolicy


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.1.20", "172.16.5.4", "127.0.0.1", "169.254.1.1", "::1", "fd00::2", "0.0.0.0"])
def test_default_policy_refuses_private_and_loopback_addresses(address: str) -> None:
    policy = RemoteCandidatePolicy()
    assert not policy.allows(address)
    assert not policy.allows_candidate_line(candidate(address))


def test_default_policy_refuses_mdns_names() -> None:
    policy = RemoteCandidatePolicy()
    assert not policy.allows("0b6e3e1c-8f0e-4c5e-9d0a-1f2e3d4c5b6a.local")
    assert not policy.allows_candidate_line(candidate("0b6e3e1c-8f0e-4c5e-9d0a-1f2e3d4c5b6a.local"))


def test_default_policy_accepts_public_udp_candidates() -> None:
    policy = RemoteCandidatePolicy()
    assert policy.allows("8.8.8.8")
    assert policy.allows("2001:4860:4860::8888")
    assert policy.allows_candidate_line(candidate("8.8.8.8"))
    assert policy.allows_candidate_line(candidate("8.8.8.8", kind="srflx").removeprefix("a="))  # without 'a='


def test_policy_refuses_tcp_candidates_even_to_public_addresses() -> None:
    assert not RemoteCandidatePolicy().allows_candidate_line(candidate("8.8.8.8", transport="tcp"))


def test_policy_refuses_truncated_candidate_lines() -> None:
    assert not RemoteCandidatePolicy().allows_candidate_line("a=candidate:1 1 udp 2130706431 8.8.8.8")


def test_policy_with_allowed_networks_accepts_only_those_networks() -> None:
    policy = RemoteCandidatePolicy((ipaddress.ip_network("127.0.0.0/8"),))
    assert policy.allows("127.0.0.1")
    assert policy.allows_candidate_line(candidate("127.0.0.1"))
    assert not policy.allows("10.0.0.1")
    assert not policy.allows("8.8.8.8")  # a list replaces the public default
    assert not policy.allows("::1")  # different IP version
    assert not policy.allows("x.local")


def test_filter_sdp_removes_only_refused_candidate_lines() -> None:
    sdp_lines = [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        candidate("8.8.8.8"),
        candidate("10.0.0.1"),
        candidate("abc.local"),
        candidate("1.1.1.1", transport="tcp"),
        candidate("127.0.0.1"),
        "a=end-of-candidates",
        "a=rtpmap:111 opus/48000/2",
    ]
    filtered, removed = RemoteCandidatePolicy().filter_sdp("\r\n".join(sdp_lines) + "\r\n")

    assert removed == 4
    assert filtered.split("\r\n")[:-1] == [line for line in sdp_lines if "candidate:" not in line or "8.8.8.8" in line]
    assert filtered.endswith("\r\n")

    loopback = RemoteCandidatePolicy((ipaddress.ip_network("127.0.0.0/8"),))
    filtered, removed = loopback.filter_sdp("\r\n".join(sdp_lines) + "\r\n")
    assert removed == 4
    assert [line for line in filtered.splitlines() if line.startswith("a=candidate:")] == [candidate("127.0.0.1")]


def test_filter_sdp_leaves_a_candidate_free_sdp_unchanged() -> None:
    sdp = "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
    assert RemoteCandidatePolicy().filter_sdp(sdp) == (sdp, 0)


# parse_trickle_fragment


def test_parse_trickle_fragment_reads_credentials_candidates_and_end() -> None:
    body = "\r\n".join(
        [
            "a=ice-ufrag:EsAw",
            "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1",
            "m=audio 9 RTP/AVP 0",
            "a=mid:0",
            "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0",
            "a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0",
            "m=video 9 RTP/AVP 0",
            "a=mid:1",
            "a=candidate:473322822 1 udp 1686052607 203.0.113.3 61766 typ srflx raddr 10.0.1.1 rport 61764",
            "a=end-of-candidates",
            "",
        ]
    )
    fragment = parse_trickle_fragment(body)

    assert fragment.ice_ufrag == "EsAw"
    assert fragment.ice_pwd == "P2uYro0UCOQ4zxjKXaWCBui1"
    assert fragment.candidates == [
        ("0", 0, "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0"),
        ("0", 0, "candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0"),
        ("1", 1, "candidate:473322822 1 udp 1686052607 203.0.113.3 61766 typ srflx raddr 10.0.1.1 rport 61764"),
    ]
    assert fragment.end_of_candidates


def test_parse_trickle_fragment_without_m_lines_puts_candidates_on_the_first_section() -> None:
    fragment = parse_trickle_fragment("a=candidate:1 1 udp 1 8.8.8.8 9 typ host\n")
    assert fragment.candidates == [(None, 0, "candidate:1 1 udp 1 8.8.8.8 9 typ host")]
    assert fragment.ice_ufrag is None and fragment.ice_pwd is None
    assert not fragment.end_of_candidates


def test_parse_trickle_fragment_accepts_an_empty_body() -> None:
    fragment = parse_trickle_fragment("")
    assert fragment.candidates == [] and not fragment.end_of_candidates


@pytest.mark.parametrize("body", ["hello world", '{"candidate": "x"}', "a=ice-ufrag:x\ngarbage", "a"])
def test_parse_trickle_fragment_raises_on_garbage(body: str) -> None:
    with pytest.raises(ValueError, match="not an SDP line"):
        parse_trickle_fragment(body)


# SDP offers and answers from real aiortc peer connections


def quiet_pc() -> RTCPeerConnection:
    # An explicit empty server list, or aiortc would try a public STUN server.
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def make_offer(audio: bool = True, video: bool = True, audio_codec: str | None = None) -> str:
    pc = quiet_pc()
    try:
        if audio:
            transceiver = pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
            if audio_codec is not None:
                codecs = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == audio_codec]
                transceiver.setCodecPreferences(codecs)
        if video:
            pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


async def make_answer() -> str:
    offer = await make_offer()
    pc = quiet_pc()
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


def sections(sdp: str) -> dict[str, list[str]]:
    """Lines of each m-section, keyed by kind."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            current = out.setdefault(line[2:].split()[0], [])
        if current is not None:
            current.append(line)
    return out


def payload_types(lines: list[str], codec: str) -> list[str]:
    return [m.group(1) for line in lines if (m := re.match(rf"a=rtpmap:(\d+) {codec}/", line, re.IGNORECASE))]


def fmtp(lines: list[str], pt: str) -> list[str]:
    return [line for line in lines if line.startswith(f"a=fmtp:{pt} ")]


async def test_check_offer_accepts_a_normal_aiortc_offer() -> None:
    parsed = check_offer(await make_offer())
    assert [m.kind for m in parsed.media] == ["audio", "video"]
    assert all(m.ice.usernameFragment for m in parsed.media)


async def test_check_offer_accepts_an_audio_only_offer() -> None:
    parsed = check_offer(await make_offer(video=False))
    assert [m.kind for m in parsed.media] == ["audio"]


@pytest.mark.parametrize("body", ["hello", '{"sdp": "v=0"}', "", "m=audio 9 RTP/AVP 0\r\nv=0\r\n"])
def test_check_offer_rejects_text_that_is_not_sdp(body: str) -> None:
    with pytest.raises(OfferRejected) as info:
        check_offer(body)
    assert info.value.code == "malformed_sdp"
    assert "SDP" in info.value.detail


async def test_check_offer_rejects_an_offer_without_audio() -> None:
    offer = await make_offer(audio=False)
    assert "m=audio" not in offer and "m=video" in offer
    with pytest.raises(OfferRejected) as info:
        check_offer(offer)
    assert info.value.code == "no_audio"


async def test_check_offer_rejects_a_pcmu_only_audio_offer() -> None:
    offer = await make_offer(audio_codec="audio/PCMU")
    audio = sections(offer)["audio"]
    assert payload_types(audio, "PCMU") and not payload_types(audio, "opus")
    with pytest.raises(OfferRejected) as info:
        check_offer(offer)
    assert info.value.code == "unsupported_codec"
    assert "pcmu" in info.value.detail and "opus" in info.value.detail


async def test_check_offer_rejects_a_section_without_ice_credentials() -> None:
    offer = "\r\n".join(line for line in (await make_offer()).splitlines() if not line.startswith("a=ice-ufrag:"))
    with pytest.raises(OfferRejected) as info:
        check_offer(offer + "\r\n")
    assert info.value.code == "malformed_sdp"
    assert "ICE" in info.value.detail


async def test_bitrate_hints_extend_existing_h264_fmtp_lines() -> None:
    answer = await make_answer()
    video = sections(add_video_bitrate_hints(answer, 1500, 2500))["video"]
    original = sections(answer)["video"]

    h264 = payload_types(video, "H264")
    assert h264, "aiortc answers with H.264 payloads"
    for pt in h264:
        before, after = fmtp(original, pt), fmtp(video, pt)
        assert len(before) == 1 and "profile-level-id" in before[0]
        assert after == [f"{before[0]};x-google-start-bitrate=1500;x-google-min-bitrate=750;x-google-max-bitrate=2500"]


async def test_bitrate_hints_add_an_fmtp_line_for_vp8() -> None:
    answer = await make_answer()
    original = sections(answer)["video"]
    video = sections(add_video_bitrate_hints(answer, 2000, 2500))["video"]

    (vp8,) = payload_types(video, "VP8")
    assert fmtp(original, vp8) == []
    assert fmtp(video, vp8) == [f"a=fmtp:{vp8} x-google-start-bitrate=2000;x-google-min-bitrate=1000;x-google-max-bitrate=2500"]
    # The new line sits right after the codec's rtpmap line.
    rtpmap_index = video.index(next(line for line in video if line.startswith(f"a=rtpmap:{vp8} ")))
    assert video[rtpmap_index + 1] == fmtp(video, vp8)[0]


async def test_bitrate_hints_leave_audio_and_rtx_alone() -> None:
    answer = await make_answer()
    hinted = add_video_bitrate_hints(answer, 1500, 2500)

    assert sections(hinted)["audio"] == sections(answer)["audio"]
    video = sections(hinted)["video"]
    for pt in payload_types(video, "rtx"):
        (line,) = fmtp(video, pt)
        assert "x-google" not in line and "apt=" in line
    # Exactly one hint per VP8/H.264 payload, nothing else changed.
    hinted_lines = [line for line in hinted.splitlines() if "x-google-start-bitrate" in line]
    assert len(hinted_lines) == len(payload_types(video, "VP8")) + len(payload_types(video, "H264"))
    stripped = [line.split(";x-google")[0] for line in hinted.splitlines() if not re.match(r"a=fmtp:\d+ x-google|b=AS:", line)]
    assert stripped == answer.splitlines()


async def test_the_answer_asks_every_browser_to_keep_video_under_the_limit() -> None:
    """b=AS (RFC 3556) in the video section, after its c= line; the start bitrate never above the limit."""
    video = sections(add_video_bitrate_hints(await make_answer(), 3000, 1200))["video"]
    (connection,) = [i for i, line in enumerate(video) if line.startswith("c=")]
    assert video[connection + 1] == "b=AS:1200"
    assert all("x-google-start-bitrate=1200;" in line for line in video if "x-google" in line)


async def test_bitrate_hinted_answer_is_still_accepted_by_aiortc() -> None:
    offer_pc, answer_pc = quiet_pc(), quiet_pc()
    try:
        offer_pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        offer_pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await offer_pc.setLocalDescription(await offer_pc.createOffer())
        await answer_pc.setRemoteDescription(offer_pc.localDescription)
        await answer_pc.setLocalDescription(await answer_pc.createAnswer())
        hinted = add_video_bitrate_hints(answer_pc.localDescription.sdp, 1500, 2500)
        await offer_pc.setRemoteDescription(RTCSessionDescription(sdp=hinted, type="answer"))
        assert offer_pc.remoteDescription is not None
        assert "x-google-start-bitrate=1500" in offer_pc.remoteDescription.sdp
    finally:
        await offer_pc.close()
        await answer_pc.close()


async def test_default_policy_strips_aiortc_non_public_host_candidates() -> None:
    offer = await make_offer()
    candidates = [line for line in offer.splitlines() if line.startswith("a=candidate:")]
    filtered, removed = RemoteCandidatePolicy().filter_sdp(offer)
    kept = [line for line in filtered.splitlines() if line.startswith("a=candidate:")]
    refused = [line for line in candidates if not ipaddress.ip_address(line.split()[4]).is_global]

    assert removed == len(refused)
    assert kept == [line for line in candidates if line not in refused]
    assert len(filtered.splitlines()) == len(offer.splitlines()) - removed
    check_offer(filtered)  # still a valid offer


# InviteSigner


def test_invite_round_trip_returns_the_interview_and_expiry() -> None:
    signer = InviteSigner(SECRET)
    expires_at = int(time.time()) + 3600
    claims = signer.verify(signer.issue("interview-42", expires_at))
    assert claims.interview_id == "interview-42"
    assert claims.expires_at == expires_at


def test_expired_invite_is_refused_as_expired() -> None:
    signer = InviteSigner(SECRET)
    token = signer.issue("interview-42", int(time.time()) - 10)
    with pytest.raises(InvalidInvite) as info:
        signer.verify(token)
    assert info.value.reason == "invite has expired"


def test_tampered_invite_is_refused() -> None:
    signer = InviteSigner(SECRET)
    token = signer.issue("interview-42", int(time.time()) + 3600)
    header, payload, signature = token.split(".")
    # Swap in claims for another interview, keeping the original signature.
    forged_claims = jwt.encode({"sub": "interview-43", "aud": "interview-invite", "exp": int(time.time()) + 3600}, "x" * 32)
    forged = ".".join([header, forged_claims.split(".")[1], signature])
    flipped = ".".join([header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])
    for bad in (forged, flipped):
        with pytest.raises(InvalidInvite) as info:
            signer.verify(bad)
        assert info.value.reason == "invite token is invalid"


def test_invite_signed_with_another_secret_is_refused() -> None:
    token = InviteSigner("another-secret-0123456789abcdefgh").issue("interview-42", int(time.time()) + 3600)
    with pytest.raises(InvalidInvite) as info:
        InviteSigner(SECRET).verify(token)
    assert info.value.reason == "invite token is invalid"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "i", "aud": "some-other-audience"},  # a JWT for something else
        {"aud": "interview-invite"},  # no subject
    ],
)
def test_invite_with_wrong_audience_or_missing_claims_is_refused(claims: dict) -> None:
    token = jwt.encode({**claims, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidInvite) as info:
        InviteSigner(SECRET).verify(token)
    assert info.value.reason == "invite token is invalid"


def test_unsigned_invite_is_refused() -> None:
    token = jwt.encode({"sub": "i", "aud": "interview-invite", "exp": int(time.time()) + 3600}, None, algorithm="none")
    with pytest.raises(InvalidInvite):
        InviteSigner(SECRET).verify(token)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_malformed_invite_is_refused(token: str) -> None:
    with pytest.raises(InvalidInvite) as info:
        InviteSigner(SECRET).verify(token)
    assert info.value.reason == "invite token is invalid"


def test_invite_signer_refuses_a_short_secret() -> None:
    with pytest.raises(ValueError):
        InviteSigner("too-short")


# Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("SECRET_KEY", "API_KEYS", "ICE_SERVERS", "ICE_ALLOWED_NETWORKS", "ICE_HOST_ADDRESSES", "DATA_DIR", "TENANTS"):
        monkeypatch.delenv(f"INTERVIEW_{name}", raising=False)
    return monkeypatch


def test_settings_parse_comma_separated_networks_and_api_keys(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("INTERVIEW_ICE_ALLOWED_NETWORKS", "127.0.0.0/8, 10.0.0.0/8")
    clean_env.setenv("INTERVIEW_API_KEYS", "key-a-0123456789abcdef,key-b-0123456789abcdef")
    clean_env.setenv("INTERVIEW_ICE_HOST_ADDRESSES", "127.0.0.1")
    settings = Settings(data_dir=tmp_path)

    assert settings.ice_allowed_networks == [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8")]
    assert settings.hr_api_keys() == {"key-a-0123456789abcdef": "default", "key-b-0123456789abcdef": "default"}
    assert settings.ice_host_addresses == ["127.0.0.1"]
    assert "key-a" not in repr(settings.api_keys)  # secrets stay masked
    assert not (tmp_path / "api_key").exists()  # configured keys mean none is generated


def test_tenants_come_from_json_each_with_its_keys(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    k1, k2, k3 = (f"tenant-key-{n}-0123456789abcdef" for n in (1, 2, 3))
    clean_env.setenv("INTERVIEW_TENANTS", json.dumps({"acme": [k1, k2], "globex": [k3]}))
    settings = Settings(data_dir=tmp_path)
    assert settings.hr_api_keys() == {k1: "acme", k2: "acme", k3: "globex"}
    assert k1 not in repr(settings.tenants)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INTERVIEW_API_KEYS", "x"),
        ("INTERVIEW_OPERATOR_KEYS", "short-key"),
        ("INTERVIEW_TENANTS", '{"acme": ["k"]}'),
        ("INTERVIEW_TENANTS", '{" ": ["tenant-key-0123456789abcdef"]}'),
    ],
)
def test_short_keys_and_nameless_tenants_are_refused_at_start(clean_env: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValueError, match=r"shorter than 16|needs a name"):
        Settings(data_dir=tmp_path)


def test_settings_parse_ice_servers_json_with_a_single_url_string(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(
        "INTERVIEW_ICE_SERVERS",
        json.dumps(
            [
                {"urls": "stun:stun.example.org:3478"},
                {"urls": ["turn:turn.example.org:3478?transport=udp"], "username": "u", "credential": "c"},
            ]
        ),
    )
    servers = Settings().ice_servers
    assert [s.urls for s in servers] == [["stun:stun.example.org:3478"], ["turn:turn.example.org:3478?transport=udp"]]
    assert (servers[1].username, servers[1].credential) == ("u", "c")
    assert servers[0].username is None


def test_settings_refuse_an_invalid_network(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("INTERVIEW_ICE_ALLOWED_NETWORKS", "127.0.0.0/8,not-a-network")
    with pytest.raises(ValueError):
        Settings()


def test_signing_key_is_generated_once_and_kept_in_data_dir(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Settings(data_dir=data_dir).signing_key()
    second = Settings(data_dir=data_dir).signing_key()

    assert first == second
    assert len(first) >= 32
    key_file = data_dir / "secret_key"
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o077 == 0  # readable by the owner only
    assert Settings(data_dir=tmp_path / "other").signing_key() != first
    InviteSigner(first)  # long enough to sign invites


def test_configured_secret_key_wins_over_the_data_dir(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("INTERVIEW_SECRET_KEY", SECRET)
    assert Settings(data_dir=tmp_path).signing_key() == SECRET
    assert not (tmp_path / "secret_key").exists()
