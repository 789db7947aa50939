"""Interviews left unfinished: an in-progress interview whose last question went out longer ago than
`abandon_after_s`, and that no node is running, becomes `abandoned`; HR's dashboards and the HRMS
(`interview.abandoned`) hear it. Its scored answers stay for HR to review."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from server.domain.interview import Interview
from server.storage.contract import Store

logger = logging.getLogger(__name__)


async def abandon_stale(
    store: Store,
    abandon_after_s: float,
    is_live: Callable[[str], Awaitable[bool]],
    announce: Callable[[Interview], None],
    now: float | None = None,
) -> list[str]:
    """Mark what has been left too long; returns the ids it abandoned."""
    active_before = (time.time() if now is None else now) - abandon_after_s
    done = []
    for interview in await store.stale_interviews(active_before):
        if await is_live(interview.id):
            continue  # someone is in it (a long answer, or a node that has not written since)
        await store.abandon_interview(interview)
        if (changed := await store.get_interview(interview.id)) is not None:
            announce(changed)
        last_s = interview.question_asked_at or interview.created_at
        logger.info("interview %s abandoned: its last question went out %.0f s ago", interview.id, time.time() - last_s)
        done.append(interview.id)
    return done


async def sweep_abandoned_forever(
    store: Store, abandon_after_s: float, is_live: Callable[[str], Awaitable[bool]], announce: Callable[[Interview], None]
) -> None:
    every_s = min(60.0, max(0.5, abandon_after_s / 4))
    while True:
        await asyncio.sleep(every_s)
        try:
            await abandon_stale(store, abandon_after_s, is_live, announce)
        except Exception:
            logger.exception("the abandoned-interview sweep failed; trying again in %.0f s", every_s)
