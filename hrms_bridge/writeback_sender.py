"""Sends what the server owes ATSs (the candidate's entry link, the result, an account's papers) through each one's
connector, durably.

    write-back due (server/storage/ats_writebacks.py) ─claim (lease)─▶ connector.write_back ─▶ done
         ▲                                                                  │ else: retry on the webhook schedule
         └──────────────────────────────────────────────────────────────────┘ (or Retry-After), then give up

Everything is in the store, so a restart (kill -9 included) neither forgets nor repeats a write-back; an erased
interview's go with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from hrms_bridge.connectors.base import Connector, InterviewFacts
from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.retrying import CLAIM_MARGIN_S, Outcome, RetryingSender, next_delay
from realtime_scoring.report import InterviewReport
from server.storage.ats_writebacks import Action, WriteBack, WriteBacks
from server.storage.contract import Store

logger = logging.getLogger(__name__)

FactsOf = Callable[[str], Awaitable[InterviewFacts | None]]


def facts_from(store: Store, base_url: str) -> FactsOf:
    """What a write-back may say about an interview, read from the interview store; None when it is gone."""

    async def facts_of(interview_id: str) -> InterviewFacts | None:
        interview = await store.get_interview(interview_id)
        if interview is None:
            return None
        stored = await store.report(interview_id)
        report = InterviewReport.model_validate(stored.report) if stored is not None else None
        return InterviewFacts(
            interview_id=interview_id,
            candidate_name=interview.candidate.name,
            report_url=f"{base_url}/hr#/interview/{interview_id}",
            score=report.recommendation.overall if report is not None else None,
            recommendation=report.recommendation.decision.replace("_", " ").capitalize() if report is not None else None,
            summary="; ".join(report.recommendation.reasons) or None if report is not None else None,
            completed_at=stored.created_at if stored is not None else None,
        )

    return facts_of


class WriteBackSender(RetryingSender[WriteBack]):
    """Runs in the server's lifespan: `start()`, `wake()` when a write-back was added or a report saved, `close()`."""

    name = "ats-writebacks"
    user_agent = "interview-server-ats/1"
    max_concurrent = 4

    def __init__(
        self,
        store: WriteBacks,
        connectors: Mapping[str, Connector],
        facts_of: FactsOf,
        policy: DestinationPolicy,
        retry_schedule_s: Sequence[float],
        timeout_s: float = 15.0,
    ) -> None:
        super().__init__(policy, retry_schedule_s, timeout_s)
        self.store = store
        self.connectors = dict(connectors)
        self._facts_of = facts_of

    async def owe(self, subject: str, action: Action, connector: str, target: Mapping[str, str]) -> bool:
        """Owe the ATS `action` for the interview (or, for an account action, the ATS account) `subject`, through
        `connector`; False when the interview is gone."""
        added = await self.store.add(subject, action, connector, target)
        self.wake()
        return added

    async def due(self, now: float) -> list[WriteBack]:
        return await self.store.due(now)

    async def next_due_at(self) -> float | None:
        return await self.store.next_due_at()

    def key(self, item: WriteBack) -> str:
        return item.key

    async def close(self) -> None:
        await super().close()
        await self.store.close()

    async def attempt(self, item: WriteBack) -> None:
        # The due list may be stale: only a successful claim sends, so one write-back goes out once per attempt.
        if not await self.store.claim(item, time.time(), self.timeout_s + CLAIM_MARGIN_S):
            return
        connector = self.connectors.get(item.connector)
        facts = None
        if item.interview_id is not None:
            facts = await self._facts_of(item.interview_id)
            if facts is None:  # erased meanwhile: its row went with it
                return
        if connector is None:
            outcome = Outcome(None, f"no {item.connector} connector is set up on this node", None)
        else:
            outcome = await connector.write_back(item, facts, self.exchange)
        status_code, error, retry_after_s = outcome.status_code, outcome.error, outcome.retry_after_s
        if outcome.success:
            await self.store.record(item, status_code, None, done=True, next_attempt_at=None)
            return
        delay = next_delay(self.retry_schedule_s, item.attempts + 1, retry_after_s)
        if delay is None:
            await self.store.record(item, status_code, error, done=False, next_attempt_at=None)
            logger.warning(
                "gave up the %s %s write-back of %s after %d attempts: %s",
                item.connector,
                item.action,
                f"interview {item.subject}" if item.interview_id is not None else f"account {item.subject}",
                item.attempts + 1,
                error,
            )
            return
        await self.store.record(item, status_code, error, done=False, next_attempt_at=time.time() + delay)
