"""Waiting for something to become true: one sync and one async helper with the same semantics.

``check`` is called until it returns something truthy, which is returned. A check that is not
there yet may also say so by raising :data:`NOT_YET` (a failed ``assert``, a missing key or item,
JSON that does not parse yet); any other exception is a real failure and propagates at once.
When time runs out the test fails with what was waited for and the last value or exception seen,
so a timeout reads like the assertion it stands for.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

NOT_YET: tuple[type[Exception], ...] = (AssertionError, LookupError, ValueError, StopIteration)
"""Exceptions a check raises to mean "not yet" rather than "broken"."""


class _Attempts:
    """The last outcome of a check, for the message of a timeout."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what = what
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.last_value: object = None
        self.last_error: Exception | None = None
        self.count = 0

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def failure(self) -> AssertionError:
        if self.last_error is not None:
            last = f"last exception: {type(self.last_error).__name__}: {self.last_error}"
        else:
            last = f"last value: {self.last_value!r}"
        return AssertionError(
            f"timed out after {self.timeout:g}s ({self.count} attempts) waiting for {self.what}; {last}"
        )


def eventually(
    check: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.2, what: str = "the condition"
) -> T:
    """Call ``check`` every ``interval`` seconds until it returns something truthy; return that."""
    attempts = _Attempts(what, timeout)
    while True:
        attempts.count += 1
        try:
            value = check()
        except NOT_YET as exc:
            attempts.last_error = exc
        else:
            if value:
                return value
            attempts.last_value, attempts.last_error = value, None
        if attempts.expired():
            raise attempts.failure() from attempts.last_error
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str = "the condition",
) -> T:
    """:func:`eventually` inside the loop: ``check`` may be a plain or an async callable.

    ``interval=0`` yields to the loop between attempts without sleeping, for conditions that other
    tasks reach in a few turns of the loop (a fake clock keeps them from waiting on time).
    """
    attempts = _Attempts(what, timeout)
    while True:
        attempts.count += 1
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
        except NOT_YET as exc:
            attempts.last_error = exc
        else:
            if value:
                return value  # type: ignore[return-value]
            attempts.last_value, attempts.last_error = value, None
        if attempts.expired():
            raise attempts.failure() from attempts.last_error
        await asyncio.sleep(interval)
