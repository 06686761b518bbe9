"""The lean consumer's hand-off of a record (monitor.stream.consumer.hand_over), on plain asyncio.

It must behave as Faust's ``wait_first(delivery, suspend_flow.wait())`` does -- deliver, or
abandon a blocked delivery when the flow is suspended -- while running a delivery that does
not block inline, without a task. The whole consumer runs in the Kafka tests (stream e2e,
fault tests with kill, broker restart and rebalances under load).
"""

from __future__ import annotations

import asyncio

import mode
import pytest

from monitor.stream.consumer import hand_over


@pytest.fixture
def service() -> mode.Service:
    return mode.Service()


async def test_a_delivery_that_does_not_block_runs_inline_without_a_task(service: mode.Service) -> None:
    suspension = asyncio.Event()
    got: list[int] = []
    tasks: list[int] = []

    async def deliver(n: int) -> None:
        tasks.append(len(asyncio.all_tasks()))
        got.append(n)

    before = len(asyncio.all_tasks())
    for n in range(3):
        await hand_over(deliver(n), suspension, service.wait_first)
    assert got == [0, 1, 2]
    assert tasks == [before] * 3  # ran in the caller's task: no task per record


async def test_a_blocked_delivery_finishes_with_its_result_and_errors(service: mode.Service) -> None:
    suspension = asyncio.Event()
    ready = asyncio.get_running_loop().create_future()
    done: list[str] = []

    async def deliver() -> None:
        await asyncio.sleep(0)  # a bare yield
        value = await ready  # then a future
        done.append(value)

    job = asyncio.ensure_future(hand_over(deliver(), suspension, service.wait_first))
    await asyncio.sleep(0.01)
    assert not job.done()
    ready.set_result("delivered")
    await asyncio.wait_for(job, 1)
    assert done == ["delivered"]

    failing = asyncio.get_running_loop().create_future()

    async def deliver_error() -> None:
        await failing

    job = asyncio.ensure_future(hand_over(deliver_error(), suspension, service.wait_first))
    await asyncio.sleep(0.01)
    failing.set_exception(ValueError("queue broke"))
    with pytest.raises(ValueError, match="queue broke"):
        await asyncio.wait_for(job, 1)


async def test_a_blocked_delivery_is_abandoned_when_the_flow_is_suspended(service: mode.Service) -> None:
    suspension = asyncio.Event()
    never = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def deliver() -> None:
        try:
            await never  # e.g. a full stream buffer during a rebalance
            seen.append("delivered")
        except asyncio.CancelledError:
            seen.append("cancelled where it waited")
            raise
        finally:
            seen.append("cleaned up")

    job = asyncio.ensure_future(hand_over(deliver(), suspension, service.wait_first))
    await asyncio.sleep(0.01)
    suspension.set()
    await asyncio.wait_for(job, 1)  # returns: the record is abandoned, as Faust's race does
    await asyncio.sleep(0.01)
    assert seen == ["cancelled where it waited", "cleaned up"]
    assert never.cancelled()


async def test_while_suspended_the_delivery_goes_through_faust_race(service: mode.Service) -> None:
    suspension = asyncio.Event()
    suspension.set()
    started: list[bool] = []
    gate = asyncio.Event()

    async def deliver() -> None:
        started.append(True)
        await gate.wait()  # flow control stays closed while suspended

    await asyncio.wait_for(hand_over(deliver(), suspension, service.wait_first), 1)
    await asyncio.sleep(0.01)
    assert not gate.is_set()  # returned without the delivery finishing


async def test_a_delivery_cancelled_at_a_bare_yield_sees_the_cancellation(service: mode.Service) -> None:
    suspension = asyncio.Event()
    seen: list[str] = []

    async def deliver() -> None:
        try:
            for _ in range(100_000):
                await asyncio.sleep(0)  # bare yields only: no future to cancel
        except asyncio.CancelledError:
            seen.append("cancelled at the yield")
            raise

    job = asyncio.ensure_future(hand_over(deliver(), suspension, service.wait_first))
    await asyncio.sleep(0.01)
    suspension.set()
    await asyncio.wait_for(job, 1)
    assert seen == ["cancelled at the yield"]
