"""The HR dashboard's websocket: the tenant's interviews and their live events out; watch and chat replies in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server.candidate_ws import CLOSE_TOO_BIG, CLOSE_TRY_AGAIN, CLOSE_UNSUPPORTED, deny_handshake
from server.event_bus import Message, hr_topic, interview_topic
from server.hr_messages import (
    HR_CLIENT_MESSAGE_TYPES,
    ChatReplyFromHr,
    HrChat,
    HrError,
    HrPing,
    HrPong,
    InterviewDetail,
    InterviewList,
    InterviewSummary,
    Watch,
    hr_client_message_adapter,
)
from server.hr_sessions import HrSessionSigner
from server.live_interview import interview_match
from server.problems import Problem
from server.services import Services, services_of

logger = logging.getLogger(__name__)

# Captions and stills of a busy tenant come fast; a dashboard that cannot keep up is closed (1013) and reconnects.
OUTBOX_SIZE = 1024
LIST_LIMIT = 500


async def hr_socket(websocket: WebSocket) -> None:
    services = services_of(websocket)
    try:
        session = HrSessionSigner(services.settings.signing_key()).verify(websocket.query_params.get("token"))
    except Problem as problem:
        await deny_handshake(websocket, problem)
        return
    tenant = session.tenant
    await websocket.accept()

    outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_SIZE)
    overflowed = asyncio.Event()

    def deliver(message: Message) -> None:
        try:
            outbox.put_nowait(json.dumps(message, ensure_ascii=False))
        except asyncio.QueueFull:
            overflowed.set()

    # Subscribe before reading the list, so no change falls between the two.
    unsubscribe = services.bus.subscribe(hr_topic(tenant), deliver)
    emotion = services.settings.emotion_analysis
    interviews = await services.store.recent_interviews(tenant, LIST_LIMIT)
    deliver(InterviewList(interviews=[InterviewSummary.of(i, emotion) for i in interviews]).model_dump(mode="json"))

    sender = asyncio.create_task(_send_loop(websocket, outbox))
    overflow = asyncio.create_task(overflowed.wait())
    receiver = asyncio.create_task(_receive_loop(websocket, services, tenant, deliver))
    close_code = 1000
    try:
        done, _ = await asyncio.wait({sender, receiver, overflow}, return_when=asyncio.FIRST_COMPLETED)
        if overflow in done:
            close_code = CLOSE_TRY_AGAIN
        elif receiver in done and isinstance(receiver.exception(), _Closing):
            close_code = receiver.exception().code  # type: ignore[union-attr]
            joined = asyncio.ensure_future(outbox.join())
            await asyncio.wait({joined, sender}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            joined.cancel()
    finally:
        unsubscribe()
        for task in (sender, receiver, overflow):
            task.cancel()
        await asyncio.gather(sender, receiver, overflow, return_exceptions=True)
    if websocket.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=close_code)


class _Closing(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


async def _send_loop(websocket: WebSocket, outbox: asyncio.Queue[str]) -> None:
    while True:
        text = await outbox.get()
        try:
            await websocket.send_text(text)
        finally:
            outbox.task_done()


async def _receive_loop(websocket: WebSocket, services: Services, tenant: str, deliver: callable) -> None:  # type: ignore[valid-type]
    max_bytes = services.settings.ws_max_message_bytes

    def fail(code: str, message: str, close: int | None = None) -> None:
        deliver(HrError(code=code, message=message).model_dump(mode="json"))
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
        if not isinstance(kind, str) or kind not in HR_CLIENT_MESSAGE_TYPES:
            fail("unknown_type", f"unknown message type {kind!r}; expected one of {sorted(HR_CLIENT_MESSAGE_TYPES)}", CLOSE_UNSUPPORTED)
            continue
        try:
            message = hr_client_message_adapter.validate_python(raw)
        except ValidationError as exc:
            fail("invalid_message", "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]))
            continue
        match message:
            case HrPing():
                deliver(HrPong().model_dump(mode="json"))
            case Watch(interview_id=interview_id, detail=wants_detail):
                if not wants_detail:
                    if await services.store.get_interview(interview_id, tenant) is None:
                        fail("interview_not_found", f"no interview {interview_id!r}")
                        continue
                else:
                    detail = await interview_detail(services, tenant, interview_id)
                    if detail is None:
                        fail("interview_not_found", f"no interview {interview_id!r}")
                        continue
                    deliver(detail.model_dump(mode="json"))
                # Whichever node runs it re-sends its current question and starts sending stills.
                services.bus.publish(interview_topic(interview_id), {"type": "watch", "detail": wants_detail})
            case ChatReplyFromHr(interview_id=interview_id, text=reply):
                interview = await services.store.get_interview(interview_id, tenant)
                if interview is None:
                    fail("interview_not_found", f"no interview {interview_id!r}")
                    continue
                # Stored first: a candidate who is not connected now reads it in the detail later.
                await services.store.record_answer(interview_id, "", "chat.hr", reply)
                services.bus.publish(interview_topic(interview_id), {"type": "chat.reply", "text": reply})
                services.bus.publish(hr_topic(tenant), HrChat(interview_id=interview_id, sender="hr", text=reply).model_dump(mode="json"))


CHAT_SENDERS = {"chat": "candidate", "chat.faq": "faq", "chat.hr": "hr", "chat.system": "system"}


async def interview_detail(services: Services, tenant: str, interview_id: str) -> InterviewDetail | None:
    """Everything recorded so far about one of the tenant's interviews (None if it is not theirs)."""
    store = services.store
    interview = await store.get_interview(interview_id, tenant)
    if interview is None:
        return None
    emotion = services.settings.emotion_analysis and interview.mode == "video"
    live = services.registry.find_live(interview_id)
    report = await store.report(interview_id)
    chat = [
        {"sender": CHAT_SENDERS[a["kind"]], "text": a["text"], "at": a["created_at"]}
        for a in await store.answers(interview_id)
        if a["kind"] in CHAT_SENDERS
    ]
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
        report=report.get("report") if report is not None else None,  # type: ignore[arg-type]
        decisions=await store.decisions(interview_id),
    )
