"""Interview data is kept no longer than the company's retention period: past it, interviews are erased with their
recordings, the HRMS hears of it and the audit trail says the policy did it; the same on SQLite and Redis."""

from __future__ import annotations

import time
from pathlib import Path

from server.web.retention import erase_expired
from tests.conftest import make_settings, serving
from tests.helpers.processes import complete_text_interview

ACME, GLOBEX = "acme-key-0123456789abcdef0123", "globex-key-0123456789abcdef01"


async def test_interviews_past_the_retention_period_are_erased_with_their_recordings(
    tmp_path: Path, store_settings: dict[str, object]
) -> None:
    settings = make_settings(
        tmp_path / "data",
        api_keys=[],
        tenants={"acme": [ACME], "globex": [GLOBEX]},
        tenant_policies={"acme": {"retention_days": 30}},  # globex keeps the default, 180 days
        **store_settings,
    )
    async with serving(settings) as server:
        old = await complete_text_interview(server.http, server.url, ACME)
        kept = await complete_text_interview(server.http, server.url, GLOBEX)
        recordings = settings.data_dir / "recordings" / old
        recordings.mkdir(parents=True)
        (recordings / "q01-1-deadbeef-0.webm").write_bytes(b"video")

        assert await erase_expired(server.services, now=time.time() + 29 * 86400) == 0
        assert await erase_expired(server.services, now=time.time() + 31 * 86400) == 1
        assert await server.services.store.get_interview(old) is None
        assert not recordings.exists()
        assert await server.services.store.get_interview(kept) is not None
        trail = await server.services.store.audit_trail("acme", old)
        assert [(e.actor, e.action) for e in trail][-1] == ("system:retention", "erased")
        assert await erase_expired(server.services, now=time.time() + 181 * 86400) == 1
        assert await server.services.store.get_interview(kept) is None
