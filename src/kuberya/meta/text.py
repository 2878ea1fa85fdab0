"""Text that is safe to put in a log line or an error message."""

from __future__ import annotations

MAX_TEXT = 300
"""How much of a payload (a server's answer, a tool's output) an error message quotes."""


def truncate(text: str, limit: int = MAX_TEXT) -> str:
    """Cut ``text`` to ``limit`` characters, saying how much was left out.

    Payloads from servers and tools are truncated so one hostile or broken peer cannot flood a log.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more chars)"
