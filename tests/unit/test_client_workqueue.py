import asyncio

from kuberya.client import ExponentialBackoff, FakeClock, WorkQueue, run_workers


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_waiting_key_is_queued_once() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    for key in ("a", "b", "a", "a", "b"):
        q.add(key)
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"
    assert len(q) == 0


async def test_a_key_added_while_processing_waits_for_done() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    q.add("a")
    assert await q.get() == "a"
    q.add("a")
    q.add("a")
    assert len(q) == 0, "never handed to a second worker while the first holds it"
    q.done("a")
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_get_waits_for_add_and_shutdown_releases_waiters() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    assert await getter == "x"
    waiting = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.shutdown()
    assert await asyncio.gather(*waiting) == [None, None, None]
    q.add("y")
    assert await q.get() is None


async def test_queued_keys_drain_after_shutdown() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    q.add("a")
    q.shutdown()
    assert await q.get() == "a"
    assert await q.get() is None


async def test_a_cancelled_getter_does_not_swallow_a_key() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.add("a")
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert await asyncio.wait_for(second, 1) == "a"


async def test_add_after_fires_on_the_clock_and_the_earliest_wins() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 10)
    q.add_after("a", 3)
    q.add_after("a", 20)
    clock.advance(2.9)
    assert len(q) == 0
    clock.advance(0.1)
    assert len(q) == 1
    assert clock.pending == 0, "the later delays were dropped"
    q.add_after("b", 0)
    assert len(q) == 2


def test_backoff_doubles_per_key_until_the_cap_and_forget_resets() -> None:
    b: ExponentialBackoff[str] = ExponentialBackoff(base=0.005, cap=0.04)
    assert [b.when("k") for _ in range(6)] == [0.005, 0.01, 0.02, 0.04, 0.04, 0.04]
    assert b.when("other") == 0.005
    assert b.retries("k") == 6
    b.forget("k")
    assert b.when("k") == 0.005


def test_default_backoff_is_5ms_to_1000s() -> None:
    b: ExponentialBackoff[str] = ExponentialBackoff()
    delays = [b.when("k") for _ in range(100)]
    assert delays[0] == 0.005
    assert delays[-1] == 1000.0


async def test_add_rate_limited_uses_the_keys_backoff() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_rate_limited("a")
    clock.advance(0.004)
    assert len(q) == 0
    clock.advance(0.001)
    assert await q.get() == "a"
    q.done("a")
    q.add_rate_limited("a")  # second failure: 10 ms
    clock.advance(0.009)
    assert len(q) == 0
    clock.advance(0.001)
    assert len(q) == 1
    q.forget("a")
    assert q.retries("a") == 0


async def test_shutdown_cancels_delayed_keys() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 1)
    q.shutdown()
    clock.advance(5)
    assert len(q) == 0


async def test_run_workers_forgets_on_success_and_retries_failures_rate_limited() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    calls: list[str] = []
    failures = {"bad": 2}

    async def sync(key: str) -> None:
        calls.append(key)
        if failures.get(key, 0) > 0:
            failures[key] -= 1
            raise RuntimeError("boom")

    runner = asyncio.create_task(run_workers(q, sync, workers=2, name="test"))
    q.add("good")
    q.add("bad")
    await settle()
    assert sorted(calls) == ["bad", "good"]
    assert q.retries("good") == 0
    assert q.retries("bad") == 1
    clock.advance(0.005)
    await settle()
    assert calls.count("bad") == 2
    clock.advance(0.009)
    await settle()
    assert calls.count("bad") == 2, "second retry waits 10 ms"
    clock.advance(0.001)
    await settle()
    assert calls.count("bad") == 3
    assert q.retries("bad") == 0, "forgotten after the success"
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert q.shutting_down


async def test_run_workers_never_runs_one_key_twice_at_once() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    running: set[str] = set()
    overlaps: list[str] = []
    release = asyncio.Event()
    seen = 0

    async def sync(key: str) -> None:
        nonlocal seen
        if key in running:
            overlaps.append(key)
        running.add(key)
        seen += 1
        await release.wait()
        running.discard(key)

    runner = asyncio.create_task(run_workers(q, sync, workers=4))
    q.add("k")
    await settle()
    q.add("k")  # while the first sync holds it
    await settle()
    assert seen == 1
    release.set()
    await settle()
    assert seen == 2
    assert overlaps == []
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def test_fake_clock_sleep_wakes_on_advance() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(5))
    await settle()
    assert clock.pending == 1
    clock.advance(4)
    await settle()
    assert not sleeper.done()
    clock.advance(1)
    await settle()
    assert sleeper.done()
