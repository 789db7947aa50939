"""The candidate's questions during an interview: answered from the FAQ when it covers them, else passed to HR."""

from __future__ import annotations

import asyncio

from realtime_scoring.profiles import Language
from server.live.candidate_messages import ChatReply
from server.live.fan_out import LiveFanOut
from server.live.faq import Faq
from server.storage.contract import Store

ESCALATED = {
    "en": "I have passed your question to the hiring team; their answer will appear here. You can carry on meanwhile.",
    "zh": "您的问题已转给招聘团队，他们的回复会显示在这里。您可以先继续面试。",
}


class CandidateChat:
    """Each message and its reply are kept with the interview (HR reviews them) and shown live to HR."""

    def __init__(self, interview_id: str, language: Language, store: Store, faq: Faq | None, fan_out: LiveFanOut) -> None:
        self._interview_id = interview_id
        self._language = language
        self._store = store
        self._faq = faq
        self._fan_out = fan_out

    async def ask(self, text: str, question_id: str) -> None:
        await self._store.record_answer(self._interview_id, question_id, "chat", text)
        answer = None
        if (faq := self._faq) is not None:
            answer = await asyncio.to_thread(faq.answer, text, self._language)
        self._fan_out.candidate_asked(text, escalated=answer is None)
        if answer is not None:
            reply, kind = ChatReply(sender="faq", text=answer.text), "chat.faq"
        else:
            reply, kind = ChatReply(sender="system", text=ESCALATED[self._language], escalated=True), "chat.system"
        await self._store.record_answer(self._interview_id, question_id, kind, reply.text)
        self._fan_out.chat_reply(reply)

    def hr_replied(self, text: str) -> None:
        self._fan_out.to_candidate(ChatReply(sender="hr", text=text))
