"""Errors of the natural-language operator: each one says what happened and what to do next.

Every error carries ``suggestions`` — requests the operator *does* understand, in the user's
language — so that the CLI can turn a refusal into a lesson ("try: payment 3개로 늘려줘").
None of them ever means something was changed: parsing and planning are pure.
"""

from __future__ import annotations


class NLError(Exception):
    """Base of every error the parser, the planner and the LLM fallback raise."""

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions: list[str] = list(suggestions or [])

    def __str__(self) -> str:
        return self.message


class NotUnderstood(NLError):
    """The text is not a request the operator knows how to read (no intent, or a missing part)."""


class Ambiguous(NLError):
    """The text reads as more than one request (two apps, two actions): nothing is guessed."""


class CannotPlan(NLError):
    """The request was understood but the cluster's state makes it impossible (scale a missing app)."""


class LLMError(NLError):
    """The optional LLM fallback failed: unreachable, refused, or answered something invalid."""
