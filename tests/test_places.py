"""The dispatcher's per-endpoint places: first come first served, and none lost when a waiter gives up."""

from __future__ import annotations

import asyncio

import pytest

from hrms_bridge.places import Places


async def test_places_go_to_waiters_in_the_order_they_came() -> None:
    places = Places(2)
    assert await places.take(within_s=0) and await places.take(within_s=0)
    order: list[int] = []

    async def wait(n: int) -> None:
        assert await places.take()  # however long it takes
        order.append(n)

    waiters = [asyncio.create_task(wait(n)) for n in range(4)]
    await asyncio.sleep(0)  # all four are waiting
    for _ in range(4):
        places.give_back()
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2, 3]


async def test_a_waiter_whose_time_runs_out_gets_no_place_and_takes_none_from_the_others() -> None:
    places = Places(1)
    assert await places.take(within_s=0)
    assert not await places.take(within_s=0.01)
    places.give_back()
    assert await places.take(within_s=0), "the place given back is free, not kept for the waiter that left"
    assert not await places.take(within_s=0)


async def two_waiting() -> tuple[Places, asyncio.Task[bool], asyncio.Task[bool]]:
    """One place, taken; two tasks waiting for it, in that order."""
    places = Places(1)
    assert await places.take(within_s=0)
    first = asyncio.create_task(places.take(within_s=10))
    second = asyncio.create_task(places.take(within_s=10))
    await asyncio.sleep(0)
    return places, first, second


async def test_a_place_handed_to_a_waiter_cancelled_at_that_moment_goes_to_the_next() -> None:
    places, first, second = await two_waiting()
    first.cancel()  # its future is cancelled now; its task hears of it only at its next step
    places.give_back()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second, "the place went past the cancelled waiter"
    places.give_back()
    assert await places.take(within_s=0) and not await places.take(within_s=0), "one place, still one"


async def test_a_waiter_handed_a_place_as_it_is_cancelled_hands_it_on() -> None:
    places, first, second = await two_waiting()
    places.give_back()  # the first waiter has the place ...
    first.cancel()  # ... and is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second
    assert not await places.take(within_s=0)


def test_there_is_at_least_one_place() -> None:
    with pytest.raises(ValueError):
        Places(0)
