"""How many media sessions this machine's CPU carries: the cores this process may use, how busy they are, and what
one of its sessions costs.

The node's other load signals (event-loop lag, finals waiting, the recogniser's utilisation) show strain only once it
has begun, up to ten seconds after the interviews that caused it were admitted; candidates of one slot arrive
together, so by then the node has taken several too many. This counts ahead instead:

- usable cores: `share` of the CPUs this process may run on (its affinity), or of its cgroup's quota when lower;
- others: what other processes used on those CPUs (the machine's /proc/stat for them, or the cgroup's own usage when
  it has a quota, less this process's), the median second of the last `WINDOW_S`: a load generator or a neighbour
  on the same cores counts, a process starting for a few seconds does not;
- one session's cost: this process's CPU over the window, less what it uses with no session (the median second of a
  window without any), per session carried;
  the highest over the last `COST_MEMORY_S` (a candidate's answer costs more than her reading the question, and a
  session admitted on a quiet minute's cost would overload a busy one); `prior_cores` until the node has carried
  `MIN_SESSION_S` session-seconds in a window.

A node carrying S sessions is predicted to use `others + idle + S x cost`, where `others` is what other processes
used over the window: its own sessions count at what a session costs once under way, not at what they used over the
window (some were admitted during it, and a session's first seconds cost less), so a slot's candidates arriving
together are counted in full at once. It admits another session while one more cost fits the usable cores.

A worker of a node of several processes shares the cores with its siblings: what they use is taken out of `others`
and what they are predicted to use (their reports, under a second old) put in, so a slot's candidates placed on two
workers at once are counted by both.
"""

from __future__ import annotations

import collections
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.ops.thread_cpu import CLOCK_TICKS

SAMPLE_S = 1.0
WINDOW_S = 30.0
COST_MEMORY_S = 300.0
MIN_SESSION_S = 60.0  # session-seconds in a window before its cost per session counts (two sessions for 30 s)
IDLE_SMOOTHING = 0.2  # each window with no session moves the idle estimate this far towards it
MIN_COST_CORES = 0.01  # a session costs at least this, whatever the subtraction of idle use leaves

_CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CpuInterval:
    """One `SAMPLE_S` between two reads of the counters."""

    at: float  # monotonic seconds at its end
    seconds: float
    busy_cores: float  # used on the node's cores, by every process
    own_cores: float  # used by this process
    sessions: int  # carried at its end


@dataclass(frozen=True)
class SiblingCpu:
    """What a sibling worker reported: the cores it used over its window, and those it is predicted to use."""

    own_cores: float
    demand_cores: float


@dataclass(frozen=True)
class CpuReading:
    usable_cores: float
    busy_cores: float  # mean over the window
    own_cores: float  # mean over the window
    others_cores: float  # what other processes use: the window's median, so a passing spike (a process starting) does not count
    demand_cores: float  # what this process is predicted to use with the sessions it carries
    session_cost_cores: float  # what one more session is expected to use
    measured: bool  # the cost is this node's own measurement, not the prior
    capacity: int  # sessions the usable cores carry at that cost, counting those carried now


