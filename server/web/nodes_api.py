"""The cluster's nodes as an operator sees them: who is alive with what load, and asking one to drain."""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse

from server.cluster.node_registry import node_topic
from server.web.auth import require_operator_key
from server.web.context import Services, services_of
from server.web.problems import Problem


def _caller(request: Request) -> Services:
    services = services_of(request)
    require_operator_key(request.headers, services.settings.operator_api_keys(), services.api_keys)
    return services


async def _nodes(services: Services) -> list[dict[str, object]]:
    try:
        return await services.node.nodes()
    except (RedisError, OSError) as exc:
        raise Problem(
            503, "cluster_unavailable", f"Redis is unreachable, so other nodes cannot be listed: {exc}", headers={"Retry-After": "5"}
        ) from exc


async def list_nodes(request: Request) -> JSONResponse:
    """Every live node (heartbeat not expired), this one first; without Redis, only this one."""
    services = _caller(request)
    return JSONResponse({"nodes": await _nodes(services)})


async def drain_node(request: Request) -> JSONResponse:
    """Stop a node taking new interviews while its live ones finish; any node of the cluster passes the request on."""
    services = _caller(request)
    node_id = request.path_params["node_id"]
    if node_id == services.node.node_id:
        services.node.drain()
        services.node.beat_soon()
        return JSONResponse(services.node.info())
    if not any(n["node_id"] == node_id for n in await _nodes(services)):
        raise Problem(404, "node_not_found", f"no live node {node_id!r}")
    # The bus drops what it cannot send: the caller sees the flag in GET /api/v1/nodes and may ask again.
    services.bus.publish(node_topic(node_id), {"type": "drain", "requested_by": services.node.node_id})
    return JSONResponse({"node_id": node_id, "drain": "requested"}, status_code=202)
