"""The candidate's websocket: questions and status out, readiness, answers and chat in."""

from __future__ import annotations

import logging
from typing import Literal

from starlette.websockets import WebSocket

from server.domain.interview import InterviewStatus
from server.integrations.wechat_oauth import wechat_login_offer
from server.live.candidate_messages import (
    CLIENT_MESSAGE_TYPES,
    AnswerDone,
    AnswerText,
    Captions,
    Chat,
    Completed,
    ErrorMessage,
    Hello,
    InterviewInfo,
    PageVisibility,
    Ping,
    Pong,
    Ready,
    ServerMessage,
    client_message_adapter,
)
from server.live.fan_out import Subscriber
from server.live.live_interview import MAX_CANDIDATE_SOCKETS, LiveInterview
from server.live.question_flow import InterviewFlowError
from server.web.auth import require_invite
from server.web.booking_api import refuse_outside_booked_time
from server.web.context import services_of
from server.web.problems import Problem
from server.ws.json_socket import Outbox, deny_handshake, receive_messages, serve_socket

logger = logging.getLogger(__name__)

OUTBOX_SIZE = 256


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
        await refuse_outside_booked_time(services, interview)
        await services.refuse_if_live_elsewhere(interview_id)
        running = services.registry.find_live(interview_id)
        if running is not None and running.candidate_sockets >= MAX_CANDIDATE_SOCKETS:
            raise Problem(429, "too_many_sockets", f"this interview already has {MAX_CANDIDATE_SOCKETS} open pages; close one")
    except Problem as problem:
        await deny_handshake(websocket, problem)
        return
    if interview.status in (InterviewStatus.CANCELLED, InterviewStatus.ABANDONED):
        # The invite died with the interview: the page learns why (a refused handshake tells a browser nothing), and
        # the socket closes; no interview runs, nothing it sends is read.
        await websocket.accept()
        await websocket.send_text(Hello(interview=InterviewInfo.of(interview, services.settings)).model_dump_json())
        reason: Literal["cancelled", "abandoned"] = "cancelled" if interview.status == InterviewStatus.CANCELLED else "abandoned"
        await websocket.send_text(Completed(reason=reason).model_dump_json())
        await websocket.close(code=1000)
        return

    await websocket.accept()
    live = await services.registry.live_interview(interview)
    outbox = Outbox(OUTBOX_SIZE)

    wechat: dict[str, str | None] = {}

    def deliver(message: ServerMessage) -> None:
        if isinstance(message, Hello):  # every hello, the first and one after a change of mode, with this page's WeChat part
            message = message.model_copy(update={"interview": message.interview.model_copy(update=wechat)})
        outbox.put(message.model_dump_json())
        if isinstance(message, Completed) and message.reason == "cancelled":
            outbox.end()  # said; the socket closes once it is sent, and the invite opens no new one

    def fail(code: str, message: str, close: int | None = None) -> None:
        deliver(ErrorMessage(code=code, message=message))

    async def handle(message: object) -> None:
        try:
            await _handle(live, message, deliver)
        except InterviewFlowError as exc:
            fail(exc.code, exc.message)

    unsubscribe = live.subscribe(deliver)
    try:
        if live.candidate_sockets > MAX_CANDIDATE_SOCKETS:  # others were accepted while this one was
            await websocket.close(code=1008, reason="too_many_sockets")
            return
        wechat.update(await _wechat_fields(websocket, live, token))
        deliver(live.hello())
        # A page reloaded during a media interview gets its question back at once; a text interview waits for "ready".
        if live.media_connected and (question := live.current_question()) is not None:
            deliver(question)
        receive = receive_messages(
            websocket, services.settings.ws_max_message_bytes, CLIENT_MESSAGE_TYPES, client_message_adapter, fail, handle
        )
        await serve_socket(websocket, outbox, receive)
    finally:
        unsubscribe()


async def _wechat_fields(websocket: WebSocket, live: LiveInterview, token: str) -> dict[str, str | None]:
    """What only this browser's request tells the hello: the candidate's WeChat avatar, or the offer to share it."""
    profile = await services_of(websocket).store.wechat_profile(live.id)
    return {
        "avatar_url": profile.avatar_url if profile else None,
        "wechat_login_url": None if profile else wechat_login_offer(websocket, live.interview, token),
    }


async def _handle(live: LiveInterview, message: object, deliver: Subscriber) -> None:
    match message:
        case Ping():
            deliver(Pong())
        case Ready(mode=mode):
            if mode is not None:
                await live.choose_mode(mode)
            if (
                not await live.on_page_ready()
                and (live.media_connected or not live.waits_for_media)
                and (question := live.current_question()) is not None
            ):
                deliver(question)
        case AnswerText(question_id=qid, text=text):
            await live.answer_text(qid, text)
        case AnswerDone(question_id=qid):
            await live.answer_done(qid)
        case Chat(text=text):
            await live.chat(text)
        case PageVisibility(hidden=hidden):
            live.page_visibility(hidden)
        case Captions(on=on):
            live.candidate_captions = on
