"""Whose turn it is to write a SQLite database: one writer at a time per file, the others queued, woken as it finishes.

SQLite lets one connection write at a time and makes the others wait in its busy handler, which polls: it sleeps 1, 2,
5, 10 ... up to 100 ms between tries, so a writer that finds the file locked often sleeps on after it is free. A node
has several connections on one file (the interview store, the webhook deliveries, bookings, write-backs, WeChat
consents), and under load they kept finding each other's lock: in the webhook bench the two connections of its node
slept in that handler 30 % of the time each while the event loop sat idle. So the connections of one file take turns
here before they write: in this process in the order they asked (an asyncio lock), and across processes on one file
(`serve --workers N`, nodes on a shared volume) through an `flock` on a file beside the database, which wakes the next
waiter as soon as it is released. SQLite's own locking still decides what is safe; this only decides who goes next.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import weakref
from pathlib import Path
from types import TracebackType

LOCK_SUFFIX = "-writer.lock"  # holds nothing: its lock is the turn


class WriterTurn:
    """`async with turn:` around every write (a statement on its own or a whole transaction) on connections to one file."""

    def __init__(self, database: Path) -> None:
        self._in_process = asyncio.Lock()
        self._fd = os.open(database.with_name(database.name + LOCK_SUFFIX), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        weakref.finalize(self, os.close, self._fd)

    async def __aenter__(self) -> None:
        await self._in_process.acquire()
        try:
            await self._lock_file()
        except BaseException:
            self._in_process.release()
            raise

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._in_process.release()

    async def _lock_file(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # no other process writing: a system call, no thread
            return
        except BlockingIOError:
            pass
        fd = self._fd
        waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread cannot be stopped: once it has the lock, give it back, or the other processes wait for ever.
            waiting.add_done_callback(lambda done: _unlock_if_locked(fd, done))
            raise


def _unlock_if_locked(fd: int, done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is None:
        fcntl.flock(fd, fcntl.LOCK_UN)


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Path, WriterTurn]] = weakref.WeakKeyDictionary()


def writer_turn(database: Path) -> WriterTurn:
    """The turn of `database` shared by every connection to it on the running loop."""
    by_file = _turns.setdefault(asyncio.get_running_loop(), {})
    key = database.resolve()
    turn = by_file.get(key)
    if turn is None:
        turn = by_file[key] = WriterTurn(key)
    return turn
