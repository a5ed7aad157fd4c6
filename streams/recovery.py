"""Table recovery that knows changelogs are written in transactions.

A transactional changelog partition ends in a commit marker, a record no consumer ever returns. faust's
recovery waits until it has applied the record at the partition's end offset minus one, which is that
marker (faust handles this only when it runs transactions itself, and only after two 5-second timeouts).
Here a partition also counts as recovered once the consumer's position reached its end *and* recovery has
seen the last record the consumer delivered for it: whatever is left is markers and aborted writes, which
``read_committed`` skips.
"""

from __future__ import annotations

from typing import Any

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery


class CommittedRecovery(Recovery):
    """faust's recovery, finished by position rather than by the last offset returned."""

    def active_remaining(self) -> Any:
        return self._past_markers(super().active_remaining(), self.active_offsets)

    def standby_remaining(self) -> Any:
        return self._past_markers(super().standby_remaining(), self.standby_offsets)

    def _past_markers(self, remaining: Any, applied: Any) -> Any:
        consumer: Any = self.app.consumer
        fetch_state = getattr(consumer, "fetch_state", None)
        if fetch_state is None:
            return remaining
        delivered = consumer.last_delivered
        for tp, left in list(remaining.items()):
            if left > 0:
                state = fetch_state(tp)
                if state is not None and state.at_end and applied.get(tp, -1) >= delivered.get(tp, -1):
                    remaining[tp] = 0
        return remaining


class CommittedTableManager(TableManager):
    """faust's table manager with :class:`CommittedRecovery` (installed through the ``TableManager`` setting)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = CommittedRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
