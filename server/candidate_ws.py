"""The candidate's websocket: questions and status out, readiness, answers and chat in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server.auth import require_invite
from server.live_interview import InterviewFlowError, LiveInterview, Subscriber
from server.messages import (
    CLIENT_MESSAGE_TYPES,
    AnswerDone,
    AnswerText,
    Chat,
    ErrorMessage,
    Hello,
    Ping,
    Pong,
    Ready,
    ServerMessage,
    client_message_adapter,
)
from server.problems import Problem, problem_response
from server.services import services_of
from server.wechat_oauth import wechat_login_offer

logger = logging.getLogger(__name__)

OUTBOX_SIZE = 256
CLOSE_UNSUPPORTED = 1003
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013


class _Closing(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


async def candidate_socket(websocket: WebSocket) -> None:
    services = services_of(websocket)
    interview_id = websocket.path_params["interview_id"]
    token = websocket.query_params.get("token") or ""
    try:
        require_invite(services.signer, token, interview_id)
        services.refuse_if_draining(interview_id)
        interview = await services.store.get_interview(interview_id)
        if interview is None:
            raise Problem(404, "interview_not_found", f"no interview {interview_id!r}")
    except Problem as problem:
        await deny_handshake(websocket, problem)
        return

    await websocket.accept()
    live = await services.registry.live_interview(interview)
    outbox: asyncio.Queue[ServerMessage] = asyncio.Queue(OUTBOX_SIZE)
    overflowed = asyncio.Event()

    def deliver(message: ServerMessage) -> None:
        try:
            outbox.put_nowait(message)
        except asyncio.QueueFull:
            overflowed.set()

    unsubscribe = live.subscribe(deliver)
    deliver(await _hello(websocket, live, token))
    # A page reloaded during a media interview gets its question back at once; a text interview waits for "ready".
    if live.media_connected and (question := live.current_question()) is not None:
        deliver(question)

    sender = asyncio.create_task(_send_loop(websocket, outbox))
    overflow = asyncio.create_task(overflowed.wait())
    receiver = asyncio.create_task(_receive_loop(websocket, live, deliver, services.settings.ws_max_message_bytes))
    try:
        done, _ = await asyncio.wait({sender, receiver, overflow}, return_when=asyncio.FIRST_COMPLETED)
        close_code = 1000
        if overflow in done:
            close_code = CLOSE_TRY_AGAIN
        elif receiver in done and isinstance(receiver.exception(), _Closing):
            close_code = receiver.exception().code  # type: ignore[union-attr]
            # Let the error message reach the page before closing.
            await _drain(outbox, sender)
    finally:
        unsubscribe()
        for task in (sender, receiver, overflow):
            task.cancel()
        await asyncio.gather(sender, receiver, overflow, return_exceptions=True)
    if websocket.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=close_code)


async def _hello(websocket: WebSocket, live: LiveInterview, token: str) -> Hello:
    """The interview's hello, with what only this browser's request tells: its WeChat profile or the offer to share it."""
    hello = live.hello()
    profile = await services_of(websocket).store.wechat_profile(live.id)
    hello.interview.avatar_url = profile["avatar_url"] if profile else None
    hello.interview.wechat_login_url = await wechat_login_offer(websocket, live.interview, token)
    return hello


async def deny_handshake(websocket: WebSocket, problem: Problem) -> None:
    """Refuse the handshake with an HTTP status where the server supports it, else close with 1008."""
    response = problem_response(problem.status, problem.code, problem.detail)
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:
        await websocket.close(code=1008, reason=problem.code)


async def _drain(outbox: asyncio.Queue[ServerMessage], sender: asyncio.Task[None]) -> None:
    """Wait (briefly) until everything queued so far has been written to the socket."""
    joined = asyncio.ensure_future(outbox.join())
    await asyncio.wait({joined, sender}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
    joined.cancel()


async def _send_loop(websocket: WebSocket, outbox: asyncio.Queue[ServerMessage]) -> None:
    while True:
        message = await outbox.get()
        try:
            await websocket.send_text(message.model_dump_json())
        finally:
            outbox.task_done()


async def _receive_loop(websocket: WebSocket, live: LiveInterview, deliver: Subscriber, max_bytes: int) -> None:
    def fail(code: str, message: str, close: int | None = None) -> None:
        deliver(ErrorMessage(code=code, message=message))
        if close is not None:
            raise _Closing(close)

    while True:
        event = await websocket.receive()
        if event["type"] == "websocket.disconnect":
            return
        text = event.get("text")
        if text is None:
            fail("binary_not_supported", "send JSON text messages", CLOSE_UNSUPPORTED)
            continue
        if len(text.encode("utf-8")) > max_bytes:
            fail("message_too_large", f"messages are limited to {max_bytes} bytes", CLOSE_TOO_BIG)
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            fail("invalid_json", "messages must be JSON objects", CLOSE_UNSUPPORTED)
            continue
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(kind, str) or kind not in CLIENT_MESSAGE_TYPES:
            fail("unknown_type", f"unknown message type {kind!r}; expected one of {sorted(CLIENT_MESSAGE_TYPES)}", CLOSE_UNSUPPORTED)
            continue
        try:
            message = client_message_adapter.validate_python(raw)
        except ValidationError as exc:
            fail("invalid_message", _describe(exc))
            continue
        try:
            await _handle(live, message, deliver)
        except InterviewFlowError as exc:
            fail(exc.code, exc.message)


async def _handle(live: LiveInterview, message: object, deliver: Subscriber) -> None:
    match message:
        case Ping():
            deliver(Pong())
        case Ready(mode=mode):
            if mode is not None:
                await live.choose_mode(mode)
            if not await live.on_page_ready() and (live.media_connected or not live.waits_for_media) and (question := live.current_question()) is not None:
                deliver(question)
        case AnswerText(question_id=qid, text=text):
            await live.answer_text(qid, text)
        case AnswerDone(question_id=qid):
            await live.answer_done(qid)
        case Chat(text=text):
            await live.chat(text)


def _describe(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)
