"""The audit trail: who viewed, fetched, shared or decided what about which interview, exportable per interview.

Entries name the candidate by interview id only and outlive the interview's erasure (its tombstone). HR's people are
named as they signed in to the dashboard (`X-Reviewer`, percent-encoded UTF-8), or by the digest of the API key an
HR system used; business owners by their share and name.
"""

from __future__ import annotations

import csv
import io
import json
import time
import unicodedata
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.storage.rows import AuditEntry
from server.web.auth import key_digest, presented_api_key, require_api_key
from server.web.context import Services, services_of
from server.web.problems import Problem

REVIEWER_HEADER = "x-reviewer"


def hr_actor(request: Request) -> str:
    """The person behind an HR request: the name the dashboard signed in with, else the API key's digest."""
    raw = request.headers.get(REVIEWER_HEADER, "")[:600]
    name = "".join(c for c in unquote(raw) if unicodedata.category(c)[0] != "C").strip()[:200]
    if name:
        return f"hr:{name}"
    key = presented_api_key(request.headers)
    return f"hr-api:{key_digest(key)[:12]}" if key else "hr-api:unknown"


async def audit(services: Services, tenant: str, interview_id: str, actor: str, action: str, **detail: Any) -> None:
    await services.store.record_audit(
        tenant, AuditEntry(at=time.time(), actor=actor, action=action, interview_id=interview_id, detail=detail)
    )


async def export_audit(request: Request) -> Response:
    """`GET /api/v1/interviews/{id}/audit[?format=csv]`: the trail, oldest first, also after the interview's erasure."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    wanted = request.query_params.get("format", "json")
    if wanted not in ("json", "csv"):
        raise Problem(422, "invalid_format", f"format is json or csv, not {wanted[:20]!r}")
    interview_id = request.path_params["interview_id"][:64]
    entries = await services.store.audit_trail(tenant, interview_id)
    if not entries and await services.store.get_interview(interview_id, tenant) is None:
        raise Problem(404, "interview_not_found", f"no interview {interview_id!r} and no trail of one")
    await audit(services, tenant, interview_id, hr_actor(request), "audit_exported")
    headers = {"Cache-Control": "private, no-store"}
    if request.query_params.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["at_utc", "actor", "action", "interview_id", "detail"])
        for e in entries:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.at))
            writer.writerow([when, _cell(e.actor), e.action, e.interview_id, _cell(json.dumps(e.detail, ensure_ascii=False))])
        disposition = f'attachment; filename="audit-{interview_id}.csv"'
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={**headers, "Content-Disposition": disposition})
    return JSONResponse({"interview_id": interview_id, "entries": [e.model_dump(mode="json") for e in entries]}, headers=headers)


def _cell(value: str) -> str:
    """A spreadsheet must not run what a name holds: a leading =, +, - or @ is quoted (CSV injection)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
