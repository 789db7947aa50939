"""Outbound webhooks to a real receiver: Standard Webhooks signatures, retries with the same id, Retry-After, 410, dead letters."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from websockets.asyncio.client import connect

from hrms_bridge.dispatcher import signature_header
from server.storage.webhook_deliveries import MAX_ENDPOINTS, new_secret
from tests.conftest import API_KEY, LiveServer, free_port, make_settings, serving
from tests.helpers.network import routes_beyond_loopback
from tests.helpers.tls import self_signed
from tests.helpers.waiting import eventually, sender_settled
from tests.helpers.webhook_receiver import Receiver, receiving

HR = {"X-API-Key": API_KEY}


@pytest.fixture
async def server(tmp_path: Path, store_settings: dict[str, object]) -> AsyncIterator[LiveServer]:
    """On each interview store (SQLite, Redis)."""
    settings = make_settings(
        tmp_path / "data",
        webhook_allow_http=True,
        webhook_allow_private_addresses=True,
        webhook_retry_schedule_s=[0.2, 0.2, 0.2],
        **store_settings,
    )
    async with serving(settings) as live:
        yield live


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving(Receiver(free_port())) as running:
        yield running


async def register(server: LiveServer, url: str, **spec: Any) -> dict[str, Any]:
    response = await server.http.post(f"{server.url}/api/v1/webhooks/endpoints", json={"url": url, **spec}, headers=HR)
    assert response.status_code == 201, response.text
    return response.json()


async def deliveries(server: LiveServer, **query: str) -> list[dict[str, Any]]:
    response = await server.http.get(f"{server.url}/api/v1/webhooks/deliveries", params=query, headers=HR)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


async def test_events_are_signed_so_the_standard_webhooks_library_verifies_them_also_across_a_rotation(
    server: LiveServer, receiver: Receiver
) -> None:
    endpoint = await register(server, receiver.url)
    assert (
        endpoint["secret"].startswith("whsec_")
        and "secret" not in (await server.http.get(f"{server.url}/api/v1/webhooks/endpoints", headers=HR)).json()["endpoints"][0]
    )
    interview, _ = await server.schedule()
    (first,) = await receiver.wait_for(lambda r: len(r) == 1)
    event = Webhook(endpoint["secret"]).verify(first.body, first.headers)
    assert event["type"] == "interview.scheduled" and event["data"]["interview_id"] == interview.id
    assert first.id.startswith("msg_") and event["timestamp"].endswith("Z")

    rotated = (await server.http.post(f"{server.url}/api/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret", headers=HR)).json()
    await server.schedule()
    second = (await receiver.wait_for(lambda r: len(r) == 2))[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        assert Webhook(secret).verify(second.body, second.headers)["type"] == "interview.scheduled"
    tampered = second.body.replace(b"interview.scheduled", b"interview.cancelled")
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(rotated["secret"]).verify(tampered, second.headers)

    # The receiver has switched: the old secret is retired and signs nothing more.
    retired = await server.http.delete(f"{server.url}/api/v1/webhooks/endpoints/{endpoint['id']}/previous-secrets", headers=HR)
    assert retired.status_code == 200 and retired.json()["secrets_retired"] == 1 and "secret" not in retired.json()
    await server.schedule()
    third = (await receiver.wait_for(lambda r: len(r) == 3))[2]
    assert len(third.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(rotated["secret"]).verify(third.body, third.headers)["type"] == "interview.scheduled"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(endpoint["secret"]).verify(third.body, third.headers)


async def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_try_with_the_same_id(server: LiveServer, receiver: Receiver) -> None:
    receiver.responses = [(500, {}), (502, {})]
    await register(server, receiver.url)
    await server.schedule()
    requests = await receiver.wait_for(lambda r: len(r) == 3)
    assert len({r.id for r in requests}) == 1 and len({r.body for r in requests}) == 1
    await sender_settled(server.services.dispatcher)
    assert len(receiver.requests) == 3, "a delivered event is not sent again"
    (delivery,) = await deliveries(server)
    assert delivery["status"] == "delivered" and [a["status_code"] for a in delivery["history"]] == [500, 502, 204]
    metrics = (await server.http.get(f"{server.url}/metrics")).text
    assert 'interview_webhook_attempts_total{outcome="failed"} 2.0' in metrics
    assert 'interview_webhook_attempts_total{outcome="delivered"} 1.0' in metrics


async def test_retry_after_is_honoured(server: LiveServer, receiver: Receiver) -> None:
    receiver.responses = [(503, {"Retry-After": "2"})]
    await register(server, receiver.url)
    await server.schedule()
    first, second = await receiver.wait_for(lambda r: len(r) == 2)
    assert second.at - first.at >= 1.9, "the schedule says 0.2 s, the receiver asked for 2 s"
    assert first.id == second.id


async def test_410_disables_the_endpoint_until_hr_enables_it_and_replays(server: LiveServer, receiver: Receiver) -> None:
    receiver.responses = [(410, {})]
    endpoint = await register(server, receiver.url)
    await server.schedule()
    await receiver.wait_for(lambda r: len(r) == 1)

    async def disabled_for_its_410() -> bool:
        listed = (await server.http.get(f"{server.url}/api/v1/webhooks/endpoints", headers=HR)).json()["endpoints"][0]
        return listed["enabled"] is False and "410" in listed["disabled_reason"]

    await eventually(disabled_for_its_410, what="the endpoint disabled")
    missed, _ = await server.schedule()  # a disabled endpoint gets nothing new, but its delivery is kept, dead

    async def both_dead() -> bool:
        return len(await deliveries(server, status="dead")) == 2

    await eventually(both_dead, what="the missed event's delivery in the dead letters")
    await sender_settled(server.services.dispatcher)
    assert len(receiver.requests) == 1
    dead = {d["last_status"]: d for d in await deliveries(server, status="dead")}
    assert dead[None]["attempts"] == 0 and "disabled" in dead[None]["last_error"]

    await server.http.post(f"{server.url}/api/v1/webhooks/endpoints/{endpoint['id']}/enable", headers=HR)
    for letter in (dead[410], dead[None]):  # what it returned 410 for, and what it missed while disabled
        replayed = await server.http.post(f"{server.url}/api/v1/webhooks/deliveries/{letter['id']}/replay", headers=HR)
        assert replayed.status_code == 202
    requests = await receiver.wait_for(lambda r: len(r) == 3)
    assert sorted(r.id for r in requests[1:]) == sorted([requests[0].id, dead[None]["event_id"]])
    assert missed.id in {r.event["data"]["interview_id"] for r in requests[1:]}


async def test_a_delivery_that_keeps_failing_goes_to_the_dead_letters_and_can_be_replayed(server: LiveServer, receiver: Receiver) -> None:
    receiver.then = 500
    await register(server, receiver.url)
    await server.schedule()
    await receiver.wait_for(lambda r: len(r) == 4)  # the first try and three retries
    await sender_settled(server.services.dispatcher)  # the last attempt recorded
    (dead,) = await deliveries(server, status="dead")
    assert dead["attempts"] == 4 and [a["status_code"] for a in dead["history"]] == [500] * 4
    receiver.then = 200
    assert (await server.http.post(f"{server.url}/api/v1/webhooks/deliveries/{dead['id']}/replay", headers=HR)).status_code == 202
    requests = await receiver.wait_for(lambda r: len(r) == 5)
    assert requests[-1].id == dead["event_id"]
    assert (await deliveries(server, event_id=dead["event_id"]))[0]["status"] == "delivered"
    missing = await server.http.post(f"{server.url}/api/v1/webhooks/deliveries/dlv_nope/replay", headers=HR)
    assert missing.status_code == 404


async def test_a_completed_text_interview_sends_started_completed_and_its_report(server: LiveServer, receiver: Receiver) -> None:
    await register(server, receiver.url, event_types=["interview.started", "interview.completed", "report.ready"])
    interview, token = await server.schedule(questions=1, mode="text")
    url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview.id}?token={token}"
    async with connect(url) as ws:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": "q1", "text": "I would add an index."}))
        await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": "q1"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "completed":
            pass
    requests = await receiver.wait_for(lambda r: len(r) == 3)
    # Events carry no delivery order (README: order by timestamp); two written a moment apart may arrive either way.
    sent = {r.event["type"]: r.event for r in requests}
    assert sorted(sent) == ["interview.completed", "interview.started", "report.ready"]
    assert sent["interview.started"]["timestamp"] <= sent["interview.completed"]["timestamp"] <= sent["report.ready"]["timestamp"]
    stored = (await server.http.get(f"{server.url}/api/v1/interviews/{interview.id}/report", headers=HR)).json()["report"]
    data = sent["report.ready"]["data"]
    assert data["report"] == stored and data["report_url"].endswith(f"/api/v1/interviews/{interview.id}/report")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hr.example.com/hooks", "must use https"),
        ("https://127.0.0.1/hooks", "non-public"),
        ("https://10.1.2.3/hooks", "non-public"),
        ("https://[::1]/hooks", "non-public"),
        ("https://[::ffff:127.0.0.1]/hooks", "non-public"),  # IPv4-mapped
        ("https://[::ffff:0:a00:1]/hooks", "non-public"),  # IPv4-translated (SIIT)
        ("https://[::127.0.0.1]/hooks", "non-public"),  # IPv4-compatible
        ("https://[64:ff9b::7f00:1]/hooks", "non-public"),  # NAT64, well-known prefix, to 127.0.0.1
        ("https://[64:ff9b::a9fe:a9fe]/hooks", "non-public"),  # NAT64 to the cloud metadata address 169.254.169.254
        ("https://[64:ff9b:1::a00:1]/hooks", "non-public"),  # NAT64, an operator's local-use prefix
        ("https://[2002:a00:1::1]/hooks", "non-public"),  # 6to4 of 10.0.0.1
        ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hooks", "non-public"),  # Teredo to 127.0.0.1
        ("https://user:pw@hr.example.com/hooks", "credentials"),
        ("ftp://hr.example.com/hooks", "not an absolute http(s) URL"),
    ],
)
async def test_endpoints_that_would_reach_internal_networks_are_refused(tmp_path: Path, url: str, message: str) -> None:
    async with serving(make_settings(tmp_path / "data")) as server:
        response = await server.http.post(f"{server.url}/api/v1/webhooks/endpoints", json={"url": url}, headers=HR)
        assert response.status_code == 422 and message in response.json()["detail"], response.text


async def test_a_name_that_rebinds_to_loopback_after_the_check_never_gets_a_delivery(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the attacker's name answers a public address twice (to the endpoint's registration and to the
    next lookup), then 127.0.0.1. A sender that checks one answer and connects by another posts into loopback."""
    if beyond := routes_beyond_loopback():
        pytest.skip(f"connects to a public address: runs only in the test namespace (routes via {', '.join(beyond)})")
    public = iter(["93.184.215.14", "93.184.215.14"])
    resolve = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host in ("hooks.rebind.test", b"hooks.rebind.test"):
            return resolve(next(public, "127.0.0.1"), *args, **kwargs)
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings = make_settings(tmp_path / "data", webhook_allow_http=True, webhook_retry_schedule_s=[0.1, 0.1, 0.1])
    async with serving(settings) as server:
        await register(server, f"http://hooks.rebind.test:{receiver.port}/hooks")
        await server.schedule()

        async def dead_lettered() -> list[dict[str, Any]]:
            return await deliveries(server, status="dead")

        await eventually(dead_lettered, what="the delivery to give up")
        await sender_settled(server.services.dispatcher)
        (dead,) = await dead_lettered()
    assert receiver.requests == [], "the signed payload reached loopback"
    errors = [a["error"] for a in dead["history"]]
    assert errors[0].startswith("ConnectError"), "the first attempt went to the public address it checked, unreachable here"
    assert all("refused destination" in e and "127.0.0.1" in e for e in errors[1:]), errors


