"""Long-lived coroutines run as named tasks whose crash is logged the moment it happens.

A task that dies with an exception nobody awaits yet would otherwise stay silent until shutdown.
:func:`guard` adds a done-callback that logs the crash at once (the exception still propagates to
whoever awaits the task, e.g. a ``TaskGroup``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _log_crash(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.error("task %s crashed: %r", task.get_name(), exc, exc_info=exc)


def guard(task: asyncio.Task[T]) -> asyncio.Task[T]:
    """Log ``task``'s crash as soon as it happens; returns ``task``."""
    task.add_done_callback(_log_crash)
    return task


def start_task(coro: Coroutine[Any, Any, T], *, name: str, group: asyncio.TaskGroup | None = None) -> asyncio.Task[T]:
    """Start ``coro`` as a named, guarded task, in ``group`` when given."""
    task = group.create_task(coro, name=name) if group is not None else asyncio.create_task(coro, name=name)
    return guard(task)


async def cancel_and_wait(*tasks: asyncio.Task[Any], timeout: float | None = None) -> list[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait until every one has finished (their errors are already logged).

    With ``timeout``, wait at most that long and return the tasks still running: a task deaf to
    its cancel must not hold up its caller for ever (a pod's termination, say).
    """
    for task in tasks:
        task.cancel()
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in done:
        if not task.cancelled():
            task.exception()  # retrieved: nobody is warned about an exception that was logged already
    return list(pending)
