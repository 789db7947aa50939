"""Webhook endpoints, and each event's deliveries and attempts to them, in the interview database.

Events come from the outbox (`outbox_events`); `fan_out` turns each new one into a delivery per
matching endpoint, in one transaction with the cursor, so a restart neither skips nor repeats one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from server.storage.outbox import OUTBOX_SCHEMA
from server.storage.rows import DeliveryRow
from server.storage.sealed import Sealer
from server.storage.sqlite_connection import SerialConnection, Synchronous, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    event_types TEXT NOT NULL,
    secrets TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_cursor (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES outbox_events(id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    last_status INTEGER,
    last_error TEXT,
    created_at REAL NOT NULL,
    delivered_at REAL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_by_delivery ON webhook_attempts(delivery_id, seq);
"""

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
DISABLED_ERROR = "the endpoint was disabled: enable it and replay this delivery"
MAX_SECRETS = 3  # the newest and up to two being rotated out
MAX_ENDPOINTS = 50  # per tenant: each event becomes a delivery to every one of them


def delivery_id_for(event_id: str, endpoint_id: str) -> str:
    """One delivery per event and endpoint, named alike by both stores and whichever node (or how many) fans the event
    out. A hash, not a random id: random ids cost a system call each (`getrandom`), ten an event at ten endpoints."""
    return "dlv_" + hashlib.sha256(f"{event_id} {endpoint_id}".encode()).hexdigest()[:32]


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Endpoint:
    id: str
    tenant: str
    url: str
    description: str
    event_types: tuple[str, ...]  # empty: every event
    secrets: tuple[str, ...]  # newest first; every one signs, so receivers can rotate
    enabled: bool
    disabled_reason: str | None
    created_at: float

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def public(self) -> dict[str, Any]:
        """As the API shows it: secrets are never read back."""
        return {
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "event_types": list(self.event_types),
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Delivery:
    id: str
    event_id: str
    event_type: str
    payload: str
    endpoint: Endpoint
    attempts: int


@dataclass(frozen=True)
class AttemptResult:
    """One attempt's outcome, to record: the delivery's new status, and when to try again (None: final)."""

    delivery: Delivery
    status_code: int | None
    error: str | None
    duration_ms: float
    outcome: str
    next_attempt_at: float | None


class Deliveries(Protocol):
    """What the webhook API and the stream dispatchers use of a delivery store: `DeliveryStore` (SQLite, beside the SQLite
    interview store) or `RedisDeliveryStore` (redis_webhook_deliveries.py, beside the Redis one)."""

    async def close(self) -> None: ...

    async def add_endpoint(
        self, tenant: str, url: str, event_types: list[str], description: str, secret: str | None
    ) -> tuple[Endpoint, str]: ...

    async def endpoint(self, tenant: str, endpoint_id: str) -> Endpoint | None: ...

    async def endpoints(self, tenant: str) -> list[Endpoint]: ...

    async def rotate_secret(self, endpoint: Endpoint) -> str: ...

    async def retire_previous_secrets(self, endpoint: Endpoint) -> int:
        """Sign with the newest secret alone from now on (receivers have switched); how many secrets were dropped."""
        ...

    async def reseal_secrets(self) -> int:
        """Every endpoint's secrets sealed again with the newest key (after a key rotation); how many endpoints."""
        ...

    async def set_enabled(self, endpoint_id: str, enabled: bool, reason: str | None = None) -> None: ...

    async def delete_endpoint(self, endpoint_id: str) -> None: ...

    async def fan_out(self, event_ids: Collection[str] | None = None, kinds: Mapping[str, tuple[str, str]] | None = None) -> int:
        """Create the deliveries of new events (one per enabled endpoint that wants it); returns how many. SQLite: every
        event its outbox has not fanned out yet (`event_ids` are among them). Redis: those of `event_ids`, the events a
        node holds in the stream; with None, none (Redis finds new events only through the stream). `kinds`: {event id:
        (tenant, type)} that the caller knows (Redis reads the others' from the events; SQLite reads them all)."""
        ...

    async def due(self, now: float, limit: int = 50, event_ids: Collection[str] | None = None) -> list[Delivery]: ...

    async def next_due_at(self, event_ids: Collection[str] | None = None) -> float | None: ...

    async def claim_due(self, now: float, lease_s: float, limit: int, event_ids: Collection[str] | None = None) -> list[Delivery]:
        """Up to `limit` due deliveries, each taken for one attempt (its next attempt a lease ahead, so a crash mid-attempt
        retries it then), which no other pass or node then gets."""
        ...

    async def record_attempts(self, results: Sequence[AttemptResult]) -> None:
        """Many attempts' results at once (one transaction, or one round trip)."""
        ...

    async def unfinished(self, event_ids: Collection[str]) -> set[str]: ...

    async def record_attempt(
        self,
        delivery: Delivery,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        *,
        outcome: str,
        next_attempt_at: float | None,
    ) -> None: ...

    async def deliveries(
        self, tenant: str, status: str | None = None, event_id: str | None = None, limit: int = 100, before: tuple[float, str] | None = None
    ) -> list[DeliveryRow]:
        """Newest first (by creation, then id), each with its attempts; `before`: only those after that (created_at,
        id) in this order, the next page."""
        ...

    async def replay(self, tenant: str, delivery_id: str) -> bool: ...

    async def prune(self, before: float, limit: int = 500) -> int: ...


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    event_id: str


class OutboxRelay(Protocol):
    """SQLite's outbox as the cluster's relay to the Redis stream reads it (the Redis store needs none: its outbox is the
    stream itself)."""

    async def start_relay(self) -> None: ...

    async def unrelayed(self, limit: int = 500) -> list[OutboxEntry]: ...

    async def mark_relayed(self, seq: int) -> None: ...

    async def orphaned(self, now: float, overdue_s: float, limit: int = 100) -> list[str]: ...


class DeliveryStore(SerialConnection):
    """Create with `open(path, sealer)` on the interview database; release with `close()`. Endpoint secrets are stored
    sealed (`sealed.py`)."""

    def __init__(self, db: aiosqlite.Connection, sealer: Sealer) -> None:
        super().__init__(db)
        self._sealer = sealer

    @classmethod
    async def open(cls, path: Path, sealer: Sealer, synchronous: Synchronous = "full") -> DeliveryStore:
        return cls(await connect(path, OUTBOX_SCHEMA + SCHEMA, synchronous), sealer)

    def _sealed(self, secrets: list[str]) -> str:
        return self._sealer.seal(json.dumps(secrets))

    def _endpoint(self, row: aiosqlite.Row) -> Endpoint:
        return _endpoint(row, self._sealer)

    async def reseal_secrets(self) -> int:
        """Every endpoint's secrets sealed with the sealer's newest key (after a key rotation); how many endpoints."""
        rows = await self._read("SELECT id, secrets FROM webhook_endpoints")
        async with self._transaction() as db:
            for row in rows:
                await db.execute("UPDATE webhook_endpoints SET secrets = ? WHERE id = ?", (self._sealer.reseal(row["secrets"]), row["id"]))
        return len(rows)

    # Endpoints

    async def add_endpoint(
        self, tenant: str, url: str, event_types: list[str], description: str, secret: str | None
    ) -> tuple[Endpoint, str]:
        endpoint_id = f"ep_{uuid.uuid4().hex}"
        secret = secret or new_secret()
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO webhook_endpoints (id, tenant, url, description, event_types, secrets, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (endpoint_id, tenant, url, description, json.dumps(event_types), self._sealed([secret]), time.time()),
            )
        endpoint = await self.endpoint(tenant, endpoint_id)
        assert endpoint is not None
        return endpoint, secret

    async def endpoint(self, tenant: str, endpoint_id: str) -> Endpoint | None:
        row = await self._read_one("SELECT * FROM webhook_endpoints WHERE id = ? AND tenant = ?", (endpoint_id, tenant))
        return self._endpoint(row) if row else None

    async def endpoints(self, tenant: str) -> list[Endpoint]:
        return [
            self._endpoint(row)
            for row in await self._read("SELECT * FROM webhook_endpoints WHERE tenant = ? ORDER BY created_at", (tenant,))
        ]

    async def rotate_secret(self, endpoint: Endpoint) -> str:
        """A new signing secret; the previous ones keep signing too until they age out of MAX_SECRETS."""
        secret = new_secret()
        kept = [secret, *endpoint.secrets][:MAX_SECRETS]
        async with self._transaction() as db:
            await db.execute("UPDATE webhook_endpoints SET secrets = ? WHERE id = ?", (self._sealed(kept), endpoint.id))
        return secret

    async def retire_previous_secrets(self, endpoint: Endpoint) -> int:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE webhook_endpoints SET secrets = ? WHERE id = ?", (self._sealed(list(endpoint.secrets[:1])), endpoint.id)
            )
        return len(endpoint.secrets) - 1

    async def set_enabled(self, endpoint_id: str, enabled: bool, reason: str | None = None) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE webhook_endpoints SET enabled = ?, disabled_reason = ? WHERE id = ?", (int(enabled), reason, endpoint_id)
            )

    async def delete_endpoint(self, endpoint_id: str) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))

    # Deliveries

    async def fan_out(self, event_ids: Collection[str] | None = None, kinds: Mapping[str, tuple[str, str]] | None = None) -> int:
        """One delivery per new event and endpoint that wants it (dead at once for a disabled endpoint); returns how many
        were created. Every new event of the outbox, whichever `event_ids` asks for (they are among them; `kinds` is not
        needed: the query reads tenant and type with the events)."""
        events = await self._read(
            "SELECT seq, id, tenant, type FROM outbox_events"
            " WHERE seq > COALESCE((SELECT seq FROM webhook_cursor WHERE name = 'fan_out'), 0) ORDER BY seq LIMIT 500"
        )
        if not events:
            return 0
        endpoints: dict[str, list[Endpoint]] = {}
        for tenant in {event["tenant"] for event in events}:
            endpoints[tenant] = await self.endpoints(tenant)
        now = time.time()
        rows = []
        for index, event in enumerate(events):
            at = now + index * 1e-6  # each event a microsecond after the one before: first written, first sent
            for endpoint in endpoints[event["tenant"]]:
                if endpoint.wants(event["type"]):
                    # A disabled endpoint's delivery is dead at once: listed, and replayed once the endpoint is enabled.
                    status, due, why = (PENDING, at, None) if endpoint.enabled else (DEAD, None, DISABLED_ERROR)
                    rows.append((delivery_id_for(event["id"], endpoint.id), event["id"], endpoint.id, status, due, why, at, event["id"]))
        async with self._transaction() as db:
            # INSERT ... SELECT: an event erased since it was read gets no delivery.
            await db.executemany(
                "INSERT OR IGNORE INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at, last_error, created_at)"
                " SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM outbox_events WHERE id = ?)",
                rows,
            )
            await db.execute(
                "INSERT INTO webhook_cursor (name, seq) VALUES ('fan_out', ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq",
                (events[-1]["seq"],),
            )
        return len(rows)

    _DELIVERY = (
        "SELECT d.id AS delivery_id, d.event_id, d.attempts, e.type, e.payload, p.id, p.tenant, p.url, p.description,"
        " p.event_types, p.secrets, p.enabled, p.disabled_reason, p.created_at FROM webhook_deliveries d"
        " JOIN outbox_events e ON e.id = d.event_id JOIN webhook_endpoints p ON p.id = d.endpoint_id"
    )
    _DUE = _DELIVERY + " WHERE d.status = ? AND d.next_attempt_at <= ? AND p.enabled = 1{only} ORDER BY d.next_attempt_at LIMIT ?"
    _CLAIMED = _DELIVERY + " WHERE d.id IN ({ids}) ORDER BY d.created_at, d.id"

    def _deliveries_of(self, rows: list[aiosqlite.Row]) -> list[Delivery]:
        endpoints: dict[str, Endpoint] = {}  # each endpoint's secrets opened once
        out = []
        for row in rows:
            endpoint = endpoints.get(row["id"])
            if endpoint is None:
                endpoint = endpoints[row["id"]] = self._endpoint(row)
            out.append(Delivery(row["delivery_id"], row["event_id"], row["type"], row["payload"], endpoint, row["attempts"]))
        return out

    async def due(self, now: float, limit: int = 50, event_ids: Collection[str] | None = None) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, to enabled endpoints, oldest first (only of `event_ids`, if given)."""
        only, params = _only_events(event_ids)
        return self._deliveries_of(await self._read(self._DUE.format(only=only), (PENDING, now, *params, limit)))

    async def claim_due(self, now: float, lease_s: float, limit: int, event_ids: Collection[str] | None = None) -> list[Delivery]:
        """Up to `limit` due deliveries, soonest due first, each claimed for one attempt by one statement (UPDATE ...
        RETURNING takes the write lock as it starts, so two claims never return the same delivery), then read with their
        events and endpoints: two trips to the connection's thread where a transaction took nine."""
        only, params = _only_events(event_ids)
        claimed = await self._write_fetch(
            "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id IN (SELECT d.id FROM webhook_deliveries d"
            " JOIN webhook_endpoints p ON p.id = d.endpoint_id WHERE d.status = ? AND d.next_attempt_at <= ? AND p.enabled = 1"
            f"{only} ORDER BY d.next_attempt_at LIMIT ?) RETURNING id",
            (now + lease_s, PENDING, now, *params, limit),
        )
        ids = [row["id"] for row in claimed]
        if not ids:
            return []
        rows = await self._read(self._CLAIMED.format(ids=", ".join("?" * len(ids))), ids)
        return self._deliveries_of(rows)

    async def next_due_at(self, event_ids: Collection[str] | None = None) -> float | None:
        # ORDER BY ... LIMIT 1 walks the (status, next_attempt_at) index and stops at the first delivery to an enabled
        # endpoint; MIN() over the join read every pending delivery (8 ms a pass with 30,000 waiting).
        only, params = _only_events(event_ids)
        row = await self._read_one(
            "SELECT d.next_attempt_at AS at FROM webhook_deliveries d JOIN webhook_endpoints p ON p.id = d.endpoint_id"
            f" WHERE d.status = ? AND p.enabled = 1{only} ORDER BY d.next_attempt_at LIMIT 1",
            (PENDING, *params),
        )
        return row["at"] if row else None

    # The cluster's relay to the Redis stream (hrms_bridge/stream.py)

    async def unrelayed(self, limit: int = 500) -> list[OutboxEntry]:
        """Events fanned out but not yet in the stream, oldest first."""
        rows = await self._read(
            "SELECT seq, id FROM outbox_events WHERE seq > (SELECT seq FROM webhook_cursor WHERE name = 'relay')"
            " AND seq <= COALESCE((SELECT seq FROM webhook_cursor WHERE name = 'fan_out'), 0) ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [OutboxEntry(row["seq"], row["id"]) for row in rows]

    async def mark_relayed(self, seq: int) -> None:
        """Events up to `seq` are in the stream (never moves back: two nodes may relay the same events)."""
        async with self._transaction() as db:
            await db.execute("UPDATE webhook_cursor SET seq = MAX(seq, ?) WHERE name = 'relay'", (seq,))

    async def start_relay(self) -> None:
        """Create the relay cursor, once: relay from the oldest event that still has a pending delivery (what an earlier
        single node left unsent), not from the beginning of history."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO webhook_cursor (name, seq) SELECT 'relay', COALESCE("
                " (SELECT MIN(e.seq) - 1 FROM outbox_events e JOIN webhook_deliveries d ON d.event_id = e.id WHERE d.status = ?),"
                " (SELECT seq FROM webhook_cursor WHERE name = 'fan_out'), 0)",
                (PENDING,),
            )

    async def unfinished(self, event_ids: Collection[str]) -> set[str]:
        """Those of `event_ids` that still have a pending delivery (the others reached a final outcome everywhere)."""
        only, params = _only_events(event_ids)
        rows = await self._read(f"SELECT DISTINCT d.event_id FROM webhook_deliveries d WHERE d.status = ?{only}", (PENDING, *params))
        return {row["event_id"] for row in rows}

    async def orphaned(self, now: float, overdue_s: float, limit: int = 100) -> list[str]:
        """Events with a delivery due for more than `overdue_s` that nobody sent: their stream entry was lost
        (Redis restarted empty) or acknowledged before a replay. The relay puts them in the stream again."""
        rows = await self._read(
            "SELECT DISTINCT d.event_id FROM webhook_deliveries d JOIN webhook_endpoints p ON p.id = d.endpoint_id"
            " WHERE d.status = ? AND p.enabled = 1 AND d.next_attempt_at < ? LIMIT ?",
            (PENDING, now - overdue_s, limit),
        )
        return [row["event_id"] for row in rows]

    async def record_attempt(
        self,
        delivery: Delivery,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        *,
        outcome: str,
        next_attempt_at: float | None,
    ) -> None:
        """One attempt's result, and the delivery's new state, in one transaction."""
        await self.record_attempts([AttemptResult(delivery, status_code, error, duration_ms, outcome, next_attempt_at)])

    async def record_attempts(self, results: Sequence[AttemptResult]) -> None:
        """Attempts' results and their deliveries' new states, in one transaction."""
        now = time.time()
        async with self._transaction() as db:
            # A delivery may have been erased (with its candidate's data) while its attempt was on the wire.
            await db.executemany(
                "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)"
                " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?)",
                [
                    (r.delivery.id, r.delivery.attempts + 1, now, r.status_code, r.error, round(r.duration_ms, 1), r.delivery.id)
                    for r in results
                ],
            )
            await db.executemany(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?, last_error = ?,"
                " delivered_at = ? WHERE id = ?",
                [
                    (
                        r.outcome,
                        r.delivery.attempts + 1,
                        r.next_attempt_at,
                        r.status_code,
                        r.error,
                        now if r.outcome == DELIVERED else None,
                        r.delivery.id,
                    )
                    for r in results
                ],
            )

    async def deliveries(
        self, tenant: str, status: str | None = None, event_id: str | None = None, limit: int = 100, before: tuple[float, str] | None = None
    ) -> list[DeliveryRow]:
        query = (
            "SELECT d.id, d.event_id, e.type AS event_type, d.endpoint_id, d.status, d.attempts, d.next_attempt_at,"
            " d.last_status, d.last_error, d.created_at, d.delivered_at FROM webhook_deliveries d"
            " JOIN outbox_events e ON e.id = d.event_id WHERE e.tenant = ?"
        )
        params: list[Any] = [tenant]
        if status is not None:
            query += " AND d.status = ?"
            params.append(status)
        if event_id is not None:
            query += " AND d.event_id = ?"
            params.append(event_id)
        if before is not None:
            query += " AND (d.created_at < ? OR (d.created_at = ? AND d.id < ?))"
            params += [before[0], before[0], before[1]]
        query += " ORDER BY d.created_at DESC, d.id DESC LIMIT ?"
        params.append(limit)
        rows = []
        for row in await self._read(query, params):
            history = await self._read(
                "SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts WHERE delivery_id = ? ORDER BY seq", (row["id"],)
            )
            rows.append(DeliveryRow.model_validate({**dict(row), "history": [dict(a) for a in history]}))
        return rows

    async def replay(self, tenant: str, delivery_id: str) -> bool:
        """Queue a dead (or delivered) delivery again, now, with the same event id; False if there is none."""
        if (
            await self._read_one(
                "SELECT d.id FROM webhook_deliveries d JOIN outbox_events e ON e.id = d.event_id WHERE d.id = ? AND e.tenant = ?",
                (delivery_id, tenant),
            )
            is None
        ):
            return False
        async with self._transaction() as db:
            await db.execute(
                "UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, attempts = 0 WHERE id = ?",
                (PENDING, time.time(), delivery_id),
            )
        return True

    async def prune(self, before: float, limit: int = 500) -> int:
        """Remove up to `limit` events created before `before` whose deliveries are all final (delivered or dead), with
        those deliveries and their attempts; returns how many events went. One not fanned out yet, or with a delivery
        pending (a replay's included), stays."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM outbox_events WHERE id IN (SELECT e.id FROM outbox_events e WHERE e.created_at < ?"
                " AND e.seq <= COALESCE((SELECT seq FROM webhook_cursor WHERE name = 'fan_out'), 0)"
                " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = ?)"
                " ORDER BY e.seq LIMIT ?)",
                (before, PENDING, limit),
            )
            return cursor.rowcount


def _only_events(event_ids: Collection[str] | None) -> tuple[str, tuple[str, ...]]:
    """A condition on d.event_id for `event_ids` (None: no condition), as one JSON parameter whatever their number."""
    if event_ids is None:
        return "", ()
    return " AND d.event_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(event_ids)),)


def _endpoint(row: aiosqlite.Row, sealer: Sealer) -> Endpoint:
    return Endpoint(
        id=row["id"],
        tenant=row["tenant"],
        url=row["url"],
        description=row["description"],
        event_types=tuple(json.loads(row["event_types"])),
        secrets=tuple(json.loads(sealer.open_often(row["secrets"]))),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
    )
