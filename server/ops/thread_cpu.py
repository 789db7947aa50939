"""CPU time of this process by thread role: where a node's cores go (event loop, decoders, each model).

Read from /proc/self/task at scrape time (on a worker thread: about 20 µs a thread), so it costs nothing between
scrapes. A Python thread's role is its name without the pool's index (`transcribe_1` -> `transcribe`, aiortc's
`video-decoder`), the main thread's is `event-loop`; `other` is what the process used outside live Python threads
(native threads, the interpreter before the loop started) and the last moments of threads that ended between two
reads. An ended thread's time stays with its role, so every role's total only grows.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_POOL_INDEX = re.compile(r"_\d+$")
_TASKS = Path("/proc/self/task")


def thread_role(name: str) -> str:
    """`infer-vad_0` -> `infer-vad`, `MainThread` -> `event-loop`, `Thread-3 (work)` -> `work`."""
    if name == "MainThread":
        return "event-loop"
    if name.startswith("Thread-") and name.endswith(")") and " (" in name:
        return name[name.index(" (") + 2 : -1]
    return _POOL_INDEX.sub("", name)


def _cpu_seconds(stat_path: Path) -> float | None:
    """utime + stime of a /proc stat file; None if the thread or process is gone."""
    try:
        with open(stat_path, "rb") as stat:
            raw = stat.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields that count come after the last ')'.
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class ThreadCpu:
    """Cumulative CPU seconds by role; call `read()` whenever a figure is wanted (not thread-safe: one reader)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[str, float]] = {}  # native thread id -> (role, CPU seconds when last read)
        self._retired: dict[str, float] = {}  # role -> CPU seconds of its threads that ended

    @staticmethod
    def available() -> bool:
        return _TASKS.is_dir()

    def read(self) -> dict[str, float]:
        live: dict[int, tuple[str, float]] = {}
        for thread in threading.enumerate():
            tid = thread.native_id
            if tid is None:
                continue
            seconds = _cpu_seconds(_TASKS / str(tid) / "stat")
            if seconds is not None:
                live[tid] = (thread_role(thread.name), seconds)
        for tid, (role, seconds) in self._seen.items():
            now = live.get(tid)
            # Gone, or its id taken by a new thread since the last read.
            if now is None or now[0] != role or now[1] < seconds:
                self._retired[role] = self._retired.get(role, 0.0) + seconds
        self._seen = live
        totals = dict(self._retired)
        for role, seconds in live.values():
            totals[role] = totals.get(role, 0.0) + seconds
        process = _cpu_seconds(Path("/proc/self/stat"))
        if process is not None:
            totals["other"] = max(0.0, process - sum(totals.values()))
        return totals
