"""WHIP (RFC 9725) media ingest: POST an offer, PATCH trickled candidates, DELETE to hang up."""

from __future__ import annotations

import logging
import re
import uuid

from aiortc.sdp import candidate_from_sdp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.domain.interview import CLOSED_STATUSES, Interview
from server.live.question_flow import InterviewFlowError
from server.live.sessions import SessionCapacityError
from server.rtc.ice import TrickleFragment, parse_trickle_fragment
from server.rtc.ice_restart import IceCredentials, IceRestartUnavailable, restart_ice
from server.rtc.media_session import MediaSession
from server.rtc.peers import OfferRejected, check_offer
from server.settings import IceServer
from server.web.auth import bearer_token, require_invite
from server.web.booking_api import refuse_outside_booked_time
from server.web.consent_api import require_consent
from server.web.context import Services, services_of
from server.web.problems import Problem

logger = logging.getLogger(__name__)

SDP_TYPE = "application/sdp"
TRICKLE_TYPE = "application/trickle-ice-sdpfrag"
_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> str:
    """Read at most `limit` bytes of UTF-8; a larger body is refused before it is all buffered."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "body_too_large", f"the body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem(413, "body_too_large", f"the body exceeds the limit of {limit} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "malformed_sdp", "the body is not UTF-8 text") from exc


def ice_server_links(servers: list[IceServer]) -> list[str]:
    """Link headers that hand the browser our STUN/TURN servers (RFC 9725 section 4.6)."""
    links = []
    for server in servers:
        for url in server.urls:
            link = f'<{url}>; rel="ice-server"'
            if server.username is not None and server.credential is not None:
                link += f'; username="{server.username}"; credential="{server.credential}"; credential-type="password"'
            links.append(link)
    return links


async def _open_interview(services: Services, interview_id: str) -> Interview:
    interview = await services.store.get_interview(interview_id)
    if interview is None:
        raise Problem(404, "interview_not_found", f"no interview {interview_id!r}")
    if interview.status in CLOSED_STATUSES:
        raise Problem(409, "interview_closed", f"the interview is {interview.status.value}")
    return interview


def _session_for(services: Services, request: Request) -> MediaSession:
    interview_id = request.path_params["interview_id"]
    require_invite(services.signer, bearer_token(request.headers), interview_id)
    session = services.registry.media_session(request.path_params["session_id"])
    if session is None or session.context.interview_id != interview_id:
        raise Problem(404, "session_not_found", "no such WHIP session (it may have ended)")
    return session


async def ice_servers(request: Request) -> Response:
    """The STUN/TURN servers the candidate's page configures before it connects (TURN with a time-limited
    credential): WHIP's Link headers come with the answer, after the browser has begun gathering candidates."""
    services = services_of(request)
    interview_id = request.path_params["interview_id"]
    require_invite(services.signer, bearer_token(request.headers), interview_id)
    servers = [s.model_dump(exclude_none=True) for s in services.ice_servers(interview_id)]
    return JSONResponse({"ice_servers": servers}, headers={"Cache-Control": "no-store"})


async def publish(request: Request) -> Response:
    services = services_of(request)
    interview_id = request.path_params["interview_id"]
    require_invite(services.signer, bearer_token(request.headers), interview_id)
    services.refuse_if_draining(interview_id)
    if _content_type(request) != SDP_TYPE:
        raise Problem(415, "unsupported_media_type", f"send the offer as {SDP_TYPE}")
    offer = await read_body(request, services.settings.max_sdp_bytes)
    try:
        check_offer(offer)
    except OfferRejected as exc:
        raise Problem(400 if exc.code == "malformed_sdp" else 422, exc.code, exc.detail) from exc
    interview = await _open_interview(services, interview_id)
    await refuse_outside_booked_time(services, interview)
    consent = await require_consent(services.store, interview_id)
    await services.refuse_if_live_elsewhere(interview_id)

    live = await services.registry.live_interview(interview)
    try:
        session, answer = await services.registry.open_media(live, offer, emotion=consent.items.emotion_analysis)
    except InterviewFlowError as exc:
        raise Problem(409, exc.code, exc.message) from exc
    except SessionCapacityError as exc:
        code, detail = (
            ("node_busy", "this node is carrying as many interviews as it can keep up with")
            if exc.busy
            else ("node_full", "this node carries its maximum of live sessions")
        )
        retry = str(services.settings.overload_retry_after_s)
        raise Problem(503, code, f"{detail}; retry after the time given", headers={"Retry-After": retry}) from exc
    except ValueError as exc:  # aiortc's own SDP and negotiation errors
        raise Problem(422, "negotiation_failed", f"the offer could not be negotiated: {exc}") from exc
    finally:
        live.release_if_idle()

    headers = {"Location": f"/api/v1/interviews/{interview_id}/whip/{session.id}", "ETag": session.ice_etag}
    response = Response(answer, status_code=201, media_type=SDP_TYPE, headers=headers)
    for link in ice_server_links(services.ice_servers(interview_id)):
        response.headers.append("Link", link)
    logger.info("interview %s: WHIP session %s opened", interview_id, session.id)
    return response


