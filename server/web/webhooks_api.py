"""The webhook part of the HRMS API: endpoints, secrets, deliveries with their history, dead-letter replay."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hrms_bridge.destinations import DestinationRefused
from server.storage.outbox import EventType
from server.storage.webhook_deliveries import DEAD, DELIVERED, MAX_ENDPOINTS, PENDING, Endpoint
from server.web.auth import require_api_key
from server.web.context import Services, services_of
from server.web.problems import Problem
from server.web.request_bodies import field_errors


class EndpointSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)
    event_types: list[EventType] = Field(default_factory=list, description="empty: every event")
    description: str = Field("", max_length=200)
    secret: Annotated[str, Field(pattern=r"^whsec_[A-Za-z0-9+/]{32,}={0,2}$")] | None = None


def _tenant(request: Request) -> tuple[Services, str]:
    services = services_of(request)
    return services, require_api_key(request.headers, services.api_keys)


async def _endpoint(request: Request) -> tuple[Services, Endpoint]:
    services, tenant = _tenant(request)
    endpoint = await services.deliveries.endpoint(tenant, request.path_params["endpoint_id"])
    if endpoint is None:
        raise Problem(404, "endpoint_not_found", f"no webhook endpoint {request.path_params['endpoint_id']!r}")
    return services, endpoint


async def create_endpoint(request: Request) -> JSONResponse:
    services, tenant = _tenant(request)
    try:
        spec = EndpointSpec.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = field_errors(exc)
        raise Problem(422, "invalid_endpoint", "the webhook endpoint is not valid", errors=errors) from exc
    try:
        await services.destinations.check(spec.url)
    except DestinationRefused as exc:
        raise Problem(422, "refused_destination", str(exc), errors=[{"loc": ["url"], "msg": str(exc)}]) from exc
    if len(await services.deliveries.endpoints(tenant)) >= MAX_ENDPOINTS:
        # Every event is a delivery to each endpoint: a tenant with thousands would make every event thousands of requests.
        raise Problem(409, "too_many_endpoints", f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints; remove one first")
    endpoint, secret = await services.deliveries.add_endpoint(
        tenant, spec.url, [t.value for t in dict.fromkeys(spec.event_types)], spec.description, spec.secret
    )
    body = {**endpoint.public(), "secret": secret}
    return JSONResponse(body, status_code=201, headers={"Location": f"/api/v1/webhooks/endpoints/{endpoint.id}"})


async def list_endpoints(request: Request) -> JSONResponse:
    services, tenant = _tenant(request)
    return JSONResponse({"endpoints": [e.public() for e in await services.deliveries.endpoints(tenant)]})


async def delete_endpoint(request: Request) -> Response:
    services, endpoint = await _endpoint(request)
    await services.deliveries.delete_endpoint(endpoint.id)
    return Response(status_code=204)


async def rotate_secret(request: Request) -> JSONResponse:
    """A new secret signs from now on; the previous one keeps signing beside it while receivers switch."""
    services, endpoint = await _endpoint(request)
    return JSONResponse({"secret": await services.deliveries.rotate_secret(endpoint)})


async def retire_previous_secrets(request: Request) -> JSONResponse:
    """Once receivers verify with the newest secret: the older ones stop signing (a leaked one stops being valid)."""
    services, endpoint = await _endpoint(request)
    dropped = await services.deliveries.retire_previous_secrets(endpoint)
    refreshed = await services.deliveries.endpoint(endpoint.tenant, endpoint.id)
    assert refreshed is not None
    return JSONResponse({**refreshed.public(), "secrets_retired": dropped})


async def enable_endpoint(request: Request) -> JSONResponse:
    """Turn an endpoint back on (after a 410 disabled it); what it missed can be replayed from the dead letters."""
    services, endpoint = await _endpoint(request)
    await services.deliveries.set_enabled(endpoint.id, True)
    services.dispatcher.wake()
    refreshed = await services.deliveries.endpoint(endpoint.tenant, endpoint.id)
    assert refreshed is not None
    return JSONResponse(refreshed.public())


async def list_deliveries(request: Request) -> JSONResponse:
    """Deliveries with every attempt (`?status=dead` is the dead-letter list; `?event_id=` one event's history)."""
    services, tenant = _tenant(request)
    status = request.query_params.get("status")
    if status is not None and status not in (PENDING, DELIVERED, DEAD):
        raise Problem(422, "invalid_query", f"status must be one of {PENDING}, {DELIVERED}, {DEAD}")
    limit = _limit(request.query_params.get("limit"))
    before = _cursor(request.query_params.get("cursor"))
    rows = await services.deliveries.deliveries(
        tenant, status=status, event_id=request.query_params.get("event_id"), limit=limit, before=before
    )
    last = rows[-1] if len(rows) == limit else None
    next_cursor = base64.urlsafe_b64encode(json.dumps([last.created_at, last.id]).encode()).decode() if last is not None else None
    return JSONResponse({"deliveries": [row.model_dump(mode="json") for row in rows], "next_cursor": next_cursor})


MAX_PAGE = 500


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise Problem(422, "invalid_query", f"limit is a number from 1 to {MAX_PAGE}")
    return int(raw)


def _cursor(raw: str | None) -> tuple[float, str] | None:
    """The page after the one whose `next_cursor` this is."""
    if raw is None:
        return None
    try:
        created_at, delivery_id = json.loads(base64.urlsafe_b64decode(raw.encode()[:512]))
        return float(created_at), str(delivery_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise Problem(422, "invalid_cursor", "cursor is not one this API gave (use next_cursor as it came)") from exc


async def replay_delivery(request: Request) -> JSONResponse:
    services, tenant = _tenant(request)
    delivery_id = request.path_params["delivery_id"]
    if not await services.deliveries.replay(tenant, delivery_id):
        raise Problem(404, "delivery_not_found", f"no delivery {delivery_id!r}")
    services.dispatcher.wake()
    return JSONResponse({"id": delivery_id, "status": PENDING}, status_code=202)
