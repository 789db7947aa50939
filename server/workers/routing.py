"""Which worker takes a connection: the request line says which interview it belongs to (if any), and an interview
stays on the worker that first took it while it lives there.

Only the media and the candidate's socket need one process (the WHIP offer, its PATCH and DELETE, the candidate's
websocket): they meet in that worker's session registry. Everything else reads and writes the shared store and bus,
so any worker serves it, in turn. A new interview goes to the ready worker carrying the fewest sessions that
accepts interviews (counting those sent to it that it does not report running yet), so a slot's candidates spread
evenly.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from server.cluster.worker_hub import REPORTED_CLIENTS

REQUEST_LINE = re.compile(rb"^([A-Z]{3,10}) (\S{1,8000}) HTTP/1\.[01]\r?\n")
# The interview's own media and socket; ice-servers too, so the candidate page's first call shows where it will run.
AFFINITY_PATHS = (
    re.compile(r"^/api/v1/interviews/([^/]{1,128})/whip(?:/[^/]{1,128})?$"),
    re.compile(r"^/api/v1/interviews/([^/]{1,128})/ice-servers$"),
    re.compile(r"^/ws/interviews/([^/]{1,128})$"),
)
# Served anywhere, but the worker running the interview adds what only it knows (the live media's counters).
FOLLOWING_PATHS = (re.compile(r"^/api/v1/interviews/([^/]{1,128})$"),)


@dataclass(frozen=True)
class RequestTarget:
    method: str
    path: str
    query: str


def request_target(head: bytes) -> RequestTarget | None:
    """The method and target of an HTTP/1.x request line at the start of `head`; None if it is not one (yet)."""
    match = REQUEST_LINE.match(head)
    if match is None:
        return None
    method, target = match.group(1).decode(), match.group(2).decode("latin-1")
    parts = urlsplit(target)
    return RequestTarget(method, parts.path, parts.query)


def affinity_key(target: RequestTarget) -> str | None:
    """The interview whose worker must serve this request, or None if any worker may."""
    for pattern in AFFINITY_PATHS:
        if match := pattern.match(target.path):
            return match.group(1)
    return None


def following_key(target: RequestTarget) -> str | None:
    """The interview whose worker, if one runs it, should serve this request (any worker otherwise)."""
    for pattern in FOLLOWING_PATHS:
        if match := pattern.match(target.path):
            return match.group(1)
    return None


def metrics_worker(target: RequestTarget) -> int | None:
    """`GET /metrics?worker=N` asks one worker for its own figures (a scraper asks each in turn)."""
    if target.path != "/metrics":
        return None
    values = parse_qs(target.query).get("worker", [])
    return int(values[0]) if values and values[0].isdigit() else 0


@dataclass
class WorkerLoad:
    """What a worker last reported about itself, and the interviews sent to it that it does not report yet."""

    ready: bool = False
    sessions: int = 0
    accepting: bool = True
    held: frozenset[str] = frozenset()
    arriving: dict[str, float] = field(default_factory=dict)  # interview -> when it was sent here

    @property
    def weight(self) -> int:
        # A worker holds an interview a moment before its media session opens (the WHIP offer is still being
        # answered): a report from that moment lists it as held, so no longer arriving, but not yet as a session.
        return max(self.sessions, len(self.held)) + len(self.arriving)


@dataclass
class WorkerTable:
    """The live workers' loads and the interviews placed on them; `max_placements` bounds the memory it holds."""

    max_placements: int = 100_000
    placement_ttl_s: float = 6 * 3600.0
    arriving_s: float = 10.0  # an interview sent to a worker and not running there by then (refused, abandoned) stops counting
    loads: dict[int, WorkerLoad] = field(default_factory=dict)
    _placements: OrderedDict[str, tuple[int, float]] = field(default_factory=OrderedDict)
    _turn: int = 0

    def reported(self, index: int, *, sessions: int, accepting: bool, held: frozenset[str]) -> None:
        now = time.monotonic()
        # A report may be read before the interview just sent arrives: it counts as arriving until the worker runs it.
        earlier = self.loads.get(index)
        arriving = {i: at for i, at in (earlier.arriving.items() if earlier else ()) if i not in held and now - at < self.arriving_s}
        self.loads[index] = WorkerLoad(ready=True, sessions=sessions, accepting=accepting, held=held, arriving=arriving)
        for interview_id in held:  # what a worker says it runs is where it runs
            self._place(interview_id, index, now)

    def gone(self, index: int) -> None:
        """A worker exited: nothing is routed to it until its successor reports ready."""
        self.loads.pop(index, None)
        for interview_id in [i for i, (w, _) in self._placements.items() if w == index]:
            del self._placements[interview_id]

    def ready(self) -> list[int]:
        return sorted(index for index, load in self.loads.items() if load.ready)

    def choose(self, key: str | None, now: float | None = None, *, follow: str | None = None) -> int | None:
        """The worker for a request with affinity `key` (None: any; `follow`: the worker that has that interview, if
        any, without placing it); None while no worker is ready."""
        ready = self.ready()
        if not ready:
            return None
        if follow is not None and key is None:
            placed = self._placements.get(follow)
            if placed is not None and placed[0] in self.loads:
                return placed[0]
        if key is None:
            self._turn = (self._turn + 1) % len(ready)
            return ready[self._turn]
        now = time.monotonic() if now is None else now
        placed = self._placements.get(key)
        if placed is not None and placed[0] in self.loads and now - placed[1] < self.placement_ttl_s:
            self._place(key, placed[0], now)
            return placed[0]
        accepting = [i for i in ready if self.loads[i].accepting] or ready
        index = min(accepting, key=lambda i: (self.loads[i].weight, i))
        self.loads[index].arriving[key] = now
        self._place(key, index, now)
        return index

    def holder(self, interview_id: str) -> int | None:
        """The worker that says it runs `interview_id` live."""
        for index, load in self.loads.items():
            if interview_id in load.held:
                return index
        return None

    def _place(self, key: str, index: int, now: float) -> None:
        self._placements[key] = (index, now)
        self._placements.move_to_end(key)
        while len(self._placements) > self.max_placements:
            self._placements.popitem(last=False)

    @property
    def placements(self) -> int:
        return len(self._placements)


