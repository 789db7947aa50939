"""The candidate's websocket protocol and the HTTP surface around it, against a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server.domain.consent import CONSENT_TEXT_VERSION
from tests.conftest import API_KEY, LiveServer
from tests.helpers.interviews import receive_json
from tests.helpers.waiting import eventually
from tests.helpers.webrtc import CandidateSocket

PROBLEM_JSON = "application/problem+json"


def ws_url(server: LiveServer, interview_id: str, token: str | None) -> str:
    url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}"
    return url if token is None else f"{url}?token={token}"


async def open_socket(server: LiveServer) -> tuple[ClientConnection, dict[str, Any]]:
    """Schedule an interview, connect its candidate socket and return it with the hello message."""
    interview, token = await server.schedule()
    ws = await connect(ws_url(server, interview.id, token))
    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert hello["type"] == "hello"
    return ws, hello


async def until_closed(ws: ClientConnection, timeout: float = 5.0) -> tuple[list[dict[str, Any]], int | None]:
    """Read every message until the server closes the socket; return them and the close code."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic())))
    except ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None


async def ping_pong(ws: ClientConnection) -> dict[str, Any]:
    await ws.send(json.dumps({"v": 1, "type": "ping"}))
    return await receive_json(ws)


# Handshake and ordinary messages


