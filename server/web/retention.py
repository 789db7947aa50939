"""Interview data kept no longer than the company's policy says (`retention_days`, which the consent step tells the
candidate): every interview scheduled longer ago than that is erased like an HR erasure, recordings and all, and the
HRMS hears `interview.deleted`; the audit trail keeps that the retention policy did it."""

from __future__ import annotations

import asyncio
import logging
import time

from server.web.context import Services
from server.web.hrms_api import erase_interviews

logger = logging.getLogger(__name__)

SWEEP_EVERY_S = 3600.0
BATCH = 100
RETENTION_ACTOR = "system:retention"


def tenants(services: Services) -> set[str]:
    return {"default", *services.api_keys.values(), *services.settings.tenant_policies}


async def erase_expired(services: Services, now: float | None = None) -> int:
    """Erase every interview past its company's retention period; returns how many went."""
    erased = 0
    for tenant in sorted(tenants(services)):
        days = services.settings.company_policy(tenant).retention_days
        before = (time.time() if now is None else now) - days * 86400
        while ids := await services.store.created_before(tenant, before, BATCH):
            await erase_interviews(services, tenant, ids, RETENTION_ACTOR)
            erased += len(ids)
    return erased


async def erase_expired_forever(services: Services, every_s: float = SWEEP_EVERY_S) -> None:
    """`erase_expired` at start and then every `every_s`; a failure (the store away) waits for the next round."""
    while True:
        try:
            if erased := await erase_expired(services):
                logger.info("retention: erased %d interview(s) past their company's retention period", erased)
        except Exception:  # the store away: the next round tries again
            logger.warning("retention sweep failed", exc_info=True)
        await asyncio.sleep(every_s)