HANDED_RECENTLY_S = 1.0  # a connection handed over and in no report yet counts here at most this long


@dataclass
class ClientCounts:
    """One address's connections across the node, for the per-address cap each worker alone would apply only to its
    share: what each worker last reported, the connections handed over that its report did not count yet (it says how
    many it has taken in all), and those still sending their request line to the supervisor (`max_waiting` at once:
    one address cannot fill the supervisor's waiting room)."""

    max_per_client: int
    max_waiting: int
    _waiting: dict[str, int] = field(default_factory=dict)
    _reported: dict[int, dict[str, int]] = field(default_factory=dict)
    _sent: dict[int, int] = field(default_factory=dict)  # worker -> connections handed to it
    _handed: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)  # address -> (worker, its number, when)

    def begin_waiting(self, client: str) -> bool:
        """Count a connection whose request line is awaited; False (not counted) if its address has too many."""
        if self._waiting.get(client, 0) >= self.max_waiting:
            return False
        self._waiting[client] = self._waiting.get(client, 0) + 1
        return True

    def end_waiting(self, client: str) -> None:
        left = self._waiting.get(client, 0) - 1
        if left > 0:
            self._waiting[client] = left
        else:
            self._waiting.pop(client, None)

    def reported(self, index: int, clients: dict[str, int], taken: int, now: float | None = None) -> None:
        """Worker `index`'s busiest addresses, counted once it had taken `taken` connections from its line."""
        self._reported[index] = dict(list(clients.items())[:REPORTED_CLIENTS])
        self._expire(time.monotonic() if now is None else now, lambda hand: hand[0] == index and hand[1] <= taken)

    def gone(self, index: int) -> None:
        """Worker `index` exited: its successor numbers its connections from the start."""
        self._reported.pop(index, None)
        self._sent.pop(index, None)
        self._expire(time.monotonic(), lambda hand: hand[0] == index)

    def admits(self, client: str, now: float | None = None) -> bool:
        """Whether one more connection from `client` stays within the node's per-address cap."""
        now = time.monotonic() if now is None else now
        handed = sum(1 for hand in self._handed.get(client, ()) if now - hand[2] < HANDED_RECENTLY_S)
        held = sum(clients.get(client, 0) for clients in self._reported.values())
        return held + handed < self.max_per_client

    def handed(self, client: str, index: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._sent[index] = number = self._sent.get(index, 0) + 1
        self._handed.setdefault(client, []).append((index, number, now))
        if len(self._handed) > 10_000:  # addresses handed over in the last second: keep only those still in it
            self._expire(now, lambda hand: False)

    def _expire(self, now: float, counted: Callable[[tuple[int, int, float]], bool]) -> None:
        self._handed = {
            client: left
            for client, hands in self._handed.items()
            if (left := [hand for hand in hands if now - hand[2] < HANDED_RECENTLY_S and not counted(hand)])
        }
