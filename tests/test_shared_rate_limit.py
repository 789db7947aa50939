"""Shared rate limit: with Redis a tenant has one budget across nodes; with Redis down each node limits on its own."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import LiveServer, make_settings, serving
from tests.helpers.redis_server import RedisServer

ACME, GLOBEX = "acme-key-0123456789abcdef", "globex-key-0123456789abcdef"
BURST = 6
# So slow that no token comes back during the test: the counts below are exact.
RATE = 0.001


def limited(data_dir: Path, redis_url: str | None, node_id: str):  # type: ignore[no-untyped-def]
    return make_settings(
        data_dir,
        api_keys=[],
        tenants={"acme": [ACME], "globex": [GLOBEX]},
        node_id=node_id,
        hr_rate_limit_per_s=RATE,
        hr_rate_limit_burst=BURST,
        redis_url=redis_url,
        redis_prefix="rate-test:",
    )


async def stats(node: LiveServer, key: str) -> int:
    response = await node.http.get(f"{node.url}/api/v1/stats", headers={"X-API-Key": key})
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) >= 1 and response.json()["code"] == "rate_limited"
    return response.status_code


async def test_requests_spread_over_two_nodes_spend_one_budget_per_tenant(tmp_path: Path, redis_server: RedisServer) -> None:
    async with (
        serving(limited(tmp_path / "data", redis_server.url, "node-a")) as a,
        serving(limited(tmp_path / "data", redis_server.url, "node-b")) as b,
    ):
        statuses = [(node.settings.node_id, await stats(node, ACME)) for _ in range(BURST) for node in (a, b)]
        allowed = [node_id for node_id, status in statuses if status == 200]
        assert len(allowed) == BURST and {"node-a", "node-b"} <= set(allowed), statuses
        assert [status for _, status in statuses].count(429) == BURST
        assert await stats(b, GLOBEX) == 200  # another tenant's budget is untouched
        assert a.services.shared_rate_limit is not None and a.services.shared_rate_limit.fallbacks == 0


async def test_with_redis_down_each_node_falls_back_to_its_own_bucket_and_counts_it(tmp_path: Path, redis_server: RedisServer) -> None:
    async with serving(limited(tmp_path / "data", redis_server.url, "node-a")) as a:
        redis_server.stop()
        statuses = [await stats(a, ACME) for _ in range(BURST + 2)]
        assert statuses == [200] * BURST + [429, 429]
        shared = a.services.shared_rate_limit
        assert shared is not None and shared.fallbacks == BURST + 2
        metrics = (await a.http.get(f"{a.url}/metrics")).text
        assert f"interview_rate_limit_fallbacks_total {float(BURST + 2)}" in metrics


async def test_without_redis_the_limit_is_per_node_as_before(tmp_path: Path) -> None:
    async with serving(limited(tmp_path / "data", None, "node-a")) as a, serving(limited(tmp_path / "data", None, "node-b")) as b:
        statuses = [await stats(node, ACME) for _ in range(BURST) for node in (a, b)]
        assert statuses == [200] * (2 * BURST)
        assert await stats(a, ACME) == 429 and a.services.shared_rate_limit is None