async def trickle(request: Request) -> Response:
    """PATCH: trickled candidates (204), or an ICE restart (200 with our new ICE credentials and candidates, and the new
    ICE session's entity-tag). RFC 9725 section 4.3: the request names the ICE session in If-Match (428 without, 412
    for an earlier one); "*" restarts ICE, as do new credentials."""
    services = services_of(request)
    session = _session_for(services, request)
    if _content_type(request) != TRICKLE_TYPE:
        raise Problem(415, "unsupported_media_type", f"send candidates as {TRICKLE_TYPE}")
    if_match = request.headers.get("if-match")
    if if_match is None:
        raise Problem(428, "precondition_required", "send the ICE session's entity-tag (the ETag of the WHIP answer) in If-Match")
    body = await read_body(request, services.settings.max_sdp_bytes)
    try:
        fragment = parse_trickle_fragment(body)
    except ValueError as exc:
        raise Problem(400, "malformed_sdpfrag", str(exc)) from exc
    if session.remote_ice_ufrag is None:
        remote = session.pc.remoteDescription
        found = _UFRAG.search(remote.sdp) if remote is not None else None
        session.remote_ice_ufrag = found.group(1) if found else None
    # Requests may arrive out of order: one naming an earlier ICE session is refused before anything else.
    if if_match.strip() != "*" and not etag_matches(if_match, session.ice_etag):
        raise Problem(412, "ice_session_changed", "If-Match names an earlier ICE session: ICE was restarted since")
    new_credentials = fragment.ice_ufrag is not None and fragment.ice_ufrag != session.remote_ice_ufrag
    if if_match.strip() == "*" or new_credentials:
        return await _restart_ice(services, session, fragment)
    accepted = await _add_candidates(services, session, fragment)
    logger.debug("session %s: %d of %d trickled candidates accepted", session.id, accepted, len(fragment.candidates))
    return Response(status_code=204)


def etag_matches(if_match: str, etag: str) -> bool:
    """RFC 9110 strong comparison against an If-Match list (a weak tag never matches)."""
    return any(tag.strip() == etag for tag in if_match.split(","))


async def _add_candidates(services: Services, session: MediaSession, fragment: TrickleFragment) -> int:
    policy = services.registry.candidate_policy
    accepted = 0
    for mid, mline_index, line in fragment.candidates:
        if not policy.allows_candidate_line(line):
            continue  # RFC 9725: a candidate we will not use is dropped silently
        try:
            candidate = candidate_from_sdp(line.removeprefix("candidate:"))
        except (AssertionError, ValueError, IndexError) as exc:
            raise Problem(400, "malformed_sdpfrag", f"bad candidate line: {line[:80]!r}") from exc
        candidate.sdpMid = mid
        candidate.sdpMLineIndex = mline_index
        await session.pc.addIceCandidate(candidate)
        accepted += 1
    if fragment.end_of_candidates:
        await session.pc.addIceCandidate(None)
    return accepted


async def _restart_ice(services: Services, session: MediaSession, fragment: TrickleFragment) -> Response:
    if not fragment.ice_ufrag or not fragment.ice_pwd:
        raise Problem(422, "ice_credentials_missing", "an ICE restart carries the new ice-ufrag and ice-pwd")
    try:
        restarted = restart_ice(session.pc, IceCredentials(fragment.ice_ufrag, fragment.ice_pwd))
    except IceRestartUnavailable as exc:
        raise Problem(409, "ice_restart_unavailable", str(exc)) from exc
    session.remote_ice_ufrag = fragment.ice_ufrag
    session.ice_etag = f'"{uuid.uuid4().hex}"'
    await _add_candidates(services, session, fragment)
    transceivers = session.pc.getTransceivers()
    mid = transceivers[0].mid if transceivers else "0"
    lines = [
        f"a=ice-ufrag:{restarted.local.ufrag}",
        f"a=ice-pwd:{restarted.local.pwd}",
        "m=audio 9 UDP/TLS/RTP/SAVPF 0",
        f"a=mid:{mid}",
        *(f"a={candidate}" for candidate in restarted.candidates),
        "a=end-of-candidates",
    ]
    logger.info("interview %s: session %s restarted ICE", session.context.interview_id, session.id)
    return Response("\r\n".join(lines) + "\r\n", status_code=200, media_type=TRICKLE_TYPE, headers={"ETag": session.ice_etag})


async def hang_up(request: Request) -> Response:
    services = services_of(request)
    session = _session_for(services, request)
    await services.registry.close_media(session, "closed")
    return Response(status_code=200)
