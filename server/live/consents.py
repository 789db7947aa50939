"""The consents a candidate gave for an interview, as stored among its answers (`server.domain.consent`)."""

from __future__ import annotations

from collections.abc import Sequence

from server.domain.consent import CONSENT_KIND, ConsentRecord
from server.storage.contract import Store
from server.storage.rows import AnswerRow


def consents_among(answers: Sequence[AnswerRow]) -> list[ConsentRecord]:
    """The consents among an interview's answers, oldest first."""
    records = [ConsentRecord.from_stored(a.text) for a in answers if a.kind == CONSENT_KIND]
    return [r for r in records if r is not None]


async def consents(store: Store, interview_id: str) -> list[ConsentRecord]:
    """Every consent the candidate gave for the interview, oldest first."""
    return consents_among(await store.answers(interview_id))


async def interview_consent(store: Store, interview_id: str) -> ConsentRecord | None:
    """The latest consent, if it allows the interview (recording and AI scoring agreed to)."""
    given = await consents(store, interview_id)
    return given[-1] if given and given[-1].allows_interview else None
