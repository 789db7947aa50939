"""A candidate whose network lets nothing through but a TURN server still gets into the interview: the page is given
the TURN servers with a time-limited credential (TURN REST), and a relay-only connection through a real coturn
carries the candidate's media to the node."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.mediastreams import AudioStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from loadtests.whip_client import WhipPublisher
from server.rtc.turn_credentials import turn_rest_credential
from tests.conftest import LiveServer, make_settings, serving
from tests.helpers.turn_server import TurnServer
from tests.helpers.waiting import wait_until
from tests.helpers.webrtc import CandidateSocket

SECRET = "turn-shared-secret-for-the-test-0123"


@pytest.fixture
def turn(tmp_path: Path) -> AsyncIterator[TurnServer]:
    server = TurnServer(tmp_path / "turn", SECRET)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def turn_node(tmp_path: Path, turn: TurnServer) -> AsyncIterator[LiveServer]:
    secret_file = tmp_path / "turn.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    settings = make_settings(tmp_path / "data", turn_urls=[turn.url], turn_secret_file=secret_file, turn_credential_ttl_s=600)
    async with serving(settings) as server:
        yield server


def test_a_turn_rest_credential_is_the_hmac_of_its_expiring_username() -> None:
    username, password = turn_rest_credential(b"secret", "interview-1", 3600, now=1_700_000_000)
    assert username == "1700003600:interview-1"
    assert password == base64.b64encode(hmac.new(b"secret", username.encode(), hashlib.sha1).digest()).decode()


async def test_a_relay_only_candidate_reaches_the_interview_through_coturn(turn_node: LiveServer, turn: TurnServer) -> None:
    interview, token = await turn_node.schedule(questions=1, mode="voice")
    auth = {"Authorization": f"Bearer {token}"}
    response = await turn_node.http.get(f"{turn_node.url}/api/v1/interviews/{interview.id}/ice-servers", headers=auth)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    (server,) = response.json()["ice_servers"]
    expires, _, user = server["username"].partition(":")
    assert server["urls"] == [turn.url] and user == interview.id and 590 <= int(expires) - time.time() <= 600
    assert (await turn_node.http.get(f"{turn_node.url}/api/v1/interviews/{interview.id}/ice-servers")).status_code == 401

    # The candidate's side may use nothing but the relay: no host or reflexive candidate is even offered.
    configuration = RTCConfiguration(
        iceServers=[RTCIceServer(urls=server["urls"], username=server["username"], credential=server["credential"])],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )
    socket = await CandidateSocket.open(turn_node.url, interview.id, token)
    publisher = WhipPublisher(turn_node.url, interview.id, token, turn_node.http, configuration)
    try:
        await publisher.publish([AudioStreamTrack()])
        offered = [line for line in publisher.pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")]
        assert offered and all(" typ relay " in line for line in offered), offered
        await socket.wait_for(lambda m: m["type"] == "question", timeout=20)  # the media connected: the interview began
        await socket.wait_for(lambda m: m["type"] == "levels", timeout=10)  # and the node hears it
        session = turn_node.services.registry.media_of(interview.id)
        assert session is not None and session.connected
        # coturn allocated the relay for this interview's credential (and refused the request without one first).
        allocated = f"user <{server['username']}>: incoming packet ALLOCATE processed, success"
        await wait_until(lambda: allocated in turn.log, timeout=5, what="coturn logs the allocation")
    finally:
        await publisher.close()
        await socket.close()


async def test_the_shipped_coturn_configuration_relays_to_no_loopback_or_private_address(tmp_path: Path) -> None:
    """deploy/turnserver.conf, as shipped (only ports, secret and log moved for the test): a credential holder
    cannot use the relay to reach addresses on the server's own networks, here the node on 127.0.0.1."""
    shipped = TurnServer(tmp_path / "shipped-turn", SECRET, config=Path(__file__).resolve().parent.parent / "deploy" / "turnserver.conf")
    shipped.start()
    secret_file = tmp_path / "turn.secret"
    secret_file.write_text(SECRET)
    settings = make_settings(tmp_path / "data", turn_urls=[shipped.url], turn_secret_file=secret_file)
    try:
        async with serving(settings) as node:
            interview, token = await node.schedule(questions=1, mode="voice")
            auth = {"Authorization": f"Bearer {token}"}
            (server,) = (await node.http.get(f"{node.url}/api/v1/interviews/{interview.id}/ice-servers", headers=auth)).json()[
                "ice_servers"
            ]
            configuration = RTCConfiguration(
                iceServers=[RTCIceServer(urls=server["urls"], username=server["username"], credential=server["credential"])],
                iceTransportPolicy=RTCIceTransportPolicy.RELAY,
            )
            publisher = WhipPublisher(node.url, interview.id, token, node.http, configuration)
            try:
                await publisher.publish([AudioStreamTrack()])
                # The allocation itself succeeds; sending to 127.0.0.1 through it does not.
                await wait_until(lambda: "ALLOCATE processed, success" in shipped.log, timeout=10, what="an allocation")
                await wait_until(lambda: "processed, error 403: Forbidden IP" in shipped.log, timeout=10, what="the peer refused")
                session = node.services.registry.media_of(interview.id)
                assert session is None or not session.connected
            finally:
                await publisher.close()
    finally:
        shipped.stop()
