"""Reading a child's answer from a pipe on the event loop, without a thread.

A shim, or the helper that makes a rootless network namespace, reports that it is ready (or why it
is not) with one line on a pipe; :func:`read_line` waits for it with ``loop.add_reader``.
"""

from __future__ import annotations

import asyncio
import os


async def read_line(fd: int) -> str:
    """Read up to the first newline (or EOF) from a pipe, without blocking the loop."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    data = bytearray()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        data.extend(chunk)
        if (not chunk or b"\n" in data) and not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
    return data.split(b"\n", 1)[0].decode(errors="replace")