async def test_a_receiver_whose_certificate_no_trusted_authority_signed_never_gets_the_payload(tmp_path: Path) -> None:
    """An https endpoint that answers with a self-signed certificate (a man in the middle would): the TLS handshake
    fails on every attempt, nothing of the event is written to the connection, and the delivery ends dead with why."""
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            requests.append(await reader.read(65536))  # only reached if the sender accepted the certificate
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (ssl.SSLError, ConnectionError):
            pass
        finally:
            writer.close()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(tmp_path, "127.0.0.1"))
    tls = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = tls.sockets[0].getsockname()[1]
    settings = make_settings(tmp_path / "data", webhook_allow_private_addresses=True, webhook_retry_schedule_s=[0.1, 0.1])
    async with tls, serving(settings) as server:
        await register(server, f"https://127.0.0.1:{port}/hooks")
        await server.schedule()

        async def dead_lettered() -> list[dict[str, Any]]:
            return await deliveries(server, status="dead")

        await eventually(dead_lettered, what="the delivery to give up")
        (dead,) = await dead_lettered()
    assert [r for r in requests if r] == [], "the signed payload went to a certificate nobody vouches for"
    assert len(dead["history"]) == 3 and all("certificate verify failed" in a["error"] for a in dead["history"]), dead["history"]


