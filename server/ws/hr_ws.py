"""The HR dashboard's websocket: the tenant's interviews and their live events out; watch and chat replies in."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from typing import Literal

from starlette.websockets import WebSocket

from server.cluster.event_bus import Message, hr_topic, interview_topic
from server.live.candidate_messages import ErrorMessage, Ping, Pong
from server.live.hr_messages import (
    HR_CLIENT_MESSAGE_TYPES,
    ChatLine,
    ChatReplyFromHr,
    HrChat,
    InterviewDetail,
    InterviewList,
    InterviewSummary,
    Watch,
    hr_client_message_adapter,
)
from server.live.reporting import interview_match
from server.storage.rows import AnswerRow
from server.web.context import Services, services_of
from server.web.problems import Problem
from server.ws.hr_sessions import HrSessionSigner
from server.ws.json_socket import Fail, Outbox, deny_handshake, receive_messages, serve_socket

logger = logging.getLogger(__name__)

# Captions and stills of a busy tenant come fast; a dashboard that cannot keep up is closed (1013) and reconnects.
OUTBOX_SIZE = 1024
LIST_LIMIT = 500


async def hr_socket(websocket: WebSocket) -> None:
    services = services_of(websocket)
    try:
        session = HrSessionSigner(services.settings.signing_key()).verify(websocket.query_params.get("token"), services.api_keys)
    except Problem as problem:
        await deny_handshake(websocket, problem)
        return
    tenant = session.tenant
    await websocket.accept()
    outbox = Outbox(OUTBOX_SIZE)

    def deliver(message: Message) -> None:
        outbox.put(json.dumps(message, ensure_ascii=False))

    def fail(code: str, message: str, close: int | None = None) -> None:
        deliver(ErrorMessage(code=code, message=message).model_dump(mode="json"))

    async def handle(message: object) -> None:
        await _handle(services, tenant, message, deliver, fail)

    # Subscribe before reading the list, so no change falls between the two.
    unsubscribe = services.bus.subscribe(hr_topic(tenant), deliver)
    try:
        if not await services.bus.listening(hr_topic(tenant)):
            logger.warning("the event bus took over 2 s to subscribe a dashboard; it may miss a change until its next reload")
        emotion = services.settings.emotion_analysis
        interviews = await services.store.recent_interviews(tenant, LIST_LIMIT)
        deliver(InterviewList(interviews=[InterviewSummary.of(i, emotion) for i in interviews]).model_dump(mode="json"))
        receive = receive_messages(
            websocket, services.settings.ws_max_message_bytes, HR_CLIENT_MESSAGE_TYPES, hr_client_message_adapter, fail, handle
        )
        await serve_socket(websocket, outbox, receive)
    finally:
        unsubscribe()


async def _handle(services: Services, tenant: str, message: object, deliver: Callable[[Message], None], fail: Fail) -> None:
    match message:
        case Ping():
            deliver(Pong().model_dump(mode="json"))
        case Watch(interview_id=interview_id, detail=wants_detail):
            if not wants_detail:
                if await services.store.get_interview(interview_id, tenant) is None:
                    fail("interview_not_found", f"no interview {interview_id!r}", None)
                    return
            else:
                detail = await interview_detail(services, tenant, interview_id)
                if detail is None:
                    fail("interview_not_found", f"no interview {interview_id!r}", None)
                    return
                deliver(detail.model_dump(mode="json"))
            # Whichever node runs it re-sends its current question (on a first watch) and sends stills.
            services.bus.publish(interview_topic(interview_id), {"type": "watch", "detail": wants_detail})
        case ChatReplyFromHr(interview_id=interview_id, text=reply):
            if await services.store.get_interview(interview_id, tenant) is None:
                fail("interview_not_found", f"no interview {interview_id!r}", None)
                return
            # Stored first: a candidate who is not connected now reads it in the detail later.
            await services.store.record_answer(interview_id, "", "chat.hr", reply)
            services.bus.publish(interview_topic(interview_id), {"type": "chat.reply", "text": reply})
            services.bus.publish(hr_topic(tenant), HrChat(interview_id=interview_id, sender="hr", text=reply).model_dump(mode="json"))


ChatSender = Literal["candidate", "faq", "hr", "system"]
CHAT_SENDERS: dict[str, ChatSender] = {"chat": "candidate", "chat.faq": "faq", "chat.hr": "hr", "chat.system": "system"}


async def interview_detail(services: Services, tenant: str, interview_id: str) -> InterviewDetail | None:
    """Everything recorded so far about one of the tenant's interviews (None if it is not theirs)."""
    store = services.store
    interview = await store.get_interview(interview_id, tenant)
    if interview is None:
        return None
    emotion = services.settings.emotion_analysis and interview.mode == "video"
    live = services.registry.find_live(interview_id)
    report = await store.report(interview_id)
    chat = chat_lines([a for a in await store.answers(interview_id) if a.kind in CHAT_SENDERS])
    return InterviewDetail(
        interview_id=interview_id,
        interview=live.summary() if live is not None else InterviewSummary.of(interview, services.settings.emotion_analysis),
        match=interview_match(interview).as_dict(),
        answers=await store.scored_answers(interview_id),
        transcripts=await store.transcripts(interview_id),
        faces=await store.observations(interview_id, "face"),
        emotions=await store.observations(interview_id, "emotion") if emotion else None,
        chat=chat,
        current=live.asked_question() if live is not None else None,
        report=report.report if report is not None else None,
        decisions=await store.decisions(interview_id),
        recordings=await store.recordings(interview_id),
        needs_reply=needs_reply(chat),
    )


def chat_lines(stored: list[AnswerRow]) -> list[ChatLine]:
    """The chat as HR reads it: a candidate's line is escalated when the system's escalation notice follows it."""
    lines = [ChatLine(sender=CHAT_SENDERS[a.kind], text=a.text, at=a.created_at) for a in stored]
    for before, after in itertools.pairwise(lines):
        if before.sender == "candidate" and after.sender == "system":
            before.escalated = True
    return lines


def needs_reply(lines: list[ChatLine]) -> bool:
    """An escalated question with no HR reply after it."""
    waiting = False
    for line in lines:
        if line.escalated:
            waiting = True
        elif line.sender == "hr":
            waiting = False
    return waiting
