"""The end-to-end tier: whole-product stories through the real binaries; slow, opt-in, last.

Every test is checked for asyncio tasks it leaves behind (:func:`tests.conftest.no_leftover_tasks`).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _leak_checked(no_leftover_tasks: None) -> None:
    """Apply the task-leak check to every end-to-end test."""
