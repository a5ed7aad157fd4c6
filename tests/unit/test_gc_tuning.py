"""The pipeline processes' collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from orderstream import gc_tuning


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_tune_freezes_what_is_alive_and_raises_the_thresholds() -> None:
    survivor = [object() for _ in range(10)]
    gc.unfreeze()
    gc_tuning.tune()
    assert gc.get_threshold() == gc_tuning.THRESHOLDS
    assert gc.get_freeze_count() > len(survivor)
    assert gc.is_tracked(survivor)
    assert survivor not in gc.get_objects()  # frozen objects are out of every generation the collector scans
