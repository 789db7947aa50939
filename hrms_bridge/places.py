"""A fixed number of places, taken first come first served, each taking or handing on in constant time.

asyncio.Semaphore would do, but on Python 3.11 every `acquire` and `locked` looks at each of its waiters: with a few
hundred webhook requests waiting for their endpoints' places that scan was 3 % of the dispatcher's time per request.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Places:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one place")
        self._free = size
        self._waiting: deque[asyncio.Future[None]] = deque()  # one that gives up leaves it

    async def take(self, within_s: float) -> bool:
        """One place, if one is free now or is handed on within `within_s` seconds; False if none was."""
        if self._free > 0:  # free places and waiters never coexist: a place given back goes to the first waiter
            self._free -= 1
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(within_s):
                await waiter
        except BaseException as exc:  # its time ran out, or its task was cancelled
            if waiter.done() and not waiter.cancelled():
                self.give_back()  # handed a place just as it gave up: the next one has it
            elif waiter in self._waiting:  # else a place given back meanwhile passed it over
                self._waiting.remove(waiter)
            if isinstance(exc, TimeoutError):
                return False
            raise
        return True

    def give_back(self) -> None:
        """A place taken is free again: the longest waiting has it, else it is free."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # done: cancelled (it gave up), its task not yet told
                waiter.set_result(None)
                return
        self._free += 1