async def test_bad_endpoint_payloads_get_field_errors(server: LiveServer) -> None:
    response = await server.http.post(
        f"{server.url}/api/v1/webhooks/endpoints", json={"url": "https://x.example", "event_types": ["nope"], "secret": "plain"}, headers=HR
    )
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {("event_types", 0), ("secret",)}
    unauthorised = await server.http.post(f"{server.url}/api/v1/webhooks/endpoints", json={"url": "https://x.example"})
    assert unauthorised.status_code == 401


async def test_a_tenant_has_at_most_fifty_endpoints(server: LiveServer) -> None:
    for n in range(MAX_ENDPOINTS):
        await register(server, f"http://127.0.0.1:9/hooks/{n}")
    response = await server.http.post(f"{server.url}/api/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/one-more"}, headers=HR)
    assert response.status_code == 409 and response.json()["code"] == "too_many_endpoints"
    assert response.headers["content-type"] == "application/problem+json"
    listed = (await server.http.get(f"{server.url}/api/v1/webhooks/endpoints", headers=HR)).json()["endpoints"]
    assert len(listed) == MAX_ENDPOINTS
    await server.http.delete(f"{server.url}/api/v1/webhooks/endpoints/{listed[0]['id']}", headers=HR)
    assert (await register(server, "http://127.0.0.1:9/one-more"))["url"] == "http://127.0.0.1:9/one-more"


