"""HR's list of interviews: search, filters, sort and cursor paging (`GET /api/v1/interviews`), and the board, each
job's count of interviews in every state (`GET /api/v1/board`).

Both read the store's index of the tenant's newest interviews (`Store.interview_index`, at most `INDEX_LIMIT`), a few
small fields a row, and filter and sort it here: the same answers from SQLite and Redis. A cursor names the last row
of a page by its sort key and id, so a page stays right while interviews are added in front of it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from server.domain.interview import InterviewStatus
from server.storage.rows import IndexRow
from server.web.auth import require_api_key
from server.web.context import services_of
from server.web.problems import Problem
from server.web.request_bodies import field_errors

Sort = Literal["newest", "oldest", "score_high", "score_low", "name", "last_message"]


class SearchQuery(BaseModel):
    """The list's query string: every part optional, each bounded."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=100, description="Words in the candidate's name or e-mail, or the job's title")
    job_id: str | None = Field(None, max_length=128)
    status: list[InterviewStatus] = Field(default_factory=list, max_length=10)
    score_min: float | None = Field(None, ge=0, le=100)
    score_max: float | None = Field(None, ge=0, le=100)
    created_from: date | None = None
    created_to: date | None = None
    flag: str | None = Field(None, max_length=40, description="A report flag, e.g. face_often_absent or multiple_faces")
    decided: bool | None = Field(None, description="true: HR has decided; false: not yet")
    inbox: bool | None = Field(None, description="true: only interviews whose candidate wrote in the chat")
    needs_reply: bool | None = Field(None, description="true: a question the FAQ could not answer waits for HR")
    sort: Sort = "newest"
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=400)


def _query(request: Request) -> SearchQuery:
    params = request.query_params
    raw: dict[str, Any] = {key: params[key] for key in params if key != "status"}
    if "status" in params:
        raw["status"] = [s for value in params.getlist("status") for s in value.split(",") if s]
    try:
        return SearchQuery.model_validate(raw)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise Problem(422, "invalid_query", "the search is not valid", errors=errors) from exc


def _matches(row: IndexRow, query: SearchQuery) -> bool:
    if query.q:
        words = query.q.casefold().split()
        haystack = f"{row.candidate_name} {row.candidate_email or ''} {row.job_title}".casefold()
        if not all(word in haystack for word in words):
            return False
    if query.job_id is not None and row.job_id != query.job_id:
        return False
    if query.status and row.status not in query.status:
        return False
    if query.score_min is not None and (row.overall is None or row.overall < query.score_min):
        return False
    if query.score_max is not None and (row.overall is None or row.overall > query.score_max):
        return False
    created = datetime.fromtimestamp(row.created_at, UTC).date()
    if (query.created_from is not None and created < query.created_from) or (query.created_to is not None and created > query.created_to):
        return False
    if query.flag is not None and query.flag not in row.flags:
        return False
    if query.inbox and not row.chat_count:
        return False
    if query.needs_reply is not None and row.needs_reply != query.needs_reply:
        return False
    return query.decided is None or (row.decision is not None) == query.decided


def _key(row: IndexRow, sort: Sort) -> tuple[Any, ...]:
    """The sort key, ascending; ids break ties so every row has one place. Unscored rows go last either way."""
    score = row.overall
    match sort:
        case "newest":
            return (-row.created_at, row.id)
        case "oldest":
            return (row.created_at, row.id)
        case "score_high":
            return (score is None, -(score or 0), row.id)
        case "score_low":
            return (score is None, score or 0, row.id)
        case "name":
            return (row.candidate_name.casefold(), row.id)
        case "last_message":
            return (row.last_chat_at is None, -(row.last_chat_at or 0), row.id)


def _encode(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, ...]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise Problem(422, "invalid_cursor", "the cursor is not one this list gave") from exc
    if not isinstance(value, list) or not 2 <= len(value) <= 3 or not all(isinstance(v, (str, int, float, bool)) for v in value):
        raise Problem(422, "invalid_cursor", "the cursor is not one this list gave")
    return tuple(value)


def _select(index: list[IndexRow], query: SearchQuery, after: tuple[Any, ...] | None) -> tuple[list[IndexRow], int]:
    """The matching rows in the query's order from the cursor on, and how many match in all."""
    rows = sorted((r for r in index if _matches(r, query)), key=lambda r: _key(r, query.sort))
    matched = len(rows)
    if after is not None:
        try:
            rows = [r for r in rows if _key(r, query.sort) > after]
        except TypeError as exc:  # a cursor of another sort
            raise Problem(422, "invalid_cursor", "the cursor belongs to another sort order") from exc
    return rows, matched


def _row_json(row: IndexRow) -> dict[str, Any]:
    data = row.model_dump(mode="json")
    data["overall"] = None if row.overall is None else round(row.overall)
    return data


async def search_interviews(request: Request) -> JSONResponse:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    query = _query(request)
    after = _decode(query.cursor) if query.cursor is not None else None
    index = await services.store.interview_index(tenant)
    # Tens of thousands of rows filtered and sorted: tens of milliseconds, off the event loop that carries the media.
    rows, matched = await asyncio.to_thread(_select, index, query, after)
    page = rows[: query.limit]
    more = len(rows) > query.limit
    body = {
        "interviews": [_row_json(r) for r in page],
        "next_cursor": _encode(_key(page[-1], query.sort)) if more and page else None,
        "matched": matched,
    }
    return JSONResponse(body, headers={"Cache-Control": "private, no-store"})


async def board(request: Request) -> JSONResponse:
    """Each job's interviews counted by state (every state, zeros too), newest job first; then the stored jobs that
    have no interview yet (their booking hours, poster and imports are reached from here)."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    jobs: dict[str, dict[str, Any]] = {}
    counts: dict[str, Counter[str]] = {}
    for row in await services.store.interview_index(tenant):
        key = row.job_id or f"title:{row.job_title}"
        if key not in jobs:
            jobs[key] = {"job_id": row.job_id, "job_title": row.job_title, "latest_at": row.created_at}
            counts[key] = Counter()
        counts[key][row.status] += 1
    for job_id, title in (await services.store.job_titles(tenant)).items():  # jobs nobody is interviewed for yet
        if job_id not in jobs:
            jobs[job_id] = {"job_id": job_id, "job_title": title, "latest_at": None}
            counts[job_id] = Counter()
    listing = [
        {**job, "counts": {s.value: counts[key][s.value] for s in InterviewStatus}, "total": sum(counts[key].values())}
        for key, job in jobs.items()
    ]
    return JSONResponse({"jobs": listing, "states": [s.value for s in InterviewStatus]}, headers={"Cache-Control": "private, no-store"})