class CpuHeadroom:
    """Call `sample(now, sessions)` about every `SAMPLE_S`; `reading(sessions)` and `admits(sessions)` say how many
    sessions fit."""

    def __init__(
        self,
        cores: float,
        share: float,
        prior_cores: float,
        *,
        busy_s: Callable[[], float],
        own_s: Callable[[], float],
        siblings: Callable[[], list[SiblingCpu]] = list,
    ) -> None:
        self.usable_cores = cores * share
        self._siblings = siblings
        self.prior_cores = prior_cores
        self._busy_s = busy_s
        self._own_s = own_s
        self._intervals: collections.deque[CpuInterval] = collections.deque(maxlen=round(WINDOW_S / SAMPLE_S))
        self._costs: collections.deque[tuple[float, float]] = collections.deque(maxlen=round(COST_MEMORY_S / SAMPLE_S) + 1)
        self._idle_cores: float | None = None
        self._last: tuple[float, float, float] | None = None  # when, busy and own seconds at the last read

    def sample(self, now: float, sessions: int) -> None:
        """Reads the counters if `SAMPLE_S` has passed since the last read."""
        if self._last is not None and now < self._last[0] + SAMPLE_S:
            return
        busy, own = self._busy_s(), self._own_s()
        last, self._last = self._last, (now, busy, own)
        if last is None:
            return
        seconds = now - last[0]
        self._intervals.append(CpuInterval(now, seconds, (busy - last[1]) / seconds, (own - last[2]) / seconds, sessions))
        if sum(i.seconds for i in self._intervals) < WINDOW_S / 2:
            return
        carried = sum(i.sessions * i.seconds for i in self._intervals)
        if carried == 0:
            quiet = statistics.median_high(i.own_cores for i in self._intervals)  # not the moments it loaded a model or wrote a report
            idle = self._idle_cores
            self._idle_cores = quiet if idle is None else idle + IDLE_SMOOTHING * (quiet - idle)
        elif carried >= MIN_SESSION_S:
            own_s = sum(i.own_cores * i.seconds for i in self._intervals)
            span = sum(i.seconds for i in self._intervals)
            self._costs.append((now, max(0.0, own_s - (self._idle_cores or 0.0) * span) / carried))
        while self._costs and self._costs[0][0] < now - COST_MEMORY_S:
            self._costs.popleft()

    def session_cost(self) -> tuple[float, bool]:
        if self._costs:
            return max(MIN_COST_CORES, *(cost for _, cost in self._costs)), True
        return max(MIN_COST_CORES, self.prior_cores), False

    def reading(self, sessions: int) -> CpuReading:
        cost, measured = self.session_cost()
        span = sum(i.seconds for i in self._intervals)
        busy = sum(i.busy_cores * i.seconds for i in self._intervals) / span if span else 0.0
        own = sum(i.own_cores * i.seconds for i in self._intervals) / span if span else 0.0
        others = statistics.median_high(max(0.0, i.busy_cores - i.own_cores) for i in self._intervals) if self._intervals else 0.0
        siblings = self._siblings()
        if siblings:
            others = max(0.0, others - sum(s.own_cores for s in siblings)) + sum(s.demand_cores for s in siblings)
        demand = (self._idle_cores or 0.0) + sessions * cost
        capacity = sessions + max(0, int((self.usable_cores - others - demand) / cost))
        return CpuReading(self.usable_cores, busy, own, others, demand, cost, measured, capacity)

    def admits(self, sessions: int) -> bool:
        """Whether one more session fits the usable cores, with those carried now."""
        return sessions < self.reading(sessions).capacity


# Reading the machine.


def _cgroup_dir() -> Path | None:
    """This process's cgroup v2 directory, if the unified hierarchy is mounted where it usually is."""
    if not (_CGROUP_ROOT / "cgroup.controllers").is_file():
        return None
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return _CGROUP_ROOT / line[3:].lstrip("/")
    except OSError:
        return None
    return None


def _cgroup_quota_cores(directory: Path) -> float | None:
    try:
        quota, period = (directory / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _cgroup_usage_s(directory: Path) -> float:
    for line in (directory / "cpu.stat").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec":
            return int(value) / 1e6
    raise OSError(f"no usage_usec in {directory / 'cpu.stat'}")


def _proc_stat_busy_s(cpus: frozenset[int]) -> float:
    """CPU seconds not idle (nor waiting for I/O) on `cpus` since boot; time stolen by a hypervisor counts as busy."""
    busy = 0
    with open("/proc/stat", "rb") as stat:
        for line in stat:
            if not line.startswith(b"cpu") or line[3:4] == b" ":
                continue
            name, *fields = line.split()
            if int(name[3:]) not in cpus:
                continue
            values = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            busy += sum(values) - values[3] - values[4]
    return busy / CLOCK_TICKS


def _own_s() -> float:
    times = os.times()
    return times.user + times.system


def machine_headroom(share: float, prior_cores: float, siblings: Callable[[], list[SiblingCpu]] = list) -> CpuHeadroom | None:
    """A headroom reading this machine: None where neither /proc/stat nor a cgroup tells how busy its cores are."""
    try:
        cpus = frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    cgroup = _cgroup_dir()
    quota = _cgroup_quota_cores(cgroup) if cgroup is not None else None
    if cgroup is not None and quota is not None and quota < len(cpus):
        try:
            _cgroup_usage_s(cgroup)
        except (OSError, ValueError):
            return None
        where = cgroup
        return CpuHeadroom(quota, share, prior_cores, busy_s=lambda: _cgroup_usage_s(where), own_s=_own_s, siblings=siblings)
    try:
        _proc_stat_busy_s(cpus)
    except (OSError, ValueError):
        return None
    return CpuHeadroom(len(cpus), share, prior_cores, busy_s=lambda: _proc_stat_busy_s(cpus), own_s=_own_s, siblings=siblings)
