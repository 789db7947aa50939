"""The candidate's consent: separate items, each given or not, stored with the time and the version of the text
the candidate was shown, before any media is received.

Recording and AI scoring are what an AI interview is; without them the candidate talks to HR instead. Facial
emotion analysis is asked only where the company's policy turns it on, and may be declined: the interview then
runs without it.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field

# Changes whenever the consent texts (frontend/candidate/i18n.js, consent_*) change: a stored consent names the
# text it answered, so HR can show what exactly the candidate agreed to.
CONSENT_TEXT_VERSION = "2026-12-05"  # the AI item now says that leaving the page is noted
CONSENT_KIND = "consent"  # the stored row's kind among the interview's answers


class ConsentItems(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recording: bool = Field(description="the candidate's audio (and video) is recorded for HR to review")
    ai_scoring: bool = Field(description="answers are transcribed and scored by software, and HR decides with the scores")
    emotion_analysis: bool = Field(False, description="facial emotion is analysed (only where the company's policy turns it on)")


class ConsentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: ConsentItems
    text_version: str = Field(max_length=32)
    language: str = Field("en", pattern=r"^(en|zh)$")


class ConsentRecord(ConsentRequest):
    given_at: float  # epoch seconds

    @property
    def allows_interview(self) -> bool:
        return self.items.recording and self.items.ai_scoring

    def stored_text(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_stored(cls, text: str) -> ConsentRecord | None:
        try:
            return cls.model_validate(json.loads(text))
        except (ValueError, TypeError):
            return None