async def test_hello_with_interview_info_arrives_first(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(questions=4, language="zh", job_title="数据工程师")
    socket = await CandidateSocket.open(live_server.url, interview.id, token)
    try:
        await socket.wait_for(lambda m: m["type"] == "hello")
        first = socket.messages[0][1]
        assert first == {
            "v": 1,
            "type": "hello",
            "interview": {
                "id": interview.id,
                "job_title": "数据工程师",
                "candidate_name": "Alex Chen",
                "language": "zh",
                "mode": "video",
                "total_questions": 4,
                "status": "scheduled",
                "show_result": False,
                "emotion_analysis": True,
                "avatar_url": None,
                "wechat_login_url": None,
                "company_name": None,
                "privacy_policy_url": None,
                "retention_days": 180,
                "expected_minutes": 30,
                "consent_version": CONSENT_TEXT_VERSION,
                "ask_self_identification": False,
            },
        }
        # No media yet, so no question is sent: the socket handles messages in order, so once a ping's pong is
        # back, anything the connection itself sent is back too.
        await socket.send(type="ping")
        await socket.wait_for(lambda m: m["type"] == "pong")
        assert [m["type"] for _, m in socket.messages] == ["hello", "pong"]
    finally:
        await socket.close()


async def test_ping_gets_pong(live_server: LiveServer) -> None:
    ws, _ = await open_socket(live_server)
    async with ws:
        assert await ping_pong(ws) == {"v": 1, "type": "pong"}
        assert await ping_pong(ws) == {"v": 1, "type": "pong"}


async def test_ready_without_media_sends_no_question(live_server: LiveServer) -> None:
    ws, _ = await open_socket(live_server)
    async with ws:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        # Messages are handled in order, so the pong proves 'ready' was handled without output.
        assert await ping_pong(ws) == {"v": 1, "type": "pong"}


async def test_a_video_interview_falls_back_to_text_before_it_starts(live_server: LiveServer) -> None:
    ws, hello = await open_socket(live_server)
    async with ws:
        assert hello["interview"]["mode"] == "video"
        await ws.send(json.dumps({"v": 1, "type": "ready", "mode": "text"}))
        again = await receive_json(ws)
        assert again["type"] == "hello" and again["interview"]["mode"] == "text"
        question = await receive_json(ws)
        assert question["type"] == "question" and question["index"] == 0
        # Once it has started, the mode stays.
        await ws.send(json.dumps({"v": 1, "type": "ready", "mode": "voice"}))
        assert (await receive_json(ws))["code"] == "mode_locked"
    state = await live_server.interview_state(hello["interview"]["id"])
    assert state["interview"]["mode"] == "text"


async def test_a_change_of_mode_keeps_the_wechat_avatar_the_candidate_shared(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule()
    await live_server.services.store.save_wechat_profile(interview.id, "openid-1", "小李", "https://wx.example/a.png")
    async with connect(ws_url(live_server, interview.id, token)) as ws:
        hello = await receive_json(ws)
        assert hello["interview"]["avatar_url"] == "https://wx.example/a.png"
        await ws.send(json.dumps({"v": 1, "type": "ready", "mode": "voice"}))
        again = await receive_json(ws)
        assert again["type"] == "hello" and again["interview"]["mode"] == "voice"
        assert again["interview"]["avatar_url"] == "https://wx.example/a.png"


async def test_a_reloaded_page_gets_the_question_with_the_time_it_has_been_open(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(mode="text")
    async with connect(ws_url(live_server, interview.id, token)) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        first = await receive_json(ws)
        assert first["type"] == "question"
        await asyncio.sleep(1.0)  # the time the page is away: it must count
    async with connect(ws_url(live_server, interview.id, token)) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        again = await receive_json(ws)
        assert again["question"]["id"] == first["question"]["id"] and again["elapsed_s"] >= first["elapsed_s"] + 1.0


async def test_a_text_interview_cannot_ask_for_video_or_voice(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(mode="text")
    async with connect(ws_url(live_server, interview.id, token)) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"v": 1, "type": "ready", "mode": "voice"}))
        assert (await receive_json(ws))["code"] == "mode_not_allowed"


async def test_answer_before_the_interview_starts_gets_not_in_progress(live_server: LiveServer) -> None:
    ws, _ = await open_socket(live_server)
    async with ws:
        await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": "q1"}))
        error = await receive_json(ws)
        assert error["type"] == "error" and error["code"] == "not_in_progress"
        assert "scheduled" in error["message"]
        assert await ping_pong(ws) == {"v": 1, "type": "pong"}


async def test_chat_the_faq_covers_is_answered_from_it_and_recorded(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule()
    async with connect(ws_url(live_server, interview.id, token)) as ws:
        await receive_json(ws)  # hello
        await ws.send(json.dumps({"v": 1, "type": "chat", "text": "Can I reschedule this interview?"}))
        reply = await receive_json(ws)
        assert reply["type"] == "chat" and reply["sender"] == "faq" and not reply["escalated"]
        assert "same link" in reply["text"]
    state = await live_server.interview_state(interview.id)
    # Before the interview starts there is no current question to file it under.
    assert [(a["question_id"], a["kind"]) for a in state["answers"]] == [("", "chat"), ("", "chat.faq")]
    assert state["answers"][0]["text"] == "Can I reschedule this interview?"


async def test_chat_the_faq_does_not_cover_is_escalated_to_hr(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(language="zh")
    async with connect(ws_url(live_server, interview.id, token)) as ws:
        await receive_json(ws)  # hello
        await ws.send(json.dumps({"v": 1, "type": "chat", "text": "这个职位的薪资是多少？"}))
        reply = await receive_json(ws)
        assert reply["type"] == "chat" and reply["sender"] == "system" and reply["escalated"]
        assert "招聘团队" in reply["text"]
    state = await live_server.interview_state(interview.id)
    assert [a["kind"] for a in state["answers"]] == ["chat", "chat.system"]


# Bad messages


async def test_unknown_type_gets_an_error_then_close_1003(live_server: LiveServer) -> None:
    ws, _ = await open_socket(live_server)
    await ws.send(json.dumps({"v": 1, "type": "subscribe"}))
    messages, code = await until_closed(ws)

    assert len(messages) == 1
    assert messages[0]["type"] == "error" and messages[0]["code"] == "unknown_type"
    assert "'subscribe'" in messages[0]["message"] and "ping" in messages[0]["message"]
    assert code == 1003


@pytest.mark.parametrize("raw", ["[1, 2]", '"ping"', "null", '{"v": 1}'], ids=["array", "string", "null", "no-type"])
async def test_json_that_is_not_a_typed_object_gets_unknown_type_then_close_1003(live_server: LiveServer, raw: str) -> None:
    ws, _ = await open_socket(live_server)
    await ws.send(raw)
    messages, code = await until_closed(ws)
    assert [(m["type"], m["code"]) for m in messages] == [("error", "unknown_type")]
    assert code == 1003


@pytest.mark.parametrize("kind", [["ping"], {"name": "ping"}], ids=["list", "object"])
async def test_unhashable_type_value_gets_unknown_type_then_close_1003(live_server: LiveServer, kind: Any) -> None:
    ws, _ = await open_socket(live_server)
    await ws.send(json.dumps({"v": 1, "type": kind}))
    messages, code = await until_closed(ws)
    assert [(m["type"], m["code"]) for m in messages] == [("error", "unknown_type")]
    assert code == 1003


async def test_invalid_json_gets_an_error_then_close_1003(live_server: LiveServer) -> None:
    ws, _ = await open_socket(live_server)
    await ws.send('{"v": 1, "type": "ping"')
    messages, code = await until_closed(ws)
    assert [(m["type"], m["code"]) for m in messages] == [("error", "invalid_json")]
    assert code == 1003


async def test_message_over_16_kib_gets_an_error_then_close_1009(live_server: LiveServer) -> None:
    limit = live_server.settings.ws_max_message_bytes
    assert limit == 16 * 1024
    ws, _ = await open_socket(live_server)
    # Valid JSON of a known type, just too big: the size check comes first.
    padding = "x" * (limit - len(json.dumps({"v": 1, "type": "chat", "text": ""})) + 1)
    message = json.dumps({"v": 1, "type": "chat", "text": padding})
    assert len(message.encode()) == limit + 1
    await ws.send(message)
    messages, code = await until_closed(ws)

    assert [(m["type"], m["code"]) for m in messages] == [("error", "message_too_large")]
    assert str(limit) in messages[0]["message"]
    assert code == 1009


async def test_message_of_exactly_16_kib_is_not_too_large(live_server: LiveServer) -> None:
    limit = live_server.settings.ws_max_message_bytes
    ws, _ = await open_socket(live_server)
    async with ws:
        message = json.dumps({"v": 1, "type": "ping", "pad": ""})
        message = json.dumps({"v": 1, "type": "ping", "pad": "y" * (limit - len(message))})
        assert len(message.encode()) == limit
        await ws.send(message)
        error = await receive_json(ws)
        # Extra fields are forbidden, so it is invalid, but not for its size, and the socket stays open.
        assert error["code"] == "invalid_message"
        assert await ping_pong(ws) == {"v": 1, "type": "pong"}


async def test_multibyte_text_is_measured_in_bytes(live_server: LiveServer) -> None:
    limit = live_server.settings.ws_max_message_bytes
    ws, _ = await open_socket(live_server)
    # 6000 three-byte characters: under the limit in characters, over it in UTF-8 bytes.
    message = json.dumps({"v": 1, "type": "chat", "text": "中" * 6000}, ensure_ascii=False)
    assert len(message) < limit < len(message.encode())
    await ws.send(message)
    messages, code = await until_closed(ws)
    assert [m["code"] for m in messages] == ["message_too_large"]
    assert code == 1009


@pytest.mark.parametrize(
    "message",
    [
        {"v": 1, "type": "answer.text", "question_id": "q1", "text": ""},
        {"v": 2, "type": "ping"},
        {"v": 1, "type": "chat"},
        {"v": 1, "type": "ping", "extra": True},
        {"v": 1, "type": "answer.done", "question_id": "q" * 65},
    ],
    ids=["empty-answer", "wrong-version", "missing-field", "extra-field", "long-question-id"],
)
async def test_invalid_payload_of_a_known_type_gets_an_error_and_the_socket_stays_open(
    live_server: LiveServer, message: dict[str, Any]
) -> None:
    ws, _ = await open_socket(live_server)
    async with ws:
        await ws.send(json.dumps(message))
        error = await receive_json(ws)
        assert error["type"] == "error" and error["code"] == "invalid_message"
        assert error["message"]  # names the offending field
        assert await ping_pong(ws) == {"v": 1, "type": "pong"}


async def test_invalid_message_names_the_bad_field(live_server: LiveServer) -> None:
    ws, _ = await open_socket(live_server)
    async with ws:
        await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": "q1", "text": ""}))
        error = await receive_json(ws)
        assert error["code"] == "invalid_message"
        assert "text" in error["message"]


async def test_binary_frame_gets_an_error_then_close_1003(live_server: LiveServer) -> None:
    ws, _ = await open_socket(live_server)
    await ws.send(json.dumps({"v": 1, "type": "ping"}).encode())
    messages, code = await until_closed(ws)
    assert [(m["type"], m["code"]) for m in messages] == [("error", "binary_not_supported")]
    assert code == 1003


# Handshake refusals


async def refused_status(url: str) -> tuple[int, dict[str, Any], str]:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url):
            pass
    response = info.value.response
    return response.status_code, json.loads(response.body), response.headers.get("Content-Type", "")


async def test_socket_without_token_is_refused_with_401(live_server: LiveServer) -> None:
    interview, _ = await live_server.schedule()
    status, body, content_type = await refused_status(ws_url(live_server, interview.id, None))
    assert status == 401
    assert body["code"] == "missing_token"
    assert content_type == PROBLEM_JSON


async def test_socket_with_bad_token_is_refused_with_401(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule()
    status, body, content_type = await refused_status(ws_url(live_server, interview.id, token[:-4] + "AAAA"))
    assert status == 401
    assert body["code"] == "invalid_token"
    assert content_type == PROBLEM_JSON


async def test_socket_with_a_token_for_another_interview_is_refused_with_403(live_server: LiveServer) -> None:
    first, _ = await live_server.schedule()
    _, other_token = await live_server.schedule()
    status, body, _ = await refused_status(ws_url(live_server, first.id, other_token))
    assert status == 403
    assert body["code"] == "wrong_interview"


async def test_socket_for_a_deleted_interview_is_refused_with_404(live_server: LiveServer) -> None:
    token = live_server.services.signer.issue("no-such-interview", int(time.time()) + 600)
    status, body, _ = await refused_status(ws_url(live_server, "no-such-interview", token))
    assert status == 404
    assert body["code"] == "interview_not_found"


# Isolation


async def test_a_broken_socket_does_not_affect_another_interview(live_server: LiveServer) -> None:
    healthy, healthy_hello = await open_socket(live_server)
    broken, broken_hello = await open_socket(live_server)
    assert healthy_hello["interview"]["id"] != broken_hello["interview"]["id"]
    async with healthy:
        await broken.send(b"\x00\x01")
        messages, code = await until_closed(broken)
        assert [m["code"] for m in messages] == ["binary_not_supported"] and code == 1003

        assert await ping_pong(healthy) == {"v": 1, "type": "pong"}
        # The broken interview can still be joined again.
        interview_id = broken_hello["interview"]["id"]
        assert live_server.services.registry.find_live(interview_id) is None
        assert live_server.services.registry.find_live(healthy_hello["interview"]["id"]) is not None


async def test_two_sockets_on_one_interview_each_get_their_own_pong(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule()
    async with connect(ws_url(live_server, interview.id, token)) as a, connect(ws_url(live_server, interview.id, token)) as b:
        assert (await receive_json(a))["type"] == "hello"
        assert (await receive_json(b))["type"] == "hello"
        await a.send("not json")
        messages, code = await until_closed(a)
        assert [m["code"] for m in messages] == ["invalid_json"] and code == 1003
        assert await ping_pong(b) == {"v": 1, "type": "pong"}
        # a's error went only to a.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.recv(), 0.3)


# HTTP API and pages


def valid_spec(**overrides: Any) -> dict[str, Any]:
    return {
        "job": {"title": "Backend engineer", "role": "backend_engineer", "required_skills": [{"name": "Python"}]},
        "candidate": {"name": "Alex Chen", "skills": ["Python"]},
        **overrides,
    }


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Authorization": "Bearer wrong-key"}, "invalid_api_key"),
        ({"X-API-Key": "wrong-key"}, "invalid_api_key"),
        ({}, "missing_api_key"),
        ({"Authorization": f"Basic {API_KEY}"}, "missing_api_key"),
    ],
    ids=["bad-bearer", "bad-x-api-key", "none", "wrong-scheme"],
)
async def test_create_interview_without_a_valid_api_key_is_401_problem(live_server: LiveServer, headers: dict[str, str], code: str) -> None:
    response = await live_server.http.post(f"{live_server.url}/api/v1/interviews", json=valid_spec(), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["code"] == code
    assert body["type"].endswith(f"/{code}") and body["title"] == "Unauthorized"


async def test_create_interview_with_an_empty_question_bank_is_422_with_errors(live_server: LiveServer) -> None:
    response = await live_server.http.post(
        f"{live_server.url}/api/v1/interviews", json=valid_spec(question_bank=[]), headers={"X-API-Key": API_KEY}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["code"] == "invalid_interview"
    assert [e["loc"] for e in body["errors"]] == [[]]
    assert "no question" in body["errors"][0]["msg"]


@pytest.mark.parametrize(
    ("overrides", "loc", "message"),
    [
        ({"job": {"title": "", "role": "backend_engineer"}}, ["job", "title"], "at least 1 character"),
        ({"job": {"title": "Chef", "role": "chef"}}, [], "no question bank 'chef'"),
        ({"job": {"title": "Chef"}}, [], "send a question_bank or a job.role"),
        ({"candidate": {"name": "A", "years_experience": -1}}, ["candidate", "years_experience"], "greater than or equal to 0"),
        ({"candidate": {"name": "A", "education": [{"level": "wizard"}]}}, ["candidate", "education", 0, "level"], "'doctorate'"),
        ({"candidate": {"name": "A", "hobby": "golf"}}, ["candidate", "hobby"], "Extra inputs"),
        ({"mode": "telepathy"}, ["mode"], "'text'"),
        (
            {"question_bank": [{"id": "q1", "competency": "skills", "difficulty": "hard", "text": {"en": "?"}}]},
            ["question_bank", 0, "difficulty"],
            "'deep'",
        ),
    ],
    ids=["empty-title", "unknown-role", "no-bank", "negative-years", "bad-education", "unknown-field", "bad-mode", "bad-difficulty"],
)
async def test_invalid_profiles_are_422_naming_the_field(live_server: LiveServer, overrides: dict, loc: list, message: str) -> None:
    response = await live_server.http.post(
        f"{live_server.url}/api/v1/interviews", json=valid_spec(**overrides), headers={"X-API-Key": API_KEY}
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors


async def test_create_interview_with_a_non_json_body_is_422(live_server: LiveServer) -> None:
    response = await live_server.http.post(f"{live_server.url}/api/v1/interviews", content=b"job_title=x", headers={"X-API-Key": API_KEY})
    assert response.status_code == 422
    assert response.json()["errors"]


async def test_create_interview_returns_an_invite_that_opens_the_page(live_server: LiveServer) -> None:
    response = await live_server.http.post(
        f"{live_server.url}/api/v1/interviews", json=valid_spec(), headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["match"]["score"] > 0 and body["match"]["contributions"]
    assert response.headers["location"] == f"/api/v1/interviews/{body['interview']['id']}"
    assert body["invite_url"] == f"{live_server.url}/i/{body['invite_token']}"
    assert body["interview"]["status"] == "scheduled"
    page = await live_server.http.get(body["invite_url"])
    assert page.status_code == 200


async def test_get_unknown_interview_is_404_problem(live_server: LiveServer) -> None:
    response = await live_server.http.get(f"{live_server.url}/api/v1/interviews/nope", headers={"X-API-Key": API_KEY})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "interview_not_found"


async def test_get_interview_reports_its_state_without_media(live_server: LiveServer) -> None:
    interview, _ = await live_server.schedule(questions=2)
    state = await live_server.interview_state(interview.id)
    assert state["interview"]["id"] == interview.id
    assert state["interview"]["status"] == "scheduled"
    assert [q["id"] for q in state["interview"]["question_bank"]] == ["q1", "q2"]
    assert state["media"] is None
    assert state["answers"] == []


async def test_readiness_and_metrics_are_served_without_personal_data(live_server: LiveServer) -> None:
    interview, _ = await live_server.schedule()
    assert (await live_server.http.get(f"{live_server.url}/readyz")).json()["status"] == "ready"
    response = await live_server.http.get(f"{live_server.url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert "interview_live_interviews 0.0" in response.text and "interview_media_video_frames_total" in response.text
    assert interview.id not in response.text and "Alex" not in response.text


async def test_metrics_time_the_event_loop(live_server: LiveServer) -> None:
    async def lag_samples() -> dict[str, float]:
        text = (await live_server.http.get(f"{live_server.url}/metrics")).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        family = families["interview_event_loop_lag_seconds"]
        return {s.name + s.labels.get("le", ""): s.value for s in family.samples}

    async def probed_twice() -> bool:
        return (await lag_samples())["interview_event_loop_lag_seconds_count"] >= 2

    await eventually(probed_twice, what="two event-loop probes")
    samples = await lag_samples()
    # Every probe lands in a bucket: the histogram's +Inf bucket counts them all.
    assert samples["interview_event_loop_lag_seconds_bucket+Inf"] == samples["interview_event_loop_lag_seconds_count"] >= 2


async def test_metrics_split_the_process_cpu_by_thread_role(live_server: LiveServer) -> None:
    text = (await live_server.http.get(f"{live_server.url}/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    by_role = {s.labels["role"]: s.value for s in families["interview_thread_cpu_seconds"].samples if s.name.endswith("_total")}
    assert by_role["event-loop"] > 0 and "other" in by_role


async def test_invite_page_with_bad_token_is_a_401_html_page(live_server: LiveServer) -> None:
    response = await live_server.http.get(f"{live_server.url}/i/not-a-token")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "This interview link cannot be used" in response.text
    assert "此面试链接无效" in response.text and "This interview link is not valid" in response.text
    assert "candidate.js" not in response.text


async def test_invite_page_with_expired_token_says_it_expired(live_server: LiveServer) -> None:
    interview, _ = await live_server.schedule()
    token = live_server.services.signer.issue(interview.id, int(time.time()) - 5)
    response = await live_server.http.get(f"{live_server.url}/i/{token}")
    assert response.status_code == 401
    assert "此面试链接已过期" in response.text and "This interview link has expired" in response.text


async def test_invite_page_with_good_token_serves_the_candidate_app(live_server: LiveServer) -> None:
    _, token = await live_server.schedule()
    response = await live_server.http.get(f"{live_server.url}/i/{token}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "candidate.js" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    script = await live_server.http.get(f"{live_server.url}/static/candidate/candidate.js")
    assert script.status_code == 200 and "WebSocket" in script.text


async def test_healthz_counts_live_interviews(live_server: LiveServer) -> None:
    assert (await live_server.http.get(f"{live_server.url}/healthz")).json() == {
        "status": "ok",
        "live_interviews": 0,
        "media_sessions": 0,
    }
    ws, _ = await open_socket(live_server)
    async with ws:
        health = (await live_server.http.get(f"{live_server.url}/healthz")).json()
        assert health["live_interviews"] == 1 and health["media_sessions"] == 0


async def test_node_stats_need_an_api_key_and_report_no_models_for_a_media_only_node(live_server: LiveServer) -> None:
    url = f"{live_server.url}/api/v1/stats"
    assert (await live_server.http.get(url)).status_code == 401
    body = (await live_server.http.get(url, headers={"X-API-Key": API_KEY})).json()
    assert body == {"live_interviews": 0, "media_sessions": 0, "models": None}
