"""How loaded this node is, and what follows: admit new interviews, or refuse them and shed work by priority.

Every `PROBE_S` the node reads, on its event loop:

- the loop's lag: how much later than asked a timer fired (the loop carries every session's RTP, events and sockets);
- the recogniser's backlog: how long the oldest queued caption final (or early final) has waited to start;
- the recogniser's utilisation: the share of its final-decoding threads busy over the last ten seconds (queues grow
  steeply as it nears one, so this sees a node filling up before its finals wait);
- analysis audio dropped: chunks the analysis fell too far behind to take, in any session.

Over the last `window_s` these give a level (the window makes it come down only once the node has kept up that long):

- OK: new interviews are admitted while the node carries fewer media sessions than its limit;
- STRAINED (loop lag p90 at `loop_lag_s`, a final waiting `final_wait_s`, or the recogniser `recogniser_busy`): no
  new interview is admitted, and partial captions are shed (they are the cheapest to lose: the final replaces them);
- BEHIND (twice the lag or the wait, the recogniser saturated, or audio dropped): face and emotion analysis also
  sample video at a third of their rate.
  Finals, answer scoring and recording are never shed.

Those signals show strain only once it has begun, seconds after the interviews that caused it arrived (together, at
the start of a slot). So the node also counts ahead: a new session is admitted only while it fits the machine's usable
cores at what one of its sessions costs (server/ops/cpu_headroom.py).

The limit is learned: the node starts at `max_sessions`; when load that stays (the loop's lag, the recogniser's
utilisation, dropped audio; not one final kept waiting by a burst) strains it while it carries N media sessions (the
most over the last ten seconds), its limit becomes N - 1, so an interview that ends is not replaced by one that would
strain it again; each `recover_s` it spends at OK, having carried as many sessions as its limit, the limit rises by
one, so a passing strain (another process on the machine) costs capacity for a while, not for good, and a node that
sat idle has not learned that it carries more. An interview already under way (its candidate reconnecting) is never
refused for load.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from server.ops.cpu_headroom import CpuHeadroom

logger = logging.getLogger(__name__)

PROBE_S = 0.1
LAG_QUANTILE = 0.9  # one slow callback (a GC pause) in a window is not a strained loop
BEHIND_FACTOR = 2.0
SATURATED = 0.95  # the recogniser's threads busy this share of the time: behind
# The sessions that caused a strain are the most the node carried over this long before it: the recogniser's
# utilisation is an average over ten seconds, and sessions ending meanwhile did not lighten what it measured.
CARRIED_WINDOW_S = 10.0
BEHIND_SAMPLE_SLOWDOWN = 3.0  # face and emotion sample rate while behind: 5 fps -> 1.7 fps, the result held between


class LoadLevel(enum.IntEnum):
    OK = 0
    STRAINED = 1
    BEHIND = 2


@dataclass(frozen=True)
class LoadThresholds:
    loop_lag_s: float = 0.1
    final_wait_s: float = 0.5
    recogniser_busy: float = 0.7
    window_s: float = 5.0
    recover_s: float = 60.0


@dataclass(frozen=True)
class LoadReading:
    """What the node measured in the last window."""

    loop_lag_s: float  # LAG_QUANTILE of the window's probes
    final_wait_s: float  # the longest a queued final waited, over the window
    recogniser_busy: float  # share of the final-decoding threads busy, now (over the recogniser's own window)
    audio_dropped: bool  # analysis audio was dropped in the window


class NodeLoad:
    """The node's load and admission. `run()` is its probe (a task for the app's lifetime); `admits()` asks before a
    new media session opens; `on_level` is called with each new level (the composition sheds work there)."""

    def __init__(
        self,
        max_sessions: int,
        thresholds: LoadThresholds = LoadThresholds(),
        *,
        final_wait_s: Callable[[], float] = lambda: 0.0,
        recogniser_busy: Callable[[], float] = lambda: 0.0,
        audio_dropped_total: Callable[[], float] = lambda: 0.0,
        sessions: Callable[[], int] = lambda: 0,
        on_level: Callable[[LoadLevel], None] = lambda level: None,
        observe_loop_lag: Callable[[float], None] | None = None,
        cpu: CpuHeadroom | None = None,
        enforce: bool = True,
    ) -> None:
        self.max_sessions = max_sessions
        self.thresholds = thresholds
        self.enforce = enforce  # False: measured and reported, never refusing or shedding
        self._final_wait_s = final_wait_s
        self._recogniser_busy = recogniser_busy
        self._busy = 0.0
        self._audio_dropped_total = audio_dropped_total
        self._sessions = sessions
        self._on_level = on_level
        self._observe_loop_lag = observe_loop_lag
        self.cpu = cpu
        window = max(1, round(thresholds.window_s / PROBE_S))
        self._lags: collections.deque[float] = collections.deque(maxlen=window)
        self._waits: collections.deque[float] = collections.deque(maxlen=window)
        self._drops: collections.deque[float] = collections.deque(maxlen=window)
        self._carried: collections.deque[int] = collections.deque(maxlen=round(CARRIED_WINDOW_S / PROBE_S))
        self._last_dropped_total: float | None = None
        self.level = LoadLevel.OK
        self.limit = max_sessions
        self._ok_since: float | None = None
        self._steady = False  # strained by load that stays, at the last probe
        self._reached_limit = False  # carried as many sessions as its limit since the node was last strained
        self.refused = 0
        self.strains = 0  # times the node went from OK to strained or behind

    def admits(self, *, resuming: bool = False) -> bool:
        """Whether a new media session may open now. `resuming`: its interview is already under way (never refused
        for load, only at `max_sessions`)."""
        sessions = self._sessions()
        if sessions >= self.max_sessions:
            return False
        if resuming or not self.enforce:
            return True
        return self.level == LoadLevel.OK and sessions < self.limit and (self.cpu is None or self.cpu.admits(sessions))

    def refuse(self) -> None:
        """Count a session refused for load (for the metrics and the heartbeat)."""
        self.refused += 1

    @property
    def sample_slowdown(self) -> float:
        """How many times less often video is sampled for face and emotion analysis now."""
        return BEHIND_SAMPLE_SLOWDOWN if self.enforce and self.level == LoadLevel.BEHIND else 1.0

    @property
    def cpu_capacity(self) -> int | None:
        """Sessions the usable cores carry now, counting those carried; None where the node does not count its CPU."""
        return None if self.cpu is None else self.cpu.reading(self._sessions()).capacity

    @property
    def accepting(self) -> bool:
        return self.admits()

    def info(self) -> dict[str, object]:
        """For the node's heartbeat and /api/v1/nodes: whether a load balancer should send it new interviews, and why."""
        reading = self.reading()
        info: dict[str, object] = {
            "accepting_interviews": self.accepting,
            "load_level": self.level.name.lower(),
            "session_limit": self.limit,
            "sessions_refused": self.refused,
            "loop_lag_s": round(reading.loop_lag_s, 4),
            "final_wait_s": round(reading.final_wait_s, 3),
            "recogniser_busy": round(reading.recogniser_busy, 3),
        }
        if self.cpu is not None:
            cpu = self.cpu.reading(self._sessions())
            info |= {
                "cpu_session_capacity": cpu.capacity,
                "cpu_usable_cores": round(cpu.usable_cores, 2),
                "cpu_busy_cores": round(cpu.busy_cores, 2),
                "cpu_cores_per_session": round(cpu.session_cost_cores, 3),
                "cpu_cost_measured": cpu.measured,
                "cpu_own_cores": round(cpu.own_cores, 3),
                "cpu_demand_cores": round(cpu.demand_cores, 3),
            }
        return info

    def reading(self) -> LoadReading:
        lags = sorted(self._lags)
        lag = lags[min(len(lags) - 1, math.floor(LAG_QUANTILE * len(lags)))] if lags else 0.0
        return LoadReading(
            loop_lag_s=lag,
            final_wait_s=max(self._waits, default=0.0),
            recogniser_busy=self._busy,
            audio_dropped=any(d > 0 for d in self._drops),
        )

    def observe(self, loop_lag_s: float, now: float) -> LoadLevel:
        """One probe: the loop's lag now, with the other signals read at the same moment; returns the level."""
        self._lags.append(loop_lag_s)
        self._waits.append(self._final_wait_s())
        total = self._audio_dropped_total()
        self._drops.append(0.0 if self._last_dropped_total is None else max(0.0, total - self._last_dropped_total))
        self._last_dropped_total = total
        self._busy = self._recogniser_busy()
        sessions = self._sessions()
        self._carried.append(sessions)
        if self.cpu is not None:
            self.cpu.sample(now, sessions)
        reading = self.reading()
        t = self.thresholds
        if (
            reading.audio_dropped
            or reading.loop_lag_s >= BEHIND_FACTOR * t.loop_lag_s
            or reading.final_wait_s >= BEHIND_FACTOR * t.final_wait_s
            or reading.recogniser_busy >= SATURATED
        ):
            level = LoadLevel.BEHIND
        elif reading.loop_lag_s >= t.loop_lag_s or reading.final_wait_s >= t.final_wait_s or reading.recogniser_busy >= t.recogniser_busy:
            level = LoadLevel.STRAINED
        else:
            level = LoadLevel.OK
        # A final kept waiting may be a passing burst (every candidate of a slot hanging up at once): it refuses and
        # sheds while it lasts, but only load that stays (a busy recogniser or loop, analysis dropping audio) teaches
        # the node a lower limit.
        steady = reading.audio_dropped or reading.loop_lag_s >= t.loop_lag_s or reading.recogniser_busy >= t.recogniser_busy
        self._learn(level, steady, now, sessions)
        if level != self.level:
            previous, self.level = self.level, level
            logger.log(
                logging.WARNING if level > previous else logging.INFO,
                "node load %s -> %s (loop lag p90 %.3f s, final waited %.2f s, recogniser %.0f %% busy, audio dropped: %s; "
                "%d sessions, limit %d)",
                previous.name.lower(),
                level.name.lower(),
                reading.loop_lag_s,
                reading.final_wait_s,
                100 * reading.recogniser_busy,
                "yes" if reading.audio_dropped else "no",
                self._sessions(),
                self.limit,
            )
            if self.enforce:
                self._on_level(level)
        return level

    def _learn(self, level: LoadLevel, steady: bool, now: float, sessions: int) -> None:
        if level == LoadLevel.OK:
            self._reached_limit = self._reached_limit or sessions >= self.limit
            if self._ok_since is None:
                self._ok_since = now
            elif now - self._ok_since >= self.thresholds.recover_s:
                if self._reached_limit and self.limit < self.max_sessions:
                    self.limit += 1
                    self._reached_limit = sessions >= self.limit
                self._ok_since = now
        else:
            self._ok_since = None
            self._reached_limit = False
            if self.level == LoadLevel.OK:
                self.strains += 1
        if steady and not self._steady:
            carried = max(self._carried, default=0)
            if carried > 1:
                self.limit = min(self.limit, carried - 1)
        self._steady = steady

    async def run(self) -> None:
        """Runs until cancelled: sleeps PROBE_S and observes how much later than that the loop woke it."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(PROBE_S)
            now = loop.time()
            lag = max(0.0, now - started - PROBE_S)
            if self._observe_loop_lag is not None:
                self._observe_loop_lag(lag)
            self.observe(lag, now)
