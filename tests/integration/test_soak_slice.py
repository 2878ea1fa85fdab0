"""A bounded, fixed-seed slice of ``bench/soak.py``: writes valid and invalid, stalled watches, kill -9."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.soak import soak


@pytest.mark.timeout(180)
def test_soak_slice_keeps_every_acknowledged_write_and_nothing_invalid(tmp_path: Path) -> None:
    outcome = soak(tmp_path / "data", seconds=40, kill_every=12, seed=20261207)
    assert outcome.server_errors == []
    assert outcome.kills >= 2
    assert outcome.acknowledged > 100 and outcome.refused > 100