async def test_the_deliveries_list_comes_a_page_at_a_time_newest_first_without_gaps_or_repeats(
    server: LiveServer, receiver: Receiver
) -> None:
    await register(server, receiver.url)
    for _ in range(5):
        await server.schedule()
    await receiver.wait_for(lambda r: len(r) == 5)
    everything = await deliveries(server)
    assert len(everything) == 5
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await server.http.get(f"{server.url}/api/v1/webhooks/deliveries", params=params, headers=HR)).json()
        pages.append(page["deliveries"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] in ([2, 2, 1], [2, 2, 1, 0])
    walked = [d["id"] for p in pages for d in p]
    assert walked == [d["id"] for d in everything], "the pages, in order, are the whole list"
    created = [d["created_at"] for p in pages for d in p]
    assert created == sorted(created, reverse=True)
    for bad in ({"cursor": "not-a-cursor"}, {"limit": "0"}, {"limit": "501"}):
        assert (await server.http.get(f"{server.url}/api/v1/webhooks/deliveries", params=bad, headers=HR)).status_code == 422


def test_each_secrets_signature_verifies_with_the_reference_library_and_no_other_body_does() -> None:
    """The dispatcher signs with one OpenSSL call per secret; standardwebhooks (the specification's own library) must
    accept every one of them, over a body with Chinese in it, and refuse a changed body or timestamp."""
    newest, previous = new_secret(), new_secret()
    body = '{"type":"candidate.applied","data":{"name":"李雷"}}'.encode()
    timestamp = int(time.time())
    header = signature_header([newest, previous], "msg_1", timestamp, body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp), "webhook-signature": header}
    assert len(header.split(" ")) == 2
    for secret in (newest, previous):
        assert Webhook(secret).verify(body, headers)["data"]["name"] == "李雷"
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body.replace("李".encode(), "王".encode()), headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, {**headers, "webhook-timestamp": str(timestamp - 1)})
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
