"""The unit tier: one module at a time, no processes or sockets, a fake clock instead of sleeping.

Every test here is checked for asyncio tasks it leaves behind (the shared
:func:`tests.conftest.no_leftover_tasks`): a controller, informer or workqueue a test started must
be stopped by the same test.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _leak_checked(no_leftover_tasks: None) -> None:
    """Apply the task-leak check to every unit test."""
