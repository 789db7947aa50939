"""ICE restarts of a live WHIP session (RFC 9725 section 4.3.2): new ICE credentials on both sides, the same DTLS
association and media, so a candidate whose phone moves from Wi-Fi to mobile data keeps the interview going.

aiortc has no API for it, so this reaches its ICE agent (aioice's `Connection`, one per bundled transport) and does
what RFC 8445 asks of an ICE restart on the controlled side: new local ufrag and password, the peer's new ones, the
previous remote candidates dropped (RFC 9725: replaced by the new set), the pairs not carrying media discarded. The
nominated pair keeps carrying media until the browser, which controls the checks, nominates one under the new
credentials; our answers to its checks and our consent checks (RFC 7675) use the new credentials from the moment
this returns. A restart that then fails leaves the media where it was until consent expires, as the RFC allows.
The DTLS association and SRTP keys are untouched: WHIP renegotiates nothing but ICE.
"""

from __future__ import annotations

from dataclasses import dataclass

from aioice import Candidate, Connection
from aioice.utils import random_string
from aiortc import RTCPeerConnection

UFRAG_LENGTH = 8  # RFC 8839: at least 24 bits of randomness
PWD_LENGTH = 24  # at least 128 bits


@dataclass(frozen=True)
class IceCredentials:
    ufrag: str
    pwd: str


@dataclass(frozen=True)
class RestartedIce:
    """What the 200 answer to the restart carries: our new credentials and candidates."""

    local: IceCredentials
    candidates: list[str]  # "candidate:..." lines, as SDP carries them


class IceRestartUnavailable(RuntimeError):
    """The session's ICE agent is not there to restart (closed, or never connected)."""


def ice_connections(pc: RTCPeerConnection) -> list[Connection]:
    """The ICE agents behind `pc`'s transceivers (with max-bundle, one)."""
    connections: list[Connection] = []
    for transceiver in pc.getTransceivers():
        ice = transceiver.receiver.transport.transport
        connection = getattr(ice, "_connection", None)
        if isinstance(connection, Connection) and connection not in connections:
            connections.append(connection)
    return connections


def restart_ice(pc: RTCPeerConnection, remote: IceCredentials) -> RestartedIce:
    """Switch `pc`'s ICE to the peer's new credentials and fresh ones of ours; the new remote candidates are added
    afterwards like trickled ones (`addIceCandidate`)."""
    connections = ice_connections(pc)
    if not connections or pc.connectionState in ("closed", "failed"):
        raise IceRestartUnavailable("the session's ICE agent has closed")
    local = IceCredentials(random_string(UFRAG_LENGTH), random_string(PWD_LENGTH))
    candidates: list[str] = []
    for connection in connections:
        _restart(connection, local, remote)
        candidates += [f"candidate:{c.to_sdp()}" for c in connection.local_candidates]
    return RestartedIce(local, candidates)


def _restart(connection: Connection, local: IceCredentials, remote: IceCredentials) -> None:
    carrying = set(connection._nominated.values())
    for pair in list(connection._check_list):
        if pair not in carrying:
            if pair.task is not None:
                pair.task.cancel()
            connection._check_list.remove(pair)
    kept: list[Candidate] = [pair.remote_candidate for pair in carrying]
    connection._remote_candidates = kept
    connection._remote_candidates_end = False
    connection._local_username = local.ufrag
    connection._local_password = local.pwd
    connection.remote_username = remote.ufrag
    connection.remote_password = remote.pwd
