"""A fixed number of places, taken first come first served, each taking or handing on in constant time.

asyncio.Semaphore would do, but on Python 3.11 every `acquire` and `locked` looks at each of its waiters: with a few
hundred webhook requests waiting for their endpoints' places that scan was 3 % of the dispatcher's time per request. A
wait with a limit is a timer on the loop, not `asyncio.timeout` (a further 2 %).
"""

from __future__ import annotations

import asyncio
from collections import deque


class Places:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one place")
        self._free = size
        # Futures of those waiting, first come first: True once handed a place, False when their time ran out.
        self._waiting: deque[asyncio.Future[bool]] = deque()

    async def take(self, within_s: float | None = None) -> bool:
        """One place, if one is free now or is handed on within `within_s` seconds (None: however long that takes);
        False if none was. Every place taken is given back (`give_back`)."""
        if self._free > 0:  # free places and waiters never coexist: a place given back goes to the first waiter
            self._free -= 1
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(waiter)
        expiry = None if within_s is None else loop.call_later(within_s, self._expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.give_back()  # handed a place just as it was cancelled: the next one has it
            elif waiter in self._waiting:  # (a place given back meanwhile may have passed it over already)
                self._waiting.remove(waiter)
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    def give_back(self) -> None:
        """A place taken is free again: the longest waiting has it, else it is free."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # done: cancelled, its task not told yet
                waiter.set_result(True)
                return
        self._free += 1

    def _expire(self, waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            waiter.set_result(False)
            self._waiting.remove(waiter)  # rare (a place not free for the whole wait): a scan is fine
